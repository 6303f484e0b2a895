//! Politeness per host, across every session: a least delay between two
//! requests to one host (with optional jitter, and raised by a robots.txt
//! `Crawl-delay`), pauses asked for by `Retry-After`, and an adaptive mode
//! (Scrapy's AutoThrottle) that sets the delay from the server's latency
//! and doubles it on 429/503.
//!
//! A request reserves its turn before it takes a slot under the global cap,
//! so a host that must be waited for holds no slot that another host could
//! use; just before it is written, a last check keeps actual sends to a host
//! the delay apart even when one was held up after its turn.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::pool::HostKey;

/// In adaptive mode, a host's first request goes alone: the next ones wait
/// for its answer (whose latency sets the delay), or this long at most.
const ADAPTIVE_START: Duration = Duration::from_secs(5);
/// The adaptive delay starts here when a host first pushes back.
const ADAPTIVE_FLOOR: Duration = Duration::from_millis(100);
/// ...and never grows past this.
const ADAPTIVE_CEILING: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Politeness {
    delay: Duration,
    jitter: f64,
    /// AutoThrottle's target concurrency, when adaptive.
    adaptive: Option<f64>,
    /// Whether any host has a delay or a pause: if not, requests go at once.
    active: AtomicBool,
    hosts: Mutex<HashMap<HostKey, Turns>>,
    /// Wakes waiting requests when a host's delay is first learnt.
    changed: Notify,
}

#[derive(Debug)]
struct Turns {
    /// When the last turn was given.
    last_turn: Option<Instant>,
    /// Jitter added to the delay before the next turn.
    extra: Duration,
    /// No turn before this (a `Retry-After`).
    paused_until: Option<Instant>,
    /// This host's current delay (adaptive mode may widen it).
    delay: Duration,
    /// The least delay for this host: the configured one, or its
    /// robots.txt `Crawl-delay` if longer.
    floor: Duration,
    /// Whether adaptive mode has seen an answer from this host yet.
    observed: bool,
    /// When the last request to this host was actually sent.
    last_send: Option<Instant>,
}

impl Turns {
    fn next_start(&self, adaptive: bool) -> Option<Instant> {
        let delay = if adaptive && !self.observed {
            ADAPTIVE_START
        } else {
            self.delay
        };
        let after_last = self.last_turn.map(|last| last + delay + self.extra);
        after_last.max(self.paused_until)
    }
}

impl Politeness {
    pub(crate) fn new(delay: Duration, jitter: f64, adaptive: Option<f64>) -> Self {
        Self {
            delay,
            jitter,
            adaptive,
            active: AtomicBool::new(!delay.is_zero() || adaptive.is_some()),
            hosts: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        }
    }

    /// Waits for this request's turn at `key`. Turns are not reserved in
    /// advance: a waiting request looks again whenever the host's delay
    /// changes, so a shorter delay learnt meanwhile applies at once.
    pub(crate) async fn wait_turn(&self, key: &HostKey) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        loop {
            let (start, changed) = {
                let mut hosts = self.hosts.lock().expect("politeness lock");
                let now = Instant::now();
                let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns());
                match turns.next_start(self.adaptive.is_some()) {
                    // Made under the lock, so no wake-up is missed.
                    Some(start) if start > now => (start, self.changed.notified()),
                    _ => {
                        turns.last_turn = Some(now);
                        turns.extra = self.jitter_for(turns.delay);
                        return;
                    }
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(start) => {}
                () = changed => {}
            }
        }
    }

    /// Holds every request to `key` until `until` (a `Retry-After`).
    pub(crate) fn pause(&self, key: &HostKey, until: Instant) {
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns());
        turns.paused_until = turns.paused_until.max(Some(until));
    }

    /// Raises the least delay for `key` (a robots.txt `Crawl-delay`).
    pub(crate) fn set_floor(&self, key: &HostKey, floor: Duration) {
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns());
        turns.floor = turns.floor.max(floor);
        turns.delay = turns.delay.max(floor);
    }

    /// Adaptive mode: learns from a response's status and latency (time to
    /// its headers), as Scrapy's AutoThrottle does.
    pub(crate) fn observe(&self, key: &HostKey, status: u16, latency: Duration) {
        let Some(target) = self.adaptive else {
            return;
        };
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns());
        let first = !turns.observed;
        turns.observed = true;
        let new = if matches!(status, 429 | 503) {
            (turns.delay * 2).max(ADAPTIVE_FLOOR)
        } else {
            // Aim at `target` requests in flight: one every latency/target.
            let aim = latency.div_f64(target);
            let new = if first {
                aim
            } else {
                ((turns.delay + aim) / 2).max(aim)
            };
            // A failure or redirect may not make the crawl faster.
            if !first && !(200..300).contains(&status) && new <= turns.delay {
                return;
            }
            new
        };
        turns.delay = new.clamp(turns.floor, ADAPTIVE_CEILING.max(turns.floor));
        if first {
            // Requests held back until this first answer may go now.
            self.changed.notify_waiters();
        }
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
                let turns = hosts.entry(key.clone()).or_insert_with(|| self.turns());
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

    fn turns(&self) -> Turns {
        Turns {
            last_turn: None,
            extra: Duration::ZERO,
            paused_until: None,
            delay: self.delay,
            floor: self.delay,
            observed: false,
            last_send: None,
        }
    }

    /// A random extra delay, up to `jitter` times `delay`.
    fn jitter_for(&self, delay: Duration) -> Duration {
        if self.jitter <= 0.0 || delay.is_zero() {
            return Duration::ZERO;
        }
        delay.mul_f64(self.jitter * fastrand::f64())
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
        let polite = Politeness::new(Duration::from_millis(100), 0.0, None);
        let started = Instant::now();
        for _ in 0..3 {
            polite.wait_turn(&key()).await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_the_host() {
        let polite = Politeness::new(Duration::ZERO, 0.0, None);
        let started = Instant::now();
        polite.wait_turn(&key()).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        polite.pause(&key(), Instant::now() + Duration::from_secs(2));
        polite.wait_turn(&key()).await;
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[test]
    fn adaptive_delay_follows_latency_and_doubles_on_push_back() {
        let ms = Duration::from_millis;
        let polite = Politeness::new(Duration::ZERO, 0.0, Some(2.0));
        let delay = |p: &Politeness| p.hosts.lock().unwrap()[&key()].delay;
        // Latency 400 ms at a target of 2 in flight: one request per 200 ms.
        polite.observe(&key(), 200, ms(400));
        assert_eq!(delay(&polite), ms(200));
        // Faster answers ease it down halfway each time...
        polite.observe(&key(), 200, ms(100));
        assert_eq!(delay(&polite), ms(125));
        // ...but an error may not.
        polite.observe(&key(), 500, ms(0));
        assert_eq!(delay(&polite), ms(125));
        polite.observe(&key(), 503, ms(10));
        polite.observe(&key(), 429, ms(10));
        assert_eq!(delay(&polite), ms(500));
        // A Crawl-delay is a floor.
        polite.set_floor(&key(), ms(700));
        polite.observe(&key(), 200, ms(1));
        assert_eq!(delay(&polite), ms(700));
    }

    #[tokio::test(start_paused = true)]
    async fn a_floor_spaces_turns() {
        let polite = Politeness::new(Duration::ZERO, 0.0, None);
        polite.set_floor(&key(), Duration::from_millis(300));
        let started = Instant::now();
        for _ in 0..3 {
            polite.wait_turn(&key()).await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(600));
    }
}
