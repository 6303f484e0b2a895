//! Host memory held for one session: the bytes of responses that the host
//! has read from the network and the plugin has not taken yet.
//!
//! A plugin's own memory limit covers only its linear memory. A response
//! the host has buffered on its behalf (a `fetch-all` batch being
//! gathered, results waiting in a `fetch-queue`, a `wasi:http` body read
//! ahead of the guest) lives in the host, outside that limit: without a
//! bound of its own, 400 pushed requests for 10 MB each that are never
//! taken cost the host 4 GB. Every path that buffers a body charges it
//! here, as it arrives, and gives it back when the plugin takes it (or the
//! response is dropped). A response that would take the session past its
//! budget fails with `too-large`, naming the budget; it costs nobody else
//! anything.
//!
//! Requests are the other way round: what a plugin has asked the host to
//! send and the host has not sent yet (a `fetch-queue`'s waiting requests,
//! pending `host-async` fetches, a `wasi:http` request body being read)
//! also lives in host memory. A session has a second budget of the same
//! size for them ([`Session::hold_request`](crate::Session::hold_request),
//! [`Session::read_request_body`](crate::Session::read_request_body)): a
//! request that does not fit fails with `too-large`. It is a budget apart
//! so that requests waiting to be sent never hold back the responses that
//! would let them go.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// The default budget: host memory a session's buffered responses may hold
/// at once. Large enough for 64 requests in flight of the default 16 MiB
/// limit each to be a quarter full, and for any ordinary crawl (64 pages
/// of 100 KB are 6.4 MB).
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 256 * 1024 * 1024;

/// One session's budget of buffered response bytes. Cheap to share.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: u64,
    used: AtomicU64,
    /// A response did not fit, and nothing was given back since.
    refused: AtomicBool,
    /// Woken whenever bytes are given back.
    freed: Notify,
}

impl ByteBudget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
            refused: AtomicBool::new(false),
            freed: Notify::new(),
        })
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the budget is spent: full, or a response did not fit and
    /// nothing was given back since (so the next one would not fit
    /// either, most likely).
    pub(crate) fn is_spent(&self) -> bool {
        self.used() >= self.limit || self.refused.load(Ordering::Acquire)
    }

    /// Waits until some bytes are given back, if the budget is spent now.
    pub(crate) async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            if !self.is_spent() {
                return;
            }
            freed.await;
        }
    }

    /// Takes `bytes` if they fit.
    fn take(&self, bytes: u64) -> bool {
        let fits = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok();
        if !fits {
            self.refused.store(true, Ordering::Release);
        }
        fits
    }

    fn give_back(&self, bytes: u64) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            self.refused.store(false, Ordering::Release);
            self.freed.notify_waiters();
        }
    }
}

/// Bytes one response holds against its session's budget, given back when
/// the charge is dropped (or shrinks).
///
/// A clone holds nothing: a clone of a response shares its bytes (they are
/// reference counted) rather than copying them.
#[derive(Debug, Default)]
pub struct Charge {
    budget: Option<Arc<ByteBudget>>,
    bytes: u64,
}

impl Clone for Charge {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Charge {
    pub(crate) fn new(budget: &Arc<ByteBudget>) -> Self {
        Self {
            budget: Some(budget.clone()),
            bytes: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Charges `bytes` more; `Err` (and nothing charged) if they do not
    /// fit in what is left of the budget: the budget's limit and what it
    /// holds now, for the error message.
    pub(crate) fn grow(&mut self, bytes: u64) -> Result<(), (u64, u64)> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if budget.take(bytes) {
            self.bytes += bytes;
            Ok(())
        } else {
            Err((budget.limit, budget.used()))
        }
    }

    /// Gives back `bytes` (at most what is held).
    pub(crate) fn shrink(&mut self, bytes: u64) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        if let Some(budget) = &self.budget {
            budget.give_back(bytes);
        }
    }

    /// Holds exactly `bytes`: grows or shrinks to it.
    pub(crate) fn resize(&mut self, bytes: u64) -> Result<(), (u64, u64)> {
        match bytes.checked_sub(self.bytes) {
            Some(more) => self.grow(more),
            None => {
                self.shrink(self.bytes - bytes);
                Ok(())
            }
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shrink(self.bytes);
    }
}

/// The message of a response that did not fit in its session's budget.
pub(crate) fn over_budget(url: &str, (limit, used): (u64, u64)) -> crate::FetchError {
    crate::FetchError::new(
        crate::ErrorKind::TooLarge,
        format!(
            "{url}: the plugin's responses already hold {used} bytes of host memory, and its \
             limit for responses it has not taken is {limit} bytes (max_buffered_responses): \
             take results (or read and drop bodies) before fetching more, or raise the limit"
        ),
    )
}

/// The message of a request that did not fit in its session's budget for
/// requests held.
pub(crate) fn requests_over_budget(what: &str, (limit, used): (u64, u64)) -> crate::FetchError {
    crate::FetchError::new(
        crate::ErrorKind::TooLarge,
        format!(
            "{what}: the plugin's requests not sent yet already hold {used} bytes of host \
             memory, and its limit for them is {limit} bytes (max_buffered_responses): wait \
             for results before starting more requests, or raise the limit"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_come_back_on_drop() {
        let budget = ByteBudget::new(100);
        let mut a = Charge::new(&budget);
        let mut b = Charge::new(&budget);
        assert!(a.grow(60).is_ok());
        assert_eq!(b.grow(50), Err((100, 60)));
        // After a refusal the budget counts as spent until bytes come back.
        assert!(budget.is_spent());
        assert!(b.grow(40).is_ok());
        assert!(budget.is_spent());
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(!budget.is_spent());
        assert!(b.resize(10).is_ok());
        assert_eq!(budget.used(), 10);
        assert!(b.resize(90).is_ok());
        assert_eq!(budget.used(), 90);
        let clone = b.clone();
        assert_eq!(clone.bytes(), 0);
        drop(clone);
        assert_eq!(budget.used(), 90);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn room_waits_for_bytes_given_back() {
        let budget = ByteBudget::new(10);
        let mut held = Charge::new(&budget);
        held.grow(10).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        held.shrink(1);
        waiter.await.unwrap();
    }
}
