//! {{name}}: a crawlbox plugin that drives its own crawl: it fetches
//! through a host fetch-queue (the host runs the requests under its caps and
//! hands each back as it completes) and emits one record per page.
//!
//! Input: `{"start": ["https://example.com/"], "max_pages": 100}`. Every
//! page yields `{"url", "status", "title", "links"}`; the crawl follows
//! links on the page's own host.

use std::collections::HashSet;

use crawlbox_guest::{Extract, FetchQueue, LinkRule, Plugin, Request, Result, bail, emit, warn};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    start: Vec<String>,
    #[serde(default = "default_max_pages")]
    max_pages: usize,
}

fn default_max_pages() -> usize {
    100
}

#[derive(Serialize)]
struct Page<'a> {
    url: &'a str,
    status: u16,
    title: Option<&'a str>,
    links: usize,
}

struct Crawler;

impl Plugin for Crawler {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        if input.start.is_empty() {
            bail!("input.start is empty: give at least one URL to start from");
        }
        // The host parses each page and hands back its title and its links
        // on the same host (resolved, without fragments), not the HTML.
        let mut what = Extract::new().links(LinkRule {
            same_host: true,
            ..Default::default()
        });
        let title = what.css("title::text");

        let mut seen = HashSet::new();
        let mut queue = FetchQueue::new();
        for url in input.start {
            if seen.insert(url.clone()) {
                queue.push(Request::get(url).extract(&what));
            }
        }
        while let Some((_ticket, result)) = queue.next() {
            let page = match result {
                Ok(page) => page,
                Err(err) => {
                    warn!("{err:?}");
                    continue;
                }
            };
            emit(&Page {
                url: &page.url,
                status: page.status,
                title: title.first(&page).map(str::trim),
                links: page.links().len(),
            })?;
            for link in page.links() {
                if seen.len() < input.max_pages && seen.insert(link.url.clone()) {
                    queue.push(Request::get(&link.url).extract(&what));
                }
            }
        }
        Ok(())
    }
}

crawlbox_guest::export_plugin!(Crawler);
