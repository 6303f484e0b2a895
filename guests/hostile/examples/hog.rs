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
//! * `extract`: has the host extract, from N × URL (a hostile page), with
//!   queries made to be slow on it, through a `fetch-queue`: the host's
//!   work must be bounded per page and charged to this plugin's CPU budget
//!   (it spends next to none itself); emits how each page's extraction
//!   ended.
//!
//! Each emits `{"before": ATTACK}` first and a summary record after holding
//! for `hold_ms`.
use std::collections::BTreeMap;

use crawlbox_guest::bindings::crawlbox::plugin::host::FetchQueue;
use crawlbox_guest::{Extract, LinkRule, Plugin, Request, Result, bail, emit, fetch_all};
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
            "extract" => {
                let mut what = Extract::new().links(LinkRule::default());
                let outer = what.css("div.a span::text");
                what.css_in(outer, "div span div::outer-html");
                what.css("div div div div:not(.b) span::text");
                let mut queue = crawlbox_guest::FetchQueue::new();
                for url in &urls {
                    queue.push(Request::get(url).extract(&what));
                }
                let mut ended = BTreeMap::<String, u64>::new();
                for (_, result) in queue {
                    let how = match result {
                        Ok(page) => match page.extracted() {
                            Some(Ok(found)) if found.truncated => "truncated".to_owned(),
                            Some(Ok(_)) => "ok".to_owned(),
                            Some(Err(err)) => err.kind().to_owned(),
                            None => "none".to_owned(),
                        },
                        Err(err) => err.kind().to_owned(),
                    };
                    *ended.entry(how).or_default() += 1;
                }
                emit(&json!({ "ended": ended }))?;
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
