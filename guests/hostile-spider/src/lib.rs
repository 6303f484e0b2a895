//! A hostile spider: what it yields attacks what the host holds for a
//! spider (the frontier, the journal, the item output), the attack chosen
//! by its input `{"attack": ATTACK, "url": URL, "count": N, "bytes": B}`:
//!
//! * `items`: every page yields `count` items (default 3000) of about
//!   `bytes` bytes each (default 10,000). Expected: the run's record limits
//!   (`--max-records`, `--max-output`) stop the crawl (`output-limit`),
//!   with at most that many items written.
//! * `follows`: every page yields `count` new follows (default 200,000),
//!   all distinct. Expected: the per-page cap keeps the first 10,000, and
//!   under `--max-pages` those the limit cannot use are not queued: host
//!   memory and the journal stay small, the crawl ends at once.
//! * `meta`: every page yields `count` follows (default 100) with `bytes`
//!   of meta each (default 1 MiB). Expected: each is dropped (meta over its
//!   cap), with one clear log line.
//!
//! * `slow-follow`: the start page yields one follow to `follow` with a
//!   `timeout-ms` of `count` (default 100). Expected: the host fetches it
//!   under that timeout, not the run's: it fails with `timeout`.
//!
//! * `every-field` (no attack: a probe of the request model): the start
//!   page yields one follow to `follow` that sets every field of a request
//!   (method `POST`, a header `x-kept: yes`, a body `kept=1`, text decoding
//!   as `utf-8`, a `timeout-ms` of 30 s) with meta `kept-meta` and priority
//!   7. The followed page's item is `{"page", "meta", "body", "encoding"}`:
//!   its body as text (the `/echo` endpoint answers with the request it
//!   got), the encoding the host decoded it with, and its meta.
//!
//! * `parallel` (no attack: a probe of the parse stage): the start page
//!   yields `count` follows (default 20); every page's `parse` sleeps
//!   `bytes` ms (default 100) and yields one item `{"page", "instance",
//!   "from_us", "to_us"}`: which instance parsed it (a random id drawn when
//!   the instance starts) and when (wall clock, microseconds).
//!
//! Every page also yields one item `{"page": URL}` (the `items` attack
//! aside), so the tests can count pages.

use serde::Deserialize;

mod bindings {
    #![allow(clippy::too_many_arguments, clippy::crate_in_macro_def)] // generated code
    wit_bindgen::generate!({
        path: "../../wit",
        world: "crawlbox:plugin/spider",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "crate::bindings",
    });
}

use bindings::Guest;
use bindings::crawlbox::plugin::host::{Request, Response, TextDecoding};
use bindings::crawlbox::plugin::html::{Extraction, LinkRule, Query as HtmlQuery};
use bindings::crawlbox::plugin::spider_types::{Follow, ParseOutput};

#[derive(Deserialize, Clone)]
struct Input {
    attack: String,
    url: String,
    count: Option<usize>,
    bytes: Option<usize>,
    follow: Option<String>,
}

struct Spider;

impl Guest for Spider {
    fn start(input: String) -> Result<Vec<Request>, String> {
        let parsed: Input =
            serde_json::from_str(&input).map_err(|e| format!("invalid input {input}: {e}"))?;
        // One instance serves the whole crawl: `parse` finds it there.
        INPUT.with(|cell| *cell.borrow_mut() = Some(parsed.clone()));
        Ok(vec![get(parsed.url)])
    }

