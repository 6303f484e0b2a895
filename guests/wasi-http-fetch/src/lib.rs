//! A crawlbox plugin that fetches only through standard `wasi:http` (via the
//! `wstd` crate), with its own concurrency. It shows that this path goes
//! through the host's pool and caps as much as `fetch-all` does.
//!
//! Input, either a list of URLs or a template:
//! `{"urls": ["http://…", …], "concurrency": 16}` or
//! `{"base": "http://127.0.0.1:8080", "path": "/page/{i}", "n": 1000, "concurrency": 16}`
//! (`{i}` counts from 0 to n-1). With `"records": false` it emits one
//! summary record instead of one per URL (for benchmarks):
//! `{"requests", "ok", "errors", "bytes", "seconds"}`. With
//! `"client": "raw"` it makes the raw `wasi:http` calls itself instead of
//! going through wstd (see `raw.rs`).

mod raw;

use crawlbox_guest::{Plugin, Result, bail, emit};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use wstd::http::{Body, Client, Request};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    urls: Vec<String>,
    base: Option<String>,
    path: Option<String>,
    #[serde(default)]
    n: usize,
    /// Requests the guest keeps in flight. Default: 16.
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    /// One record per URL (default) or one summary.
    #[serde(default = "default_records")]
    records: bool,
    /// `wstd` (default) or `raw`.
    #[serde(default)]
    client: Library,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Library {
    #[default]
    Wstd,
    Raw,
}

fn default_concurrency() -> usize {
    16
}

fn default_records() -> bool {
    true
}

#[derive(Serialize)]
struct Fetched<'a> {
    url: &'a str,
    status: Option<u16>,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, Default)]
struct Summary {
    requests: usize,
    ok: usize,
    errors: usize,
    bytes: usize,
    /// From the first request to the last response, measured in the guest.
    seconds: f64,
}

struct WasiHttpFetch;

/// Counts results and emits them (or, without records, the summary at the end).
struct Results<'a> {
    urls: &'a [String],
    records: bool,
    summary: Summary,
}

impl Results<'_> {
    fn add(&mut self, index: usize, result: Result<(u16, usize), String>) -> Result<()> {
        let url = &self.urls[index];
        self.summary.requests += 1;
        let record = match result {
            Ok((status, bytes)) => {
                self.summary.ok += usize::from((200..300).contains(&status));
                self.summary.bytes += bytes;
                Fetched {
                    url,
                    status: Some(status),
                    bytes,
                    error: None,
                }
            }
            Err(err) => {
                self.summary.errors += 1;
                Fetched {
                    url,
                    status: None,
                    bytes: 0,
                    error: Some(err),
                }
            }
        };
        if self.records {
            emit(&record)?;
        }
        Ok(())
    }
}

impl Plugin for WasiHttpFetch {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        let urls = urls(&input)?;
        let mut results = Results {
            urls: &urls,
            records: input.records,
            summary: Summary::default(),
        };
        let started = std::time::Instant::now();
        match input.client {
            Library::Raw => {
                raw::fetch_all(&urls, input.concurrency, |i, result| results.add(i, result))?;
            }
            Library::Wstd => wstd::runtime::block_on(async {
                let client = Client::new();
                let mut done = futures::stream::iter(urls.iter().enumerate())
                    .map(|(i, url)| {
                        let client = &client;
                        async move { (i, get(client, url).await) }
                    })
                    .buffer_unordered(input.concurrency.max(1));
                while let Some((i, result)) = done.next().await {
                    results.add(i, result)?;
                }
                Ok::<(), crawlbox_guest::Error>(())
            })?,
        }
        if !results.records {
            results.summary.seconds = started.elapsed().as_secs_f64();
            emit(&results.summary)?;
        }
        Ok(())
    }
}

crawlbox_guest::export_plugin!(WasiHttpFetch);

fn urls(input: &Input) -> Result<Vec<String>> {
    match (&input.base, &input.path) {
        (Some(base), Some(path)) => Ok((0..input.n)
            .map(|i| format!("{base}{}", path.replace("{i}", &i.to_string())))
            .collect()),
        (None, None) if !input.urls.is_empty() => Ok(input.urls.clone()),
        _ => bail!("give either \"urls\" or \"base\", \"path\" and \"n\""),
    }
}

/// GETs `url`; returns the status and the body size.
async fn get(client: &Client, url: &str) -> Result<(u16, usize), String> {
    let request = Request::get(url)
        .body(Body::empty())
        .map_err(|e| format!("invalid request: {e}"))?;
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let bytes = body.contents().await.map_err(|e| e.to_string())?.len();
    Ok((status, bytes))
}
