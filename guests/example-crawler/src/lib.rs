//! crawlbox's example plugin: a breadth-first, same-site crawler.
//!
//! Input: `{"start": ["http://host/"], "max_pages": 100, "batch": 32}`.
//! From the start URLs it fetches pages in batches through `fetch-all` (the
//! host runs each batch concurrently under its caps), parses the HTML,
//! follows links that stay on a start URL's host, and emits one record per
//! page: `{"url", "status", "title", "links"}` (or `{"url", "error"}`).

use std::collections::{HashSet, VecDeque};

use crawlbox_guest::{Plugin, Request, Result, bail, emit, fetch_all, info};
use scraper::{Html, Selector};
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Where the crawl starts.
    start: Vec<String>,
    /// Pages to fetch at most. Default: 100.
    #[serde(default = "default_max_pages")]
    max_pages: usize,
    /// Pages per `fetch-all` call. Default: 32.
    #[serde(default = "default_batch")]
    batch: usize,
}

fn default_max_pages() -> usize {
    100
}

fn default_batch() -> usize {
    32
}

#[derive(Serialize)]
struct Page<'a> {
    url: &'a str,
    status: u16,
    title: Option<String>,
    links: usize,
}

#[derive(Serialize)]
struct Failure<'a> {
    url: &'a str,
    error: &'a str,
    message: &'a str,
}

struct Crawler;

impl Plugin for Crawler {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        if input.start.is_empty() {
            bail!("input.start is empty: give at least one URL to start from");
        }
        let mut frontier = Frontier::default();
        for start in &input.start {
            let url = Url::parse(start)?;
            frontier
                .hosts
                .insert(url.host_str().unwrap_or_default().to_owned());
            frontier.push(url, input.max_pages);
        }
        let batch_size = input.batch.max(1);
        let mut crawled = 0;
        while !frontier.queue.is_empty() {
            let batch: Vec<Url> = frontier
                .queue
                .drain(..batch_size.min(frontier.queue.len()))
                .collect();
            let results = fetch_all(batch.iter().map(|u| Request::get(u.as_str())));
            for (url, result) in batch.iter().zip(results) {
                crawled += 1;
                match result {
                    Ok(resp) => {
                        let (title, links) = if is_html(resp.header("content-type")) {
                            parse(&resp.text(), &resp.url)
                        } else {
                            (None, Vec::new())
                        };
                        emit(&Page {
                            url: &resp.url,
                            status: resp.status,
                            title,
                            links: links.len(),
                        })?;
                        for link in links {
                            frontier.push(link, input.max_pages);
                        }
                    }
                    Err(err) => emit(&Failure {
                        url: url.as_str(),
                        error: err.kind(),
                        message: err.message(),
                    })?,
                }
            }
        }
        info!(
            "crawled {crawled} pages from {} start URLs",
            input.start.len()
        );
        Ok(())
    }
}

crawlbox_guest::export_plugin!(Crawler);

/// URLs to visit, in breadth-first order, each at most once.
#[derive(Default)]
struct Frontier {
    queue: VecDeque<Url>,
    seen: HashSet<String>,
    /// Hosts the crawl stays on.
    hosts: HashSet<String>,
}

impl Frontier {
    fn push(&mut self, mut url: Url, max_pages: usize) {
        url.set_fragment(None);
        let same_site = url.host_str().is_some_and(|h| self.hosts.contains(h));
        if self.seen.len() >= max_pages || !matches!(url.scheme(), "http" | "https") || !same_site {
            return;
        }
        if self.seen.insert(url.as_str().to_owned()) {
            self.queue.push_back(url);
        }
    }
}

fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| ct.contains("html"))
}

/// The page's title and the absolute URLs of its links.
fn parse(html: &str, base: &str) -> (Option<String>, Vec<Url>) {
    let doc = Html::parse_document(html);
    let title_sel = Selector::parse("title").expect("valid selector");
    let link_sel = Selector::parse("a[href]").expect("valid selector");
    let title = doc
        .select(&title_sel)
        .next()
        .map(|t| t.text().collect::<String>().trim().to_owned())
        .filter(|t| !t.is_empty());
    let base = Url::parse(base).ok();
    let links = doc
        .select(&link_sel)
        .filter_map(|a| a.value().attr("href"))
        .filter_map(|href| match &base {
            Some(base) => base.join(href).ok(),
            None => Url::parse(href).ok(),
        })
        .collect();
    (title, links)
}
