//! Pushes more requests on a `fetch-queue` than it may hold, then fills one
//! and walks away from it. Expected: the oversized push is refused (and
//! adds nothing); dropping the queue cancels what it still held.
use crawlbox_guest::Request;
use crawlbox_guest::bindings::crawlbox::plugin::host::FetchQueue;
use crawlbox_guest::{Plugin, Result, bail, emit};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    url: String,
}

struct QueueFlood;

impl Plugin for QueueFlood {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before("queue-flood")?;
        let queue = FetchQueue::new();
        let too_many = vec![Request::get(&input.url); 70_000];
        let refused = match queue.push(&too_many) {
            Ok(_) => bail!("a push of 70000 requests was taken"),
            Err(message) => message,
        };
        let pending_after_refusal = queue.pending();
        let first = queue
            .push(&too_many[..60_000])
            .map_err(crawlbox_guest::Error::msg)?;
        let mut taken = 0;
        while taken < 100 {
            taken += queue.next(64).len();
        }
        emit(&json!({
            "refused": refused,
            "pending_after_refusal": pending_after_refusal,
            "first_ticket": first,
            "taken": taken,
            "pending": queue.pending(),
        }))?;
        // Dropped here with ~59900 requests still queued.
        Ok(())
    }
}

crawlbox_guest::export_plugin!(QueueFlood);
