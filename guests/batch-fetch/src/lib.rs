//! Fetches N URLs through the host and emits one summary record:
//! `{"requests", "ok", "errors", "bytes", "seconds"}` (seconds measured in
//! the guest, from the first request to the last response).
//!
//! Two ways (`"mode"`):
//! * `fetch-all` (default): `batch` URLs per `fetch-all` call. The host runs
//!   each batch under its caps, so `batch` can be larger than the
//!   concurrency; a few hundred is best: 4096 responses of 16 KiB at once
//!   (64 MiB through host and guest memory per call) ran at half the rate
//!   of 256, which stays in cache.
//! * `queue`: every URL pushed on one `fetch-queue`, results taken as they
//!   complete, up to `batch` per call.
//!
//! Input: `{"base": "http://127.0.0.1:8080", "path": "/page/{i}", "n": 20000, "batch": 256}`
//! (`{i}` counts from 0 to n-1) or `{"urls": [...]}`, and optionally `"mode"`.

use std::time::Instant;

use crawlbox_guest::{FetchError, FetchQueue, Plugin, Response, Result, bail, emit, fetch_all};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    urls: Vec<String>,
    base: Option<String>,
    path: Option<String>,
    #[serde(default)]
    n: usize,
    /// Requests per `fetch-all` call. Default: 256.
    #[serde(default = "default_batch")]
    batch: usize,
    #[serde(default)]
    mode: Mode,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    #[default]
    FetchAll,
    Queue,
}

fn default_batch() -> usize {
    256
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

impl Summary {
    fn count(&mut self, result: Result<Response, FetchError>) {
        self.requests += 1;
        match result {
            Ok(resp) if resp.is_success() => {
                self.ok += 1;
                self.bytes += resp.body.len();
            }
            Ok(resp) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("status {}", resp.status));
            }
            Err(err) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("{}: {}", err.kind(), err.message()));
            }
        }
    }
}

struct BatchFetch;

impl Plugin for BatchFetch {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        let urls: Vec<String> = match (&input.base, &input.path) {
            (Some(base), Some(path)) => (0..input.n)
                .map(|i| format!("{base}{}", path.replace("{i}", &i.to_string())))
                .collect(),
            (None, None) if !input.urls.is_empty() => input.urls,
            _ => bail!("give either \"urls\" or \"base\", \"path\" and \"n\""),
        };
        let mut summary = Summary::default();
        let started = Instant::now();
        match input.mode {
            Mode::FetchAll => {
                for batch in urls.chunks(input.batch.max(1)) {
                    for result in fetch_all(batch) {
                        summary.count(result);
                    }
                }
            }
            Mode::Queue => {
                let batch = u32::try_from(input.batch).unwrap_or(u32::MAX);
                let mut queue = FetchQueue::with_batch(batch);
                queue.extend(&urls);
                for (_ticket, result) in queue {
                    summary.count(result);
                }
            }
        }
        summary.seconds = started.elapsed().as_secs_f64();
        emit(&summary)?;
        Ok(())
    }
}

crawlbox_guest::export_plugin!(BatchFetch);
