//! Politeness per host, across every session: a least delay between two
//! requests to one host (with optional jitter), pauses asked for by
//! `Retry-After`, and an adaptive mode (AutoThrottle-like) that widens the
//! delay on 429/503 and eases it back on success.
//!
//! A request reserves its turn before it takes a slot under the global cap,
//! so a host that must be waited for holds no slot that another host could
//! use; just before it is written, a last check keeps actual sends to a host
//! the delay apart even when one was held up after its turn.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::pool::HostKey;

/// The adaptive delay starts here when a host first pushes back.
const ADAPTIVE_FLOOR: Duration = Duration::from_millis(100);
/// ...and never grows past this.
const ADAPTIVE_CEILING: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Politeness {
    delay: Duration,
    jitter: f64,
    adaptive: bool,
    /// Whether any host has a delay or a pause: if not, requests go at once.
    active: AtomicBool,
    hosts: Mutex<HashMap<HostKey, Turns>>,
}

#[derive(Debug)]
struct Turns {
    /// The earliest start of the next request to this host.
    next: Instant,
    /// This host's current delay (adaptive mode may widen it).
    delay: Duration,
    /// When the last request to this host was actually sent.
    last_send: Option<Instant>,
}

impl Politeness {
    pub(crate) fn new(delay: Duration, jitter: f64, adaptive: bool) -> Self {
        Self {
            delay,
            jitter,
            adaptive,
            active: AtomicBool::new(!delay.is_zero()),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this request's turn at `key`.
    pub(crate) async fn wait_turn(&self, key: &HostKey) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let start = {
            let mut hosts = self.hosts.lock().expect("politeness lock");
            let now = Instant::now();
            let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns(now));
            let start = turns.next.max(now);
            turns.next = start + self.with_jitter(turns.delay);
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// Holds every request to `key` until `until` (a `Retry-After`).
    pub(crate) fn pause(&self, key: &HostKey, until: Instant) {
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts
            .entry(key.clone())
            .or_insert_with(|| self.turns(until));
        turns.next = turns.next.max(until);
    }

    /// Adaptive mode: learns from a response's status.
    pub(crate) fn observe(&self, key: &HostKey, status: u16) {
        if !self.adaptive {
            return;
        }
        let push_back = matches!(status, 429 | 503);
        if !push_back && !self.active.load(Ordering::Relaxed) {
            return;
        }
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts
            .entry(key.clone())
            .or_insert_with(|| self.turns(Instant::now()));
        turns.delay = if push_back {
            (turns.delay * 2).clamp(ADAPTIVE_FLOOR, ADAPTIVE_CEILING)
        } else {
            // Ease back by a tenth per success, down to the configured delay.
            turns.delay.mul_f64(0.9).max(self.delay)
        };
    }

    /// Called just before a request to `key` is written: a request whose
    /// turn came but whose sending was held up (by the global cap, or a busy
    /// thread) must not then go out right after the next one. Keeps sends
    /// at least the host's delay apart, whatever happened in between.
    pub(crate) async fn before_send(&self, key: &HostKey) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        loop {
            let wait = {
                let mut hosts = self.hosts.lock().expect("politeness lock");
                let now = Instant::now();
                let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns(now));
                match turns.last_send {
                    Some(last) if now < last + turns.delay => last + turns.delay - now,
                    _ => {
                        turns.last_send = Some(now);
                        return;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn turns(&self, next: Instant) -> Turns {
        Turns {
            next,
            delay: self.delay,
            last_send: None,
        }
    }

    fn with_jitter(&self, delay: Duration) -> Duration {
        if self.jitter <= 0.0 || delay.is_zero() {
            return delay;
        }
        delay + delay.mul_f64(self.jitter * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HostKey {
        HostKey::from_uri(&"http://example.com/".parse().unwrap()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn turns_are_spaced_by_the_delay() {
        let polite = Politeness::new(Duration::from_millis(100), 0.0, false);
        let started = Instant::now();
        for _ in 0..3 {
            polite.wait_turn(&key()).await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_the_host() {
        let polite = Politeness::new(Duration::ZERO, 0.0, false);
        let started = Instant::now();
        polite.wait_turn(&key()).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        polite.pause(&key(), Instant::now() + Duration::from_secs(2));
        polite.wait_turn(&key()).await;
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[test]
    fn adaptive_delay_doubles_on_push_back_and_eases_on_success() {
        let polite = Politeness::new(Duration::ZERO, 0.0, true);
        polite.observe(&key(), 503);
        polite.observe(&key(), 429);
        let delay = |p: &Politeness| p.hosts.lock().unwrap()[&key()].delay;
        assert_eq!(delay(&polite), Duration::from_millis(200));
        polite.observe(&key(), 200);
        assert_eq!(delay(&polite), Duration::from_millis(180));
    }
}
