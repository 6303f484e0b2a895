//! crawlbox's example spider: the same crawl as `example-crawler`, in the
//! `crawlbox:plugin/spider` world. The host owns the frontier (dedup,
//! order, page and depth limits, resuming after a crash); the spider only
//! says where to start and what a page yields.
//!
//! Input: `{"start": ["http://host/"]}`. Each page yields one item
//! `{"url", "status", "title", "links"}` and follows its links on the start
//! URLs' hosts. The hosts travel in `meta`.

use scraper::{Html, Selector};
use serde::{Deserialize, Serialize};
use url::Url;

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
use bindings::crawlbox::plugin::spider_types::ParseOutput;

use bindings::crawlbox::plugin::spider_types::Follow;

#[derive(Deserialize)]
struct Input {
    start: Vec<String>,
}

#[derive(Serialize)]
struct Page<'a> {
    url: &'a str,
    status: u16,
    title: Option<String>,
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

    fn parse(resp: Response, meta: String) -> Result<ParseOutput, String> {
        // The start pages carry no meta: their own host is the site.
        let hosts: Vec<String> = if meta.is_empty() {
            Url::parse(&resp.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .into_iter()
                .collect()
        } else {
            serde_json::from_str(&meta).map_err(|e| format!("bad meta {meta}: {e}"))?
        };
        let html = String::from_utf8_lossy(&resp.body);
        let doc = Html::parse_document(&html);
        let title = doc
            .select(&Selector::parse("title").expect("valid selector"))
            .next()
            .map(|t| t.text().collect::<String>().trim().to_owned())
            .filter(|t| !t.is_empty());
        let base = Url::parse(&resp.url).map_err(|e| e.to_string())?;
        let links: Vec<Url> = doc
            .select(&Selector::parse("a[href]").expect("valid selector"))
            .filter_map(|a| a.value().attr("href"))
            .filter_map(|href| base.join(href).ok())
            .collect();
        let item = serde_json::to_string(&Page {
            url: &resp.url,
            status: resp.status,
            title,
            links: links.len(),
        })
        .map_err(|e| e.to_string())?;
        let meta = serde_json::to_string(&hosts).map_err(|e| e.to_string())?;
        let follow = links
            .into_iter()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .filter(|u| u.host_str().is_some_and(|h| hosts.iter().any(|k| k == h)))
            .map(|u| Follow {
                request: get(u.into()),
                meta: meta.clone(),
                priority: None,
            })
            .collect();
        Ok(ParseOutput {
            items: vec![item],
            follow,
        })
    }
}

fn get(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        headers: Vec::new(),
        body: None,
        timeout_ms: None,
        text: None,
    }
}

bindings::export!(Spider);
