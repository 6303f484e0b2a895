//! `crawlbox:plugin/host-async` and the `scraper-async` world: `fetch` as an
//! `async func`, for guests of the component model's native async (WASI
//! 0.3), under [`Runtime::with_wasip3`](crate::Runtime::with_wasip3).
//!
//! A guest's `fetch` returns to it at once as a pending subtask, and the
//! host runs the request on the store's event loop while the guest goes on:
//! one call per request, no batch, no queue, no pollables. The request is
//! taken from the guest in one visit to the store, awaited outside it (so
//! other subtasks and the guest itself run meanwhile), and the response
//! handed over in a second visit.
//!
//! Pending fetches live in host memory, outside the guest's memory limit:
//! together with the requests of its `fetch-queue`s, a guest may have
//! [`MAX_QUEUED`](crate::host::MAX_QUEUED) of them; past that a fetch fails
//! at once as `denied`, and the guest goes on. Of those, only as many as the
//! client's concurrency cap go on to the client at once (in the order the
//! guest started them, as a `fetch-queue`'s do); the others wait holding
//! only their request, which is charged to the session's budget for
//! requests not sent yet: one that does not fit fails as `too-large`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::component::{Accessor, HasData};

use crawlbox_net::Session;

use crate::host::{MAX_QUEUED, crawlbox::plugin::host as wit, from_wit, to_wit_error};
use crate::state::PluginState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "crawlbox:plugin/scraper-async",
    imports: {
        // No `tracing`: a span per request, as `host.fetch` has none.
        "crawlbox:plugin/host-async.fetch": store,
        default: tracing,
    },
    exports: { default: async | store },
    with: {
        "crawlbox:plugin/host": crate::host::crawlbox::plugin::host,
        "crawlbox:plugin/html": crate::host::crawlbox::plugin::html,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    require_store_data_send: true,
});

/// The store's data as `host-async` sees it.
pub(crate) struct AsyncHost;

impl HasData for AsyncHost {
    type Data<'a> = &'a mut PluginState;
}

impl crawlbox::plugin::host_async::Host for PluginState {}

impl<T> crawlbox::plugin::host_async::HostWithStore<T> for AsyncHost {
    async fn fetch(
        store: &Accessor<T, Self>,
        req: wit::Request,
    ) -> Result<wit::Response, wit::FetchError> {
        let admitted = store.with(|mut store| {
            let state = store.get();
            Pending::admit(&state.fetching, state.queued)
                .map(|pending| (pending, state.session.clone(), state.fetch_slots.clone()))
        });
        let (pending, session, slots) = admitted.map_err(wit::FetchError::Denied)?;
        // Waiting here, a pending fetch is its request and little more,
        // charged to the session's budget for requests not sent yet: the
        // request's future (the client's whole state machine, kilobytes,
        // boxed by `Session::fetch`) exists only for the fetches the caps
        // could run now.
        let (request, held) = hold(&session, req).map_err(to_wit_error)?;
        let slot = slots.acquire_owned().await;
        let result = session.fetch(request).await;
        drop((slot, held, pending));
        store.with(|mut store| {
            let state = store.get();
            result.map(|r| state.deliver(r)).map_err(to_wit_error)
        })
    }
}

/// A plugin's request, checked and charged to its session's budget for
/// requests not sent yet; a failure counted in the session's stats.
fn hold(
    session: &Session,
    req: wit::Request,
) -> Result<(crawlbox_net::Request, crawlbox_net::Charge), crawlbox_net::FetchError> {
    let request = from_wit(session, req)?;
    let held = session
        .hold_request(&request)
        .inspect_err(|e| session.stats().record_error(e.kind))?;
    Ok((request, held))
}

/// One pending `host-async.fetch`, counted while it lives (a guest may drop
/// the subtask, and the future with it, at any await).
struct Pending(Arc<AtomicUsize>);

impl Pending {
    /// Counts one more pending fetch, unless the guest's fetches and queued
    /// requests together already number [`MAX_QUEUED`].
    fn admit(fetching: &Arc<AtomicUsize>, queued: usize) -> Result<Self, String> {
        let pending = fetching.fetch_add(1, Ordering::Relaxed);
        let guard = Self(fetching.clone());
        if pending.saturating_add(queued) >= MAX_QUEUED {
            return Err(format!(
                "a plugin may have at most {MAX_QUEUED} fetches pending (its fetch-queues' \
                 requests included); {pending} fetches and {queued} queued requests are: \
                 await some before starting more"
            ));
        }
        Ok(guard)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<PluginState>,
) -> wasmtime::Result<()> {
    crawlbox::plugin::host_async::add_to_linker::<_, AsyncHost>(linker, |state| state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_fetches_are_counted_with_queued_requests_and_capped() {
        let fetching = Arc::new(AtomicUsize::new(0));
        let held: Vec<Pending> = (0..10)
            .map(|_| Pending::admit(&fetching, MAX_QUEUED - 11).unwrap())
            .collect();
        assert_eq!(fetching.load(Ordering::Relaxed), 10);
        let err = Pending::admit(&fetching, MAX_QUEUED - 10).err().unwrap();
        assert!(err.contains("at most 65536 fetches pending"), "{err}");
        assert!(err.contains("10 fetches and 65526 queued"), "{err}");
        // A refused fetch is not counted; a finished (or dropped) one no more.
        assert_eq!(fetching.load(Ordering::Relaxed), 10);
        drop(held);
        assert_eq!(fetching.load(Ordering::Relaxed), 0);
    }
}
