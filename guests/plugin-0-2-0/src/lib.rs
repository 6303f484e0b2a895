//! A scraper built against `crawlbox:plugin@0.2.0` as released (its WIT,
//! copied into `wit/`), with raw bindings and no SDK: the package grows by
//! addition only, so every later 0.2.x host must run it unchanged.
//!
//! Input: a URL, as a JSON string. It fetches it with `host.fetch`, asks
//! the host for the page's title, and emits `{"url", "status", "title"}`.

wit_bindgen::generate!({
    path: "wit",
    world: "crawlbox:plugin/scraper",
    generate_all,
});

use crawlbox::plugin::host::{self, Request};
use crawlbox::plugin::html::{Extraction, Query};

struct Compat;

impl Guest for Compat {
    fn run(input: String) -> Result<(), String> {
        let url = input.trim().trim_matches('"').to_owned();
        let request = Request {
            method: "GET".into(),
            url: url.clone(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            text: None,
            extract: Some(Extraction {
                links: None,
                queries: vec![Query {
                    selector: "title::text".into(),
                    parent: None,
                }],
                keep_body: false,
            }),
        };
        let page = host::fetch(&request).map_err(|e| format!("{url}: {e:?}"))?;
        let title = match &page.extracted {
            Some(Ok(extracted)) => extracted.matches[0].first().map(|hit| hit.value.clone()),
            _ => None,
        };
        let record = serde_json::json!({ "url": page.url, "status": page.status, "title": title });
        host::emit(&record.to_string())
    }
}

export!(Compat);
