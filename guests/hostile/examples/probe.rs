//! Fetches each URL of `{"urls": [...]}` through both guest paths (host
//! `fetch`, and standard wasi:http) and emits what happened:
//! `{"url", "path": "fetch"|"wasi-http", "status"}` or `{..., "error"}`.
//! The network attacks (SSRF, redirects to denied hosts, loops, huge
//! bodies) are inputs to this plugin.
use crawlbox_guest::{Plugin, Result, emit, fetch};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    urls: Vec<String>,
}

struct Probe;

impl Plugin for Probe {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before("probe")?;
        for url in &input.urls {
            match fetch(url.as_str()) {
                Ok(resp) => emit(
                    &json!({"url": url, "path": "fetch", "status": resp.status, "bytes": resp.body.len()}),
                )?,
                Err(err) => emit(
                    &json!({"url": url, "path": "fetch", "error": err.kind(), "message": err.message()}),
                )?,
            }
            match hostile::wasi_http_get(url, &[]) {
                Ok(status) => emit(&json!({"url": url, "path": "wasi-http", "status": status}))?,
                Err(err) => emit(&json!({"url": url, "path": "wasi-http", "error": err}))?,
            }
        }
        Ok(())
    }
}

crawlbox_guest::export_plugin!(Probe);
