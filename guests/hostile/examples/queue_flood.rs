//! Pushes more requests on a `fetch-queue` than a plugin may hold, then
//! fills one and walks away from it. Expected: the oversized push is refused
//! (and adds nothing), on that queue or on another; dropping the queue
//! cancels what it still held. With `"queues": true` it instead creates
//! queues without ever dropping one: expected to trap past 1024.
use crawlbox_guest::Request;
use crawlbox_guest::bindings::crawlbox::plugin::host::FetchQueue;
use crawlbox_guest::{Plugin, Result, bail, emit};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    url: String,
    #[serde(default)]
    queues: bool,
}

struct QueueFlood;

impl Plugin for QueueFlood {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before("queue-flood")?;
        if input.queues {
            let mut queues = Vec::new();
            loop {
                queues.push(FetchQueue::new());
                if queues.len() % 512 == 0 {
                    emit(&json!({ "queues": queues.len() }))?;
                }
            }
        }
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
        // The limit is the plugin's, not the queue's.
        let other = FetchQueue::new();
        let refused_elsewhere = other.push(&too_many[..10_000]).is_err();
        let mut taken = 0;
        while taken < 100 {
            taken += queue.next(64).len();
        }
        emit(&json!({
            "refused": refused,
            "refused_elsewhere": refused_elsewhere,
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
