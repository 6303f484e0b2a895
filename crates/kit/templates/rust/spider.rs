//! {{name}}: a crawlbox spider. The host owns the crawl (which pages are
//! next, dedup, limits, politeness, resuming); the spider says where to
//! start and what each page yields.
//!
//! Input: `{"start": ["https://example.com/"]}`. Every page yields
//! `{"url", "status", "title", "links"}`, and the spider follows the page's
//! links on its own host.

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
        let (follow, title) = page_request("");
        let item = Page {
            title: title.first(&page).map(|t| t.trim().to_owned()),
            links: page.links().len(),
            status: page.status,
            url: page.url,
        };
        // Follow every link the host extracted, each as a copy of `follow`.
        Ok(Output::new().item(item).follow_links(follow))
    }
}

crawlbox_guest::export_spider!(Site);
