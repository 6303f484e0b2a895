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
//!
//! A host's turns are shared fairly between the sessions (plugin runs) that
//! wait for it, as [`crate::fair`] shares the global cap: each session
//! waits in a queue of its own, and each turn goes to the next session with
//! a waiter, round robin. First come, first served would let a plugin that
//! queued 1,600 requests to a shared host (at 10 ms apart: 16 s of turns)
//! make another plugin's 50 pages wait behind all of them; shared in turn,
//! those 50 take about 100 turns.
//!
//! Only the waiter whose turn is next (the head) watches the clock; the
//! others sleep until they become the head, so a turn costs one wake-up,
//! not one per waiter.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
/// The per-host map is swept of entries that hold nothing (see
/// [`Turns::holds_state`]) whenever it reaches this size, or twice its size
/// after the last sweep: a plugin that asks for a million distinct hosts
/// must not leave a million entries behind.
const SWEEP_AT_LEAST: usize = 1024;
/// Far enough to mean "never" for a deadline, near enough not to overflow
/// an `Instant` (tokio uses the same for its own "never").
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + d`, or about 30 years from `at` when that would overflow. Delays and
/// timeouts come from configuration, guests and servers (`--per-host-delay
/// 1e19`, a `Retry-After`): `Instant + Duration` panics on overflow, and a
/// panic on the network path takes every plugin of the process down.
pub(crate) fn later<I: Moment>(at: I, d: Duration) -> I {
    at.plus(d).or_else(|| at.plus(FAR_FUTURE)).unwrap_or(at)
}

/// An instant that `later` can add to: std's and tokio's.
pub(crate) trait Moment: Copy {
    fn plus(self, d: Duration) -> Option<Self>;
}

