//! crawlbox's example spider: the same crawl as `example-crawler`, in the
//! `crawlbox:plugin/spider` world, written with `crawlbox_guest::spider`.
//! The host owns the frontier (dedup, order, page and depth limits,
//! resuming after a crash) and parses each page; the spider only says where
//! to start and what a page yields.
//!
//! Input: `{"start": ["http://host/"]}`. Each page yields one item
//! `{"url", "status", "title", "links"}` and follows its links on the
//! page's own host. Every request asks the host to extract the title and
//! the same-host links, without the body; the follows are one
//! `follow_links` (the host follows the links it extracted), so a page
//! costs the spider one small call.

use crawlbox_guest::spider::{Follow, Output, Spider};
use crawlbox_guest::{Extract, LinkRule, Query, Request, Response, bail};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    start: Vec<String>,
}

#[derive(Serialize)]
struct Page {
    url: String,
    status: u16,
    title: Option<String>,
    links: usize,
}

/// A request that has the host parse the page and hand back its title and
/// its links on the same host (not the HTML itself).
fn page_request(url: &str) -> (Request, Query) {
    let mut what = Extract::new().links(LinkRule {
        same_host: true,
        ..Default::default()
    });
    let title = what.css("title::text");
    (Request::get(url).extract(&what), title)
}

struct Site;

impl Spider for Site {
    type Input = Input;
    type Item = Page;
    /// What a follow carries back to `parse`: nothing here.
    type Meta = ();

    fn start(input: Input) -> crawlbox_guest::Result<Vec<Follow<()>>> {
        if input.start.is_empty() {
            bail!("input.start is empty: give at least one URL to start from");
        }
        Ok(input
            .start
            .iter()
            .map(|url| Follow::new(page_request(url).0))
            .collect())
    }

    fn parse(page: Response, _meta: ()) -> crawlbox_guest::Result<Output<Page, ()>> {
        let (template, title) = page_request("");
        let item = Page {
            title: title
                .first(&page)
                .map(str::trim)
                .filter(|title| !title.is_empty())
                .map(str::to_owned),
            links: page.links().len(),
            status: page.status,
            url: page.url,
        };
        // Follow every link the host extracted, each as a copy of `template`.
        Ok(Output::new().item(item).follow_links(template))
    }
}

crawlbox_guest::export_spider!(Site);
