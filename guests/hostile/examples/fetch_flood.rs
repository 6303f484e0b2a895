//! A native-async plugin (scraper-async, `--wasip3`) that starts far more
//! `host-async.fetch`es than a plugin may have pending, at a URL that never
//! answers, then walks away from them. Expected: past the 65536th, each
//! fetch fails at once as `denied`; dropping the pending ones cancels them,
//! and a fetch after that is admitted and answered.
//!
//! Input: `{"hang": URL that never answers, "url": URL that does}`.
//!
//! With `"body": N` and `"count": M`, it starts M fetches (default 70000)
//! that each `POST` a body of N bytes (the same N bytes of its own memory,
//! copied into the host by each call): past the session's budget for
//! requests not sent yet, each fails at once as `too-large`, counted in
//! `too_large`.
use std::pin::Pin;

use crawlbox_guest::asynchronous::{AsyncPlugin, fetch};
use crawlbox_guest::{FetchError, Request, Response, Result, emit};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    hang: String,
    url: String,
    #[serde(default)]
    body: usize,
    #[serde(default = "default_count")]
    count: usize,
}

fn default_count() -> usize {
    70_000
}

type Pending = Pin<Box<dyn Future<Output = std::result::Result<Response, FetchError>>>>;

struct FetchFlood;

impl AsyncPlugin for FetchFlood {
    async fn run(input: String) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(&input)?;
        hostile::before("fetch-flood")?;
        let mut pending: Vec<Pending> = Vec::new();
        let (mut denied, mut too_large, mut message) = (0, 0, String::new());
        let request = match input.body {
            0 => Request::get(&input.hang),
            n => Request::post(&input.hang, vec![b'x'; n]),
        };
        for _ in 0..input.count {
            let mut started: Pending = Box::pin(fetch(request.clone()));
            // The first poll makes the call; a refused one is ready at once.
            match (&mut started).now_or_never() {
                Some(Err(FetchError::Denied(m))) => {
                    denied += 1;
                    message = m;
                }
                Some(Err(FetchError::TooLarge(m))) => {
                    too_large += 1;
                    message = m;
                }
                Some(other) => crawlbox_guest::bail!("a hanging fetch ended: {other:?}"),
                None => pending.push(started),
            }
        }
        let held = pending.len();
        drop(pending);
        let after = fetch(Request::get(&input.url)).await;
        emit(&json!({
            "held": held,
            "denied": denied,
            "too_large": too_large,
            "message": message,
            "after_drop": after.map(|r| r.status).map_err(|e| e.to_string()),
        }))?;
        Ok(())
    }
}

crawlbox_guest::export_async_plugin!(FetchFlood);
