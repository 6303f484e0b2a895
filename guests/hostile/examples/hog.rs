//! Makes the host hold resources for it without spending any of its own
//! memory or CPU, then sleeps. Input: `{"attack": ATTACK, "url": URL, "n": N,
//! "hold_ms": MS}`, with ATTACK one of:
//!
//! * `fetch-all`: one `fetch-all` of N × URL (big responses): the host must
//!   not gather more than the plugin's budget of buffered bytes; emits how
//!   many came back and how the others failed.
//! * `queue-untaken`: pushes N × URL on a `fetch-queue` and never takes a
//!   result: the host must stop fetching once the budget is spent.
//! * `unread`: opens N `wasi:http` requests to URL (`{i}` counts from 0)
//!   and holds the responses without reading or dropping their bodies:
//!   their slots and connections must not stay taken.
//!
//! Each emits `{"before": ATTACK}` first and a summary record after holding
//! for `hold_ms`.
use std::collections::BTreeMap;

use crawlbox_guest::bindings::crawlbox::plugin::host::FetchQueue;
use crawlbox_guest::{Plugin, Request, Result, bail, emit, fetch_all};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    attack: String,
    url: String,
    n: usize,
    #[serde(default)]
    hold_ms: u64,
}

struct Hog;

impl Plugin for Hog {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before(&input.attack)?;
        let urls: Vec<String> = (0..input.n)
            .map(|i| input.url.replace("{i}", &i.to_string()))
            .collect();
        match input.attack.as_str() {
            "fetch-all" => {
                let mut ok = 0;
                let mut errors = BTreeMap::<String, u64>::new();
                let mut first_error = None;
                for result in fetch_all(&urls) {
                    match result {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            *errors.entry(e.kind().to_owned()).or_default() += 1;
                            first_error.get_or_insert_with(|| e.message().to_owned());
                        }
                    }
                }
                hold(input.hold_ms);
                emit(&json!({ "ok": ok, "errors": errors, "first_error": first_error }))?;
            }
            "queue-untaken" => {
                let queue = FetchQueue::new();
                let requests: Vec<Request> = urls.iter().map(Request::get).collect();
                queue.push(&requests).map_err(crawlbox_guest::Error::msg)?;
                hold(input.hold_ms);
                emit(&json!({ "pending": queue.pending() }))?;
            }
            "unread" => {
                let held = wstd::runtime::block_on(async {
                    let client = wstd::http::Client::new();
                    let sends = urls.iter().map(|url| {
                        let client = &client;
                        async move {
                            let request = wstd::http::Request::get(url.as_str())
                                .body(wstd::http::Body::empty())
                                .map_err(|e| format!("{e}"))?;
                            client.send(request).await.map_err(|e| format!("{e:?}"))
                        }
                    });
                    futures::future::join_all(sends).await
                });
                let statuses: Vec<_> = held
                    .iter()
                    .map(|r| match r {
                        Ok(response) => json!(response.status().as_u16()),
                        Err(e) => json!(e),
                    })
                    .collect();
                hold(input.hold_ms);
                emit(&json!({ "held": statuses }))?;
                drop(held);
            }
            other => bail!("unknown attack {other:?}"),
        }
        Ok(())
    }
}

/// Sleeps for `ms` without spending CPU (the host's CPU limit never fires).
fn hold(ms: u64) {
    if ms > 0 {
        wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
    }
}

crawlbox_guest::export_plugin!(Hog);
