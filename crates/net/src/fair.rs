//! The global cap on requests in flight, shared fairly between sessions.
//!
//! A plain FIFO semaphore lets one plugin that queues ten thousand requests
//! starve every other plugin behind them. Here each session waits in its own
//! queue, and a freed slot goes to the next session with waiters, round
//! robin, so every busy session gets an equal share of the cap.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

#[derive(Debug)]
pub(crate) struct FairLimiter {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    available: usize,
    /// Waiters by session id; only sessions with waiters are present.
    queues: BTreeMap<u64, VecDeque<oneshot::Sender<Slot>>>,
    /// The session served last, for round robin.
    last: u64,
}

/// A slot under the cap, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    limiter: Option<Arc<FairLimiter>>,
}

impl FairLimiter {
    pub(crate) fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                available: slots,
                queues: BTreeMap::new(),
                last: 0,
            }),
        })
    }

    /// Waits for a slot for `session`.
    pub(crate) async fn acquire(self: &Arc<Self>, session: u64) -> Slot {
        let waiter = {
            let mut state = self.state.lock().expect("limiter lock");
            if state.available > 0 && state.queues.is_empty() {
                state.available -= 1;
                return Slot {
                    limiter: Some(self.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            state.queues.entry(session).or_default().push_back(tx);
            rx
        };
        // The sender lives in the queue until a slot is handed over, and the
        // limiter outlives every queue entry, so the channel cannot close.
        // If this future is dropped after the hand-over, the slot inside the
        // channel is dropped with it and goes back to the limiter.
        waiter
            .await
            .expect("a queued waiter always receives a slot")
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.state.lock().expect("limiter lock");
        loop {
            let next = state
                .queues
                .range(state.last.wrapping_add(1)..)
                .next()
                .or_else(|| state.queues.iter().next())
                .map(|(&id, _)| id);
            let Some(id) = next else {
                state.available += 1;
                return;
            };
            state.last = id;
            let queue = state.queues.get_mut(&id).expect("present");
            let waiter = queue.pop_front().expect("queues are never empty");
            if queue.is_empty() {
                state.queues.remove(&id);
            }
            let slot = Slot {
                limiter: Some(self.clone()),
            };
            match waiter.send(slot) {
                Ok(()) => return,
                // The waiter gave up; disarm the slot (we hold the lock) and
                // offer it to the next one.
                Err(mut slot) => slot.limiter = None,
            }
        }
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        self.state.lock().expect("limiter lock").available
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release();
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
}
