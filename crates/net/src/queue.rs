//! [`FetchQueue`]: fetches handed back as they complete.

use std::collections::VecDeque;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use crate::{Charge, FetchError, Request, Response, Session};

/// A request pushed on a queue, with its ticket and its charge to the
/// session's budget for requests not sent yet (or why it cannot be sent).
type Pushed = (u64, Result<(Request, Charge), FetchError>);

/// A queue of fetches whose results come back in the order they complete,
/// while the rest stay in flight.
///
/// [`Session::fetch_many`] returns when its whole batch is done, so the
/// caller's caps drain at the end of each batch and sit idle while the
/// caller works through the results. A queue keeps them full: push requests
/// whenever there are some, take results with [`next`](Self::next) as they
/// arrive, push the links they lead to, and so on.
///
/// Each request runs as [`Session::fetch`] does (redirects, retries,
/// decoding, the session's policy and budget, the client's caps). At most
/// [`ClientConfig::concurrency`](crate::ClientConfig::concurrency) requests
/// of a queue run at once; the others wait in the queue, in the order they
/// were pushed. Requests run in a task of the queue's own, so they go on
/// (and give back their slots under the caps) whenever the runtime runs,
/// not only inside `next`. Dropping the queue cancels what it still holds.
///
/// ```no_run
/// # async fn demo(session: crawlbox_net::Session) -> Result<(), crawlbox_net::FetchError> {
/// use crawlbox_net::Request;
///
/// let mut queue = session.queue();
/// for i in 0..1000 {
///     queue.push(Request::get(&format!("http://127.0.0.1:8080/page/{i}")));
/// }
/// while queue.pending() > 0 {
///     for (ticket, result) in queue.next(64).await {
///         println!("request {ticket}: {:?}", result.map(|r| r.status));
///     }
/// }
/// # Ok(()) }
/// ```
pub struct FetchQueue {
    /// Requests to the driver, each with its charge to the session's
    /// budget for requests not sent yet.
    requests: mpsc::UnboundedSender<Pushed>,
    session: Session,
    /// Results from the driver.
    results: mpsc::UnboundedReceiver<(u64, Result<Response, FetchError>)>,
    /// The task that runs the requests; aborted when the queue is dropped.
    driver: tokio::task::JoinHandle<()>,
    pushed: u64,
    taken: u64,
}

impl Session {
    /// A new, empty [`FetchQueue`] on this session.
    ///
    /// Call it inside the tokio runtime the session's client runs on.
    pub fn queue(&self) -> FetchQueue {
        let (requests, incoming) = mpsc::unbounded_channel();
        let (outgoing, results) = mpsc::unbounded_channel();
        let in_flight = self.client().config().concurrency.max(1);
        let driver = drive(self.clone(), incoming, outgoing, in_flight);
        let driver = match self.network_handle() {
            Some(handle) => handle.spawn(driver),
            None => tokio::spawn(driver),
        };
        FetchQueue {
            requests,
            session: self.clone(),
            results,
            driver,
            pushed: 0,
            taken: 0,
        }
    }
}

/// Runs a queue's requests, at most `in_flight` at once, in one task: one
/// wake-up of the scheduler per batch of completions, not one per request.
///
/// While the session's budget of buffered bytes is spent (results taken by
/// nobody), no new request starts: they wait here, costing a few bytes
/// each, until the plugin takes results.
async fn drive(
    session: Session,
    mut incoming: mpsc::UnboundedReceiver<Pushed>,
    outgoing: mpsc::UnboundedSender<(u64, Result<Response, FetchError>)>,
    in_flight: usize,
) {
    let budget = session.buffered().clone();
    let run = |(ticket, request): Pushed| {
        let session = session.clone();
        async move {
            let (request, held) = match request {
                Ok((request, held)) => (Ok(request), Some(held)),
                Err(err) => (Err(err), None),
            };
            let result = session.fetch_built(request).await;
            drop(held); // sent: its bytes are no longer held for it
            (ticket, result)
        }
    };
    let mut running = FuturesUnordered::new();
    let mut waiting = VecDeque::new();
    let mut open = true;
    loop {
        while running.len() < in_flight && !budget.is_spent() {
            let Some(next) = waiting.pop_front() else {
                break;
            };
            running.push(run(next));
        }
        let held_back = !waiting.is_empty() && running.len() < in_flight;
        tokio::select! {
            // Completions first: they free slots for what waits.
            biased;
            Some(done) = running.next(), if !running.is_empty() => {
                if outgoing.send(done).is_err() {
                    return; // the queue is gone
                }
            }
            pushed = incoming.recv(), if open => match pushed {
                Some(item) => waiting.push_back(item),
                None => open = false,
            },
            () = budget.room(), if held_back => {}
            else => return,
        }
    }
}

impl FetchQueue {
    /// Adds a request and returns its ticket: 0 for the queue's first
    /// request, then 1, 2, … in the order of pushing. An `Err` (a request
    /// that could not be built) comes back from [`next`](Self::next) as it
    /// is, and is counted as an error of the session; so does a
    /// `too-large` error for a request that does not fit in the session's
    /// budget for requests not sent yet (see [`crate::budget`]), which a
    /// request holds until it is done.
    pub fn push(&mut self, request: Result<Request, FetchError>) -> u64 {
        let ticket = self.pushed;
        self.pushed += 1;
        let request = request.and_then(|request| {
            let held = self.session.hold_request(&request)?;
            Ok((request, held))
        });
        self.requests
            .send((ticket, request))
            .expect("the driver runs as long as the queue exists");
        ticket
    }

    /// The ticket the next request pushed will get.
    pub fn next_ticket(&self) -> u64 {
        self.pushed
    }

    /// Requests pushed whose results [`next`](Self::next) has not returned yet.
    pub fn pending(&self) -> usize {
        usize::try_from(self.pushed - self.taken).unwrap_or(usize::MAX)
    }

    /// Waits until at least one request is complete, then returns the
    /// complete ones (at most `max`, at least one), each with its ticket,
    /// in the order they completed. Returns an empty list at once when
    /// nothing is pending (or `max` is 0).
    pub async fn next(&mut self, max: usize) -> Vec<(u64, Result<Response, FetchError>)> {
        let mut done = Vec::new();
        if max == 0 || self.pending() == 0 {
            return done;
        }
        let first = self
            .results
            .recv()
            .await
            .expect("the driver runs as long as the queue exists");
        done.push(first);
        while done.len() < max
            && let Ok(result) = self.results.try_recv()
        {
            done.push(result);
        }
        self.taken += done.len() as u64;
        done
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl std::fmt::Debug for FetchQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchQueue")
            .field("pushed", &self.pushed)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}
