//! crawlbox's example spider: the same crawl as `example-crawler`, in the
//! `crawlbox:plugin/spider` world. The host owns the frontier (dedup,
//! order, page and depth limits, resuming after a crash) and parses each
//! page; the spider only says where to start and what a page yields.
//!
//! Input: `{"start": ["http://host/"]}`. Each page yields one item
//! `{"url", "status", "title", "links"}` and follows its links on the
//! page's own host. Every request asks the host to extract the title and
//! the same-host links, without the body; the follows are one
//! `follow-links` (the host follows the links it extracted), so a page
//! costs the spider one small call.

use serde::{Deserialize, Serialize};

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
use bindings::crawlbox::plugin::host::{Request, Response};
use bindings::crawlbox::plugin::html::{Extraction, LinkRule, Query};
use bindings::crawlbox::plugin::spider_types::{Follow, ParseOutput};

#[derive(Deserialize)]
struct Input {
    start: Vec<String>,
}

#[derive(Serialize)]
struct Page<'a> {
    url: &'a str,
    status: u16,
    title: Option<&'a str>,
    links: usize,
}

struct Spider;

impl Guest for Spider {
    fn start(input: String) -> Result<Vec<Request>, String> {
        let input: Input =
            serde_json::from_str(&input).map_err(|e| format!("invalid input {input}: {e}"))?;
        if input.start.is_empty() {
            return Err("input.start is empty: give at least one URL to start from".into());
        }
        Ok(input.start.into_iter().map(get).collect())
    }

    fn parse(resp: Response, _meta: String) -> Result<ParseOutput, String> {
        let (title, links) = match &resp.extracted {
            Some(Ok(found)) => (
                found
                    .matches
                    .first()
                    .and_then(|hits| hits.first())
                    .map(|hit| hit.value.trim())
                    .filter(|title| !title.is_empty()),
                found.links.len(),
            ),
            _ => (None, 0),
        };
        let item = serde_json::to_string(&Page {
            url: &resp.url,
            status: resp.status,
            title,
            links,
        })
        .map_err(|e| e.to_string())?;
        Ok(ParseOutput {
            items: vec![item],
            follow: Vec::new(),
            follow_links: Some(Follow {
                request: get(String::new()),
                meta: String::new(),
                priority: None,
            }),
        })
    }
}

/// A GET that has the host extract the title and the same-host links.
fn get(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        headers: Vec::new(),
        body: None,
        timeout: None,
        text: None,
        extract: Some(Extraction {
            links: Some(LinkRule {
                same_host: true,
                allow: Vec::new(),
                deny: Vec::new(),
                skip_nofollow: false,
            }),
            queries: vec![Query {
                selector: "title::text".into(),
                parent: None,
            }],
            keep_body: false,
        }),
    }
}

bindings::export!(Spider);