    fn parse(resp: Response, meta: String) -> Result<ParseOutput, String> {
        let input = INPUT
            .with(|cell| cell.borrow().clone())
            .ok_or("parse before start: this spider keeps its input in its instance")?;
        let page = serde_json::json!({ "page": resp.url }).to_string();
        let base = input.url.split('?').next().unwrap_or(&input.url).to_owned();
        // A page's follows are told apart from every other page's.
        let tag: String = resp
            .url
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        Ok(match input.attack.as_str() {
            "items" => {
                let count = input.count.unwrap_or(3000);
                let filler = "i".repeat(input.bytes.unwrap_or(10_000));
                ParseOutput {
                    follow_links: None,
                    items: (0..count)
                        .map(|n| serde_json::json!({ "n": n, "filler": filler }).to_string())
                        .collect(),
                    follow: vec![follow(format!("{base}?next={tag}"), String::new())],
                }
            }
            "follows" => ParseOutput {
                follow_links: None,
                items: vec![page],
                follow: (0..input.count.unwrap_or(200_000))
                    .map(|n| follow(format!("{base}?p={tag}&n={n}"), String::new()))
                    .collect(),
            },
            "meta" => {
                let meta = "m".repeat(input.bytes.unwrap_or(1 << 20));
                ParseOutput {
                    follow_links: None,
                    items: vec![page],
                    follow: (0..input.count.unwrap_or(100))
                        .map(|n| follow(format!("{base}?m={tag}&n={n}"), meta.clone()))
                        .collect(),
                }
            }
            "slow-follow" => {
                let mut request = get(input.follow.clone().ok_or("slow-follow needs `follow`")?);
                request.timeout = Some(input.count.unwrap_or(100) as u64 * 1_000_000);
                ParseOutput {
                    follow_links: None,
                    items: vec![page],
                    follow: if resp.url == input.url {
                        vec![Follow {
                            request,
                            meta: String::new(),
                            priority: None,
                        }]
                    } else {
                        Vec::new()
                    },
                }
            }
            "parallel" => {
                let from = now_us();
                std::thread::sleep(std::time::Duration::from_millis(
                    input.bytes.unwrap_or(100) as u64
                ));
                let item = serde_json::json!({
                    "page": resp.url,
                    "instance": INSTANCE.with(|id| *id),
                    "from_us": from,
                    "to_us": now_us(),
                })
                .to_string();
                ParseOutput {
                    follow_links: None,
                    items: vec![item],
                    follow: if resp.url == input.url {
                        (0..input.count.unwrap_or(20))
                            .map(|n| follow(format!("{base}?parallel={n}"), String::new()))
                            .collect()
                    } else {
                        Vec::new()
                    },
                }
            }
            "every-field" if resp.url == input.url => {
                let url = input.follow.clone().ok_or("every-field needs `follow`")?;
                ParseOutput {
                    follow_links: None,
                    items: vec![page],
                    follow: vec![Follow {
                        request: Request {
                            method: "POST".into(),
                            url,
                            headers: vec![("x-kept".into(), "yes".into())],
                            body: Some(b"kept=1".to_vec()),
                            timeout: Some(30_000_000_000),
                            text: Some(TextDecoding::Charset("utf-8".into())),
                            extract: Some(Extraction {
                                links: Some(LinkRule {
                                    same_host: true,
                                    allow: vec!["kept".into()],
                                    deny: vec!["dropped".into()],
                                    skip_nofollow: true,
                                }),
                                queries: vec![HtmlQuery {
                                    selector: "title::text".into(),
                                    parent: None,
                                }],
                                keep_body: true,
                            }),
                        },
                        meta: "kept-meta".into(),
                        priority: Some(7),
                    }],
                }
            }
            "every-field" => ParseOutput {
                follow_links: None,
                items: vec![
                    serde_json::json!({
                        "page": resp.url,
                        "meta": meta,
                        "body": String::from_utf8_lossy(&resp.body),
                        "encoding": resp.text.as_ref().map(|t| t.encoding.clone()),
                        "extracted": resp.extracted.is_some(),
                    })
                    .to_string(),
                ],
                follow: Vec::new(),
            },
            other => {
                return Err(format!(
                    "unknown attack {other:?}: items, follows, meta, slow-follow, every-field or parallel"
                ));
            }
        })
    }
}

thread_local! {
    static INPUT: std::cell::RefCell<Option<Input>> = const { std::cell::RefCell::new(None) };
    /// This instance's id, drawn from the host's random source.
    static INSTANCE: u64 = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    };
}

/// Wall-clock time in microseconds (comparable between instances).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn follow(url: String, meta: String) -> Follow {
    Follow {
        request: get(url),
        meta,
        priority: None,
    }
}

fn get(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        headers: Vec::new(),
        body: None,
        timeout: None,
        text: None,
        extract: None,
    }
}

bindings::export!(Spider);
