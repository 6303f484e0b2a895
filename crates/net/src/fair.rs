//! The global cap on requests in flight, shared fairly between sessions.
//!
//! A plain FIFO semaphore lets one plugin that queues ten thousand requests
//! starve every other plugin behind them. Here each session waits in its own
//! queue, and a freed slot goes to the next session with waiters, round
//! robin, so every busy session gets an equal share of the cap.
//!
//! Round robin only shares the slots that come free. A plugin that holds
//! every slot (slow requests it chose, to a server that answers slowly)
//! would still keep the others out for as long as its requests last, so
//! while more than one session exists, none may hold more than the cap
//! less a reserve ([`reserve`]): the others always find a slot.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

#[derive(Debug)]
pub(crate) struct FairLimiter {
    slots: usize,
    /// Sessions alive (read on every request, so not under the lock).
    sessions: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    available: usize,
    /// Waiters by session id; only sessions with waiters are present.
    queues: BTreeMap<u64, VecDeque<oneshot::Sender<Slot>>>,
    /// The session served last, for round robin.
    last: u64,
    /// Slots held, by session; only sessions holding some are present.
    held: HashMap<u64, usize>,
}

impl State {
    /// `session` takes an available slot.
    fn take(&mut self, session: u64) {
        self.available -= 1;
        *self.held.entry(session).or_default() += 1;
    }

    /// `session` gives a slot back.
    fn give_back(&mut self, session: u64) {
        self.available += 1;
        if let Some(held) = self.held.get_mut(&session) {
            *held -= 1;
            if *held == 0 {
                self.held.remove(&session);
            }
        }
    }
}

/// Slots kept from any one session while others exist: an eighth of the
/// cap, at least one (none for a cap of one).
pub(crate) fn reserve(slots: usize) -> usize {
    if slots < 2 { 0 } else { (slots / 8).max(1) }
}

/// A slot under the cap, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    limiter: Option<Arc<FairLimiter>>,
    session: u64,
}

/// A session's membership of the limiter: while more than one is alive,
/// shares are capped. Leaves when dropped.
#[derive(Debug)]
pub(crate) struct Member {
    limiter: Arc<FairLimiter>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.limiter.sessions.fetch_sub(1, Ordering::Relaxed);
        let mut state = self.limiter.lock();
        // Shares may have grown: hand out what waiters can now take.
        self.limiter.dispatch(&mut state);
    }
}