impl Moment for Instant {
    fn plus(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

impl Moment for std::time::Instant {
    fn plus(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

#[derive(Debug)]
pub(crate) struct Politeness {
    delay: Duration,
    jitter: f64,
    /// AutoThrottle's target concurrency, when adaptive.
    adaptive: Option<f64>,
    /// Whether any host has a delay or a pause: if not, requests go at once.
    active: AtomicBool,
    hosts: Mutex<Hosts>,
    /// Wakes the waiting requests whose turn is next when a host's delay is
    /// first learnt.
    changed: Notify,
}

#[derive(Debug)]
struct Hosts {
    map: HashMap<HostKey, Turns>,
    /// Sweep the map when it reaches this size.
    sweep_at: usize,
    /// Numbers the waiters, so one can find itself in its queue.
    next_ticket: u64,
}

impl Hosts {
    /// Drops the entries that hold nothing, if the map has grown enough
    /// since the last sweep (so sweeping costs O(1) per new host).
    fn sweep_if_due(&mut self, now: Instant, polite: &Politeness) {
        if self.map.len() < self.sweep_at {
            return;
        }
        self.map.retain(|_, turns| turns.holds_state(now, polite));
        self.sweep_at = (self.map.len() * 2).max(SWEEP_AT_LEAST);
    }

    /// The entry of `key`, made if there is none.
    fn entry(&mut self, key: &HostKey, polite: &Politeness) -> &mut Turns {
        if !self.map.contains_key(key) {
            self.sweep_if_due(Instant::now(), polite);
        }
        self.map
            .entry(key.clone())
            .or_insert_with(|| polite.turns())
    }
}

/// A request waiting for its turn at a host.
#[derive(Debug)]
struct Waiter {
    ticket: u64,
    /// Woken when this waiter becomes the head.
    wake: Arc<Notify>,
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
    /// Requests waiting for a turn, by session id, each session's in the
    /// order they came; only sessions with waiters are present.
    waiting: BTreeMap<u64, VecDeque<Waiter>>,
    /// The session given the last turn, for round robin.
    last_session: u64,
}

impl Turns {
    fn next_start(&self, adaptive: bool) -> Option<Instant> {
        let delay = if adaptive && !self.observed {
            ADAPTIVE_START
        } else {
            self.delay
        };
        let after_last = self
            .last_turn
            .map(|last| later(later(last, delay), self.extra));
        after_last.max(self.paused_until)
    }

    /// The session and ticket of the waiter whose turn is next: the first
    /// waiter of the first session after the one served last, round robin.
    fn head(&self) -> Option<(u64, &Waiter)> {
        self.waiting
            .range(self.last_session.wrapping_add(1)..)
            .next()
            .or_else(|| self.waiting.iter().next())
            .and_then(|(&session, queue)| queue.front().map(|waiter| (session, waiter)))
    }

    fn is_head(&self, ticket: u64) -> bool {
        self.head()
            .is_some_and(|(_, waiter)| waiter.ticket == ticket)
    }

    /// Takes `ticket` out of `session`'s queue.
    fn remove(&mut self, session: u64, ticket: u64) {
        if let Some(queue) = self.waiting.get_mut(&session) {
            queue.retain(|waiter| waiter.ticket != ticket);
            if queue.is_empty() {
                self.waiting.remove(&session);
            }
        }
    }

    /// Lets the (new) head know that the next turn is its to wait for.
    fn wake_head(&self) {
        if let Some((_, waiter)) = self.head() {
            waiter.wake.notify_one();
        }
    }

    /// Whether this entry knows anything a fresh one would not: waiters, a
    /// pause, a `Crawl-delay`, a delay not yet over since the last turn or
    /// send, or (adaptive mode) a delay learnt from a host used lately.
    /// Entries that do not are dropped by the sweep: a fresh one made on
    /// the host's next request behaves the same.
    fn holds_state(&self, now: Instant, polite: &Politeness) -> bool {
        let adaptive = polite.adaptive.is_some();
        let recent =
            |at: Option<Instant>, within: Duration| at.is_some_and(|at| later(at, within) > now);
        !self.waiting.is_empty()
            || self.paused_until.is_some_and(|until| until > now)
            || self.floor > polite.delay
            || self.next_start(adaptive).is_some_and(|start| start > now)
            || recent(self.last_send, self.delay)
            || (adaptive
                && self.observed
                && recent(self.last_turn.max(self.last_send), ADAPTIVE_CEILING))
    }
}

/// A place in a host's queue; leaving it early (the request was cancelled:
/// its future dropped) gives the turn to the next waiter, so a cancelled
/// request neither takes a turn nor leaves its entry behind.
struct Place<'a> {
    politeness: &'a Politeness,
    key: &'a HostKey,
    session: u64,
    ticket: u64,
    /// The turn was taken: nothing to undo.
    done: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut hosts = self.politeness.hosts.lock().expect("politeness lock");
        if let Some(turns) = hosts.map.get_mut(self.key) {
            let was_head = turns.is_head(self.ticket);
            turns.remove(self.session, self.ticket);
            if was_head {
                turns.wake_head();
            }
        }
    }
}

impl Politeness {
    pub(crate) fn new(delay: Duration, jitter: f64, adaptive: Option<f64>) -> Self {
        Self {
            delay,
            jitter,
            adaptive,
            active: AtomicBool::new(!delay.is_zero() || adaptive.is_some()),
            hosts: Mutex::new(Hosts {
                map: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
                next_ticket: 0,
            }),
            changed: Notify::new(),
        }
    }

    /// Waits for this request's turn at `key`, for `session`. Turns go to
    /// the sessions waiting for `key` in turn (round robin), and to each
    /// session's requests in the order they came. Turns are not reserved in
    /// advance: the waiter whose turn is next looks again whenever the
    /// host's delay changes, so a shorter delay learnt meanwhile applies at
    /// once.
    pub(crate) async fn wait_turn(&self, key: &HostKey, session: u64) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let adaptive = self.adaptive.is_some();
        let wake = Arc::new(Notify::new());
        let ticket = {
            let mut hosts = self.hosts.lock().expect("politeness lock");
            let ticket = hosts.next_ticket;
            hosts.next_ticket = hosts.next_ticket.wrapping_add(1);
            let now = Instant::now();
            let turns = hosts.entry(key, self);
            // Nobody waiting and the delay is over: go at once. With
            // waiters, a newcomer queues even if the turn is due: the turn
            // is the head's.
            if turns.waiting.is_empty() && turns.next_start(adaptive).is_none_or(|s| s <= now) {
                self.take_turn(turns, session, now);
                return;
            }
            turns.waiting.entry(session).or_default().push_back(Waiter {
                ticket,
                wake: wake.clone(),
            });
            ticket
        };
        let mut place = Place {
            politeness: self,
            key,
            session,
            ticket,
            done: false,
        };
        loop {
            let due = {
                let mut hosts = self.hosts.lock().expect("politeness lock");
                let now = Instant::now();
                // An entry with waiters is never swept; should it be gone
                // anyway, there is nothing left to wait for.
                let Some(turns) = hosts.map.get_mut(key) else {
                    place.done = true;
                    return;
                };
                if !turns.is_head(ticket) {
                    None
                } else {
                    match turns.next_start(adaptive) {
                        // Made under the lock, so no wake-up is missed.
                        Some(start) if start > now => Some((start, self.changed.notified())),
                        _ => {
                            turns.remove(session, ticket);
                            self.take_turn(turns, session, now);
                            turns.wake_head();
                            place.done = true;
                            return;
                        }
                    }
                }
            };
            match due {
                // Not next: sleep until this waiter becomes the head. (A
                // wake-up sent meanwhile is kept by `notify_one`.)
                None => wake.notified().await,
                Some((start, changed)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(start) => {}
                        () = changed => {}
                        () = wake.notified() => {}
                    }
                }
            }
        }
    }

