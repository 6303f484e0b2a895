//! Fetches N URLs with `host-async.fetch`, `concurrency` in flight, and
//! emits one summary record: `{"requests", "ok", "errors", "bytes",
//! "seconds"}` (seconds measured in the guest). The native-async
//! counterpart of `batch-fetch`, run with `crawlbox run --wasip3`: one
//! host call per request, and no batch or queue to keep the caps full.
//!
//! Input: `{"base": "http://127.0.0.1:8080", "path": "/page/{i}", "n": 20000,
//! "concurrency": 64}` (`{i}` counts from 0 to n-1).

use std::time::Instant;

use crawlbox_guest::asynchronous::{AsyncPlugin, fetch};
use crawlbox_guest::{Request, Result, emit};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    base: String,
    path: String,
    n: usize,
    /// Fetches in flight at most. Default: 64.
    #[serde(default = "default_concurrency")]
    concurrency: usize,
}

fn default_concurrency() -> usize {
    64
}

#[derive(Serialize, Default)]
struct Summary {
    requests: usize,
    ok: usize,
    errors: usize,
    bytes: usize,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
}

struct AsyncFetch;

impl AsyncPlugin for AsyncFetch {
    async fn run(input: String) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(&input)?;
        let url = |i: usize| {
            format!(
                "{}{}",
                input.base,
                input.path.replace("{i}", &i.to_string())
            )
        };
        let mut summary = Summary::default();
        let started = Instant::now();
        let mut next = 0;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < input.concurrency.max(1) && next < input.n {
                in_flight.push(fetch(Request::get(url(next))));
                next += 1;
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            summary.requests += 1;
            let failure = match result {
                Ok(page) if page.is_success() => {
                    summary.ok += 1;
                    summary.bytes += page.body.len();
                    continue;
                }
                Ok(page) => format!("status {}", page.status),
                Err(err) => format!("{}: {}", err.kind(), err.message()),
            };
            summary.errors += 1;
            summary.first_error.get_or_insert(failure);
        }
        summary.seconds = started.elapsed().as_secs_f64();
        emit(&summary)?;
        Ok(())
    }
}

crawlbox_guest::export_async_plugin!(AsyncFetch);