impl FairLimiter {
    pub(crate) fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            slots,
            sessions: AtomicUsize::new(0),
            state: Mutex::new(State {
                available: slots,
                queues: BTreeMap::new(),
                last: 0,
                held: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still
        // consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a session (see [`Member`]).
    pub(crate) fn join(self: &Arc<Self>) -> Member {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        Member {
            limiter: self.clone(),
        }
    }

    /// How many of `total` (the slots, or a host's connections) one
    /// session may hold at once: all of them while it is alone, else all
    /// but a [`reserve`].
    pub(crate) fn share_of(&self, total: usize) -> usize {
        if self.sessions.load(Ordering::Relaxed) > 1 {
            total - reserve(total)
        } else {
            total
        }
    }

    fn may_take(&self, state: &State, session: u64) -> bool {
        state.held.get(&session).copied().unwrap_or(0) < self.share_of(self.slots)
    }

    /// Waits for a slot for `session`.
    pub(crate) async fn acquire(self: &Arc<Self>, session: u64) -> Slot {
        let waiter = {
            let mut state = self.lock();
            if state.available > 0 && state.queues.is_empty() && self.may_take(&state, session) {
                state.take(session);
                return Slot {
                    limiter: Some(self.clone()),
                    session,
                };
            }
            let (tx, rx) = oneshot::channel();
            state.queues.entry(session).or_default().push_back(tx);
            // A slot may be free for this session but not for those ahead
            // of it (at their share).
            self.dispatch(&mut state);
            rx
        };
        // The sender lives in the queue until a slot is handed over, and the
        // limiter outlives every queue entry, so the channel cannot close.
        // If this future is dropped after the hand-over, the slot inside the
        // channel is dropped with it and goes back to the limiter.
        match waiter.await {
            Ok(slot) => slot,
            Err(_) => unreachable!("a queued waiter always receives a slot"),
        }
    }

    fn release(self: &Arc<Self>, session: u64) {
        let mut state = self.lock();
        state.give_back(session);
        self.dispatch(&mut state);
    }

    /// Hands available slots to waiters, round robin over the sessions
    /// that are under their share.
    fn dispatch(self: &Arc<Self>, state: &mut State) {
        while state.available > 0 {
            let eligible = |id: &u64| self.may_take(state, *id);
            let next = state
                .queues
                .range(state.last.wrapping_add(1)..)
                .map(|(&id, _)| id)
                .find(eligible)
                .or_else(|| state.queues.keys().copied().find(eligible));
            let Some(id) = next else {
                return;
            };
            state.last = id;
            let Some(queue) = state.queues.get_mut(&id) else {
                return;
            };
            let Some(waiter) = queue.pop_front() else {
                state.queues.remove(&id);
                continue;
            };
            if queue.is_empty() {
                state.queues.remove(&id);
            }
            state.take(id);
            let slot = Slot {
                limiter: Some(self.clone()),
                session: id,
            };
            if let Err(mut slot) = waiter.send(slot) {
                // The waiter gave up; disarm the slot (we hold the lock)
                // and offer it to the next one.
                slot.limiter = None;
                state.give_back(id);
            }
        }
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        self.lock().available
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release(self.session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn freed_slots_alternate_between_sessions() {
        let limiter = FairLimiter::new(1);
        let held = limiter.acquire(1).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Session 1 queues many requests first, session 2 queues two after.
        let mut tasks = Vec::new();
        for (session, n) in [(1, 6), (2, 2)] {
            for _ in 0..n {
                let (limiter, tx) = (limiter.clone(), tx.clone());
                tasks.push(tokio::spawn(async move {
                    let slot = limiter.acquire(session).await;
                    tx.send(session).unwrap();
                    tokio::task::yield_now().await;
                    drop(slot);
                }));
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        drop(tx);
        let mut order = Vec::new();
        while let Some(session) = rx.recv().await {
            order.push(session);
        }
        // Session 2 is served within the first few grants, not after all of
        // session 1's queue.
        assert_eq!(order.len(), 8);
        let second = order.iter().position(|&s| s == 2).unwrap();
        assert!(second <= 1, "{order:?}");
        assert_eq!(limiter.available(), 1);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_leak_its_slot() {
        let limiter = FairLimiter::new(1);
        let held = limiter.acquire(1).await;
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire(2).await }
        });
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        drop(held);
        assert_eq!(limiter.available(), 1);
        let _again = limiter.acquire(3).await;
        assert_eq!(limiter.available(), 0);
    }

    #[tokio::test]
    async fn no_session_takes_the_reserve_while_another_exists() {
        let limiter = FairLimiter::new(8);
        let _a = limiter.join();
        let b = limiter.join();
        // Session 1 takes what it may: 7 of 8.
        let mut held = Vec::new();
        for _ in 0..7 {
            held.push(limiter.acquire(1).await);
        }
        let more = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire(1).await }
        });
        tokio::task::yield_now().await;
        assert!(!more.is_finished(), "session 1 took the reserve");
        // Session 2 finds the reserved slot at once.
        let other = tokio::time::timeout(std::time::Duration::from_secs(1), limiter.acquire(2))
            .await
            .expect("the reserve is there for another session");
        drop(other);
        // Alone again, session 1 may take the whole cap.
        drop(b);
        let eighth = tokio::time::timeout(std::time::Duration::from_secs(1), more)
            .await
            .expect("alone, a session may use every slot")
            .unwrap();
        drop(eighth);
        drop(held);
        assert_eq!(limiter.available(), 8);
    }
}