    /// Gives the turn at `turns` to `session`, now.
    fn take_turn(&self, turns: &mut Turns, session: u64, now: Instant) {
        turns.last_turn = Some(now);
        turns.extra = self.jitter_for(turns.delay);
        turns.last_session = session;
    }

    /// Holds every request to `key` until `until` (a `Retry-After`).
    pub(crate) fn pause(&self, key: &HostKey, until: Instant) {
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts.entry(key, self);
        turns.paused_until = turns.paused_until.max(Some(until));
    }

    /// Raises the least delay for `key` (a robots.txt `Crawl-delay`).
    pub(crate) fn set_floor(&self, key: &HostKey, floor: Duration) {
        self.active.store(true, Ordering::Relaxed);
        let mut hosts = self.hosts.lock().expect("politeness lock");
        let turns = hosts.entry(key, self);
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
        let turns = hosts.entry(key, self);
        let first = !turns.observed;
        turns.observed = true;
        let new = if matches!(status, 429 | 503) {
            turns.delay.saturating_mul(2).max(ADAPTIVE_FLOOR)
        } else {
            // Aim at `target` requests in flight: one every latency/target.
            // (Checked: a tiny target would overflow `Duration::div_f64`.)
            let aim = Duration::try_from_secs_f64(latency.as_secs_f64() / target)
                .unwrap_or(ADAPTIVE_CEILING);
            let new = if first {
                aim
            } else {
                (turns.delay.saturating_add(aim) / 2).max(aim)
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
                let turns = hosts.entry(key, self);
                match turns.last_send {
                    Some(last) if now < later(last, turns.delay) => later(last, turns.delay) - now,
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
            waiting: BTreeMap::new(),
            last_session: 0,
        }
    }

    /// A random extra delay, up to `jitter` times `delay`. (Checked: the
    /// delay is the operator's or a site's, and `Duration::mul_f64` panics
    /// past `Duration::MAX`.)
    fn jitter_for(&self, delay: Duration) -> Duration {
        if self.jitter <= 0.0 || delay.is_zero() {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(delay.as_secs_f64() * self.jitter * fastrand::f64())
            .unwrap_or(Duration::MAX)
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
            polite.wait_turn(&key(), 1).await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    /// Issue 15: under load, a request whose turn came but that was sent
    /// late let the next one go less than the delay after it. The gap is
    /// kept at sending: the next request waits for the late one's send.
    #[tokio::test(start_paused = true)]
    async fn a_request_sent_late_pushes_the_next_one_back() {
        let ms = Duration::from_millis;
        let polite = Politeness::new(ms(100), 0.0, None);
        let started = Instant::now();
        // A gets its turn at 0 but its thread is busy: it sends at 90 ms.
        polite.wait_turn(&key(), 1).await;
        tokio::time::sleep(ms(90)).await;
        polite.before_send(&key()).await;
        let a_sent = started.elapsed();
        // B's turn comes at 100 ms, only 10 ms after A went out: it must
        // wait until 100 ms after A's send.
        polite.wait_turn(&key(), 2).await;
        assert_eq!(started.elapsed(), ms(100));
        polite.before_send(&key()).await;
        let b_sent = started.elapsed();
        assert_eq!(a_sent, ms(90));
        assert_eq!(b_sent - a_sent, ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_the_host() {
        let polite = Politeness::new(Duration::ZERO, 0.0, None);
        let started = Instant::now();
        polite.wait_turn(&key(), 1).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        polite.pause(&key(), Instant::now() + Duration::from_secs(2));
        polite.wait_turn(&key(), 1).await;
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[test]
    fn adaptive_delay_follows_latency_and_doubles_on_push_back() {
        let ms = Duration::from_millis;
        let polite = Politeness::new(Duration::ZERO, 0.0, Some(2.0));
        let delay = |p: &Politeness| p.hosts.lock().unwrap().map[&key()].delay;
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
            polite.wait_turn(&key(), 1).await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(600));
    }

    /// Runs `waiters` requests of `session` for `key()`, each reporting its
    /// session on `order` when its turn comes.
    fn queue_up(
        polite: &Arc<Politeness>,
        session: u64,
        waiters: usize,
        order: &tokio::sync::mpsc::UnboundedSender<u64>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..waiters)
            .map(|_| {
                let (polite, order) = (polite.clone(), order.clone());
                tokio::spawn(async move {
                    polite.wait_turn(&key(), session).await;
                    order.send(session).unwrap();
                })
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn turns_alternate_between_sessions_waiting_for_a_host() {
        let delay = Duration::from_millis(10);
        let polite = Arc::new(Politeness::new(delay, 0.0, None));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Session 1 queues 1,600 requests to the host...
        let mut tasks = queue_up(&polite, 1, 1600, &tx);
        // ...and has had 20 turns when session 2 comes with 50.
        tokio::time::sleep(delay * 20 - delay / 2).await;
        let before: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(before, vec![1; 20], "{before:?}");
        tasks.extend(queue_up(&polite, 2, 50, &tx));
        let started = Instant::now();
        for task in tasks {
            task.await.unwrap();
        }
        drop(tx);
        let after: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(after.len(), 1600 - 20 + 50);
        // Session 2's 50 turns all came within its first 100 turns: every
        // other one.
        let last_of_2 = after.iter().rposition(|&s| s == 2).unwrap();
        assert!(last_of_2 < 100, "session 2's last turn was #{last_of_2}");
        for pair in after[..100].chunks(2) {
            assert!(
                pair.contains(&1) && pair.contains(&2),
                "{:?}",
                &after[..100]
            );
        }
        // The delay held throughout: one turn per 10 ms, the first of them
        // 5 ms after session 2 came.
        assert_eq!(started.elapsed(), delay * (1600 - 20 + 50 - 1) + delay / 2);
        assert!(polite.hosts.lock().unwrap().map[&key()].waiting.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_loses_no_turn_and_leaves_nothing_behind() {
        let delay = Duration::from_millis(100);
        let polite = Arc::new(Politeness::new(delay, 0.0, None));
        let started = Instant::now();
        polite.wait_turn(&key(), 3).await; // t = 0: no one waits
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Session 1 is next (round robin after 3: 1, then 2); its first
        // waiter (the head, due at 100 ms) and a later one of session 2 are
        // cancelled.
        let head = queue_up(&polite, 1, 1, &tx).remove(0);
        tokio::task::yield_now().await;
        let rest = queue_up(&polite, 1, 1, &tx);
        let gone = queue_up(&polite, 2, 1, &tx).remove(0);
        let last = queue_up(&polite, 2, 1, &tx);
        tokio::task::yield_now().await;
        tokio::time::sleep(delay / 2).await;
        head.abort();
        gone.abort();
        assert!(head.await.unwrap_err().is_cancelled());
        assert!(gone.await.unwrap_err().is_cancelled());
        let mut turns = Vec::new();
        for task in rest.into_iter().chain(last) {
            task.await.unwrap();
            turns.push((rx.recv().await.unwrap(), started.elapsed()));
        }
        // The turn at 100 ms was not lost with the cancelled head, nor was
        // the next one: two turns, 100 ms apart.
        assert_eq!(turns, vec![(1, delay), (2, delay * 2)]);
        let hosts = polite.hosts.lock().unwrap();
        assert!(hosts.map[&key()].waiting.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_a_waiter_that_is_not_next_changes_nothing() {
        let delay = Duration::from_millis(100);
        let polite = Arc::new(Politeness::new(delay, 0.0, None));
        let started = Instant::now();
        polite.wait_turn(&key(), 1).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let first = queue_up(&polite, 1, 1, &tx);
        let middle = queue_up(&polite, 1, 1, &tx).remove(0);
        let third = queue_up(&polite, 1, 1, &tx);
        tokio::task::yield_now().await;
        middle.abort();
        let _ = middle.await;
        for task in first.into_iter().chain(third) {
            task.await.unwrap();
        }
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(started.elapsed(), delay * 2);
        assert!(polite.hosts.lock().unwrap().map[&key()].waiting.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_delay_learnt_meanwhile_wakes_the_next_waiter() {
        // Adaptive: the second request waits for the first answer (5 s at
        // most), and goes as soon as it says the delay is short.
        let polite = Arc::new(Politeness::new(Duration::ZERO, 0.0, Some(1.0)));
        let started = Instant::now();
        polite.wait_turn(&key(), 1).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tasks = queue_up(&polite, 2, 1, &tx);
        tokio::time::sleep(Duration::from_millis(300)).await;
        polite.observe(&key(), 200, Duration::from_millis(100));
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(started.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_that_hold_nothing_are_swept() {
        let delay = Duration::from_millis(10);
        let polite = Politeness::new(delay, 0.0, None);
        let host = |i: usize| {
            HostKey::from_uri(&format!("http://h{i}.example/").parse().unwrap()).unwrap()
        };
        polite.set_floor(&host(0), Duration::from_secs(1)); // a Crawl-delay: kept
        polite.pause(&host(1), Instant::now() + Duration::from_secs(60)); // kept
        for i in 2..100_000 {
            polite.wait_turn(&host(i), 1).await;
            if i % 1000 == 0 {
                tokio::time::advance(delay).await;
            }
        }
        let hosts = polite.hosts.lock().unwrap();
        assert!(
            hosts.map.len() < 3 * SWEEP_AT_LEAST,
            "{} hosts kept",
            hosts.map.len()
        );
        assert!(hosts.map.contains_key(&host(0)) && hosts.map.contains_key(&host(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn huge_delays_and_pauses_do_not_overflow() {
        let polite = Politeness::new(Duration::MAX, 10.0, None);
        polite.wait_turn(&key(), 1).await;
        polite.before_send(&key()).await;
        polite.pause(&key(), later(Instant::now(), Duration::MAX));
        polite.set_floor(&key(), Duration::MAX);
        // The next turn is "never": it does not come within a year, and
        // nothing panicked on the way.
        let next = tokio::time::timeout(
            Duration::from_secs(365 * 86_400),
            polite.wait_turn(&key(), 2),
        )
        .await;
        assert!(next.is_err());
        // Adaptive mode with an absurd target and a 429 storm.
        let adaptive = Politeness::new(Duration::MAX, 0.0, Some(1e-300));
        adaptive.observe(&key(), 200, Duration::from_secs(1));
        for _ in 0..3 {
            adaptive.observe(&key(), 429, Duration::ZERO);
        }
        assert_eq!(
            adaptive.hosts.lock().unwrap().map[&key()].delay,
            Duration::MAX
        );
    }
}
