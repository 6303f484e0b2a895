//! Host-side HTML extraction: declare what a page should yield, and read it
//! from the response.
//!
//! The host parses a page natively, on threads beside the plugin's, when
//! its request says what to extract; the plugin then never receives (or
//! parses) the HTML. Queries are declared before the fetch, because the
//! host extracts while the response waits:
//!
//! ```no_run
//! use crawlbox_guest::{Extract, FetchQueue, LinkRule, Request};
//!
//! let mut what = Extract::new().links(LinkRule { same_host: true, ..Default::default() });
//! let title = what.css("title::text");
//! let product = what.css(".product");
//! let name = what.css_in(product, ".name::text");
//! let href = what.css_in(product, "a::attr(href)");
//!
//! let mut queue = FetchQueue::new();
//! queue.push(Request::get("https://shop.example/").extract(&what));
//! while let Some((_, Ok(page))) = queue.next() {
//!     println!("{:?}", title.first(&page));
//!     for p in product.each(&page) {
//!         println!("{:?} {:?}", name.first_in(&page, p), href.first_in(&page, p));
//!     }
//!     for link in page.links() {
//!         queue.push(Request::get(&link.url).extract(&what));
//!     }
//! }
//! ```

use crate::bindings::crawlbox::plugin::html;
use crate::{ExtractError, Extracted, Extraction, Hit, Link, LinkRule, Response};

/// What to extract from a page: a link rule and CSS queries (in the style
/// of Scrapy's selectors: `h1::text`, `a::attr(href)`, `div.item`,
/// `::inner-html`). Build it once and reuse it for every request.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    spec: Extraction,
}

/// A query declared in an [`Extract`]: reads its matches from a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query(u32);

impl Extract {
    /// Nothing extracted yet, and no body kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// Extract the page's links, as `rule` says (resolved, without
    /// fragments, each once).
    pub fn links(mut self, rule: LinkRule) -> Self {
        self.spec.links = Some(rule);
        self
    }

    /// Hand the body to the plugin too.
    pub fn keep_body(mut self) -> Self {
        self.spec.keep_body = true;
        self
    }

    /// Declares a query over the whole page.
    pub fn css(&mut self, selector: &str) -> Query {
        self.push(selector, None)
    }

    /// Declares a query inside each match of `parent`.
    pub fn css_in(&mut self, parent: Query, selector: &str) -> Query {
        self.push(selector, Some(parent.0))
    }

    fn push(&mut self, selector: &str, parent: Option<u32>) -> Query {
        let index = u32::try_from(self.spec.queries.len()).unwrap_or(u32::MAX);
        self.spec.queries.push(html::Query {
            selector: selector.to_owned(),
            parent,
        });
        Query(index)
    }

    /// The WIT record this builds.
    pub fn spec(&self) -> &Extraction {
        &self.spec
    }
}

#[allow(clippy::derivable_impls)] // a generated type: no derive to add
impl Default for Extraction {
    fn default() -> Self {
        Extraction {
            links: None,
            queries: Vec::new(),
            keep_body: false,
        }
    }
}

#[allow(clippy::derivable_impls)] // a generated type: no derive to add
impl Default for LinkRule {
    fn default() -> Self {
        LinkRule {
            same_host: false,
            allow: Vec::new(),
            deny: Vec::new(),
            skip_nofollow: false,
        }
    }
}

/// Parses HTML the plugin holds (`url` is the page's URL, for resolving
/// links) on the host, as a request's extraction would.
pub fn parse_html(html: &str, url: &str, what: &Extract) -> Result<Extracted, ExtractError> {
    html::parse(html, url, &what.spec)
}

static NO_HITS: Vec<Hit> = Vec::new();

impl Query {
    /// This query's matches in an extraction, in page order.
    pub fn hits<'a>(&self, found: &'a Extracted) -> &'a [Hit] {
        found.matches.get(self.0 as usize).unwrap_or(&NO_HITS)
    }

    /// The value of the first match on `page`.
    pub fn first<'a>(&self, page: &'a Response) -> Option<&'a str> {
        self.all(page).next()
    }

    /// The values of every match on `page`.
    pub fn all<'a>(&self, page: &'a Response) -> impl Iterator<Item = &'a str> {
        self.on(page).iter().map(|hit| hit.value.as_str())
    }

    /// The indices of this query's matches on `page`, for the queries
    /// nested in it ([`Query::first_in`], [`Query::all_in`]).
    pub fn each(&self, page: &Response) -> std::ops::Range<u32> {
        0..u32::try_from(self.on(page).len()).unwrap_or(u32::MAX)
    }

    /// The first match of this (nested) query inside match `parent` of its
    /// parent query.
    pub fn first_in<'a>(&self, page: &'a Response, parent: u32) -> Option<&'a str> {
        self.all_in(page, parent).next()
    }

    /// Every match of this (nested) query inside match `parent` of its
    /// parent query.
    pub fn all_in<'a>(&self, page: &'a Response, parent: u32) -> impl Iterator<Item = &'a str> {
        self.on(page)
            .iter()
            .filter(move |hit| hit.parent == Some(parent))
            .map(|hit| hit.value.as_str())
    }

    /// This query's matches on `page` (none if nothing was extracted).
    fn on<'a>(&self, page: &'a Response) -> &'a [Hit] {
        page.extracted_ok().map_or(&[], |found| self.hits(found))
    }
}

impl Response {
    /// What the host extracted, if the request asked for it: `Err` when it
    /// could not (a page too large, not HTML, a selector it refused).
    pub fn extracted(&self) -> Option<Result<&Extracted, &ExtractError>> {
        self.extracted.as_ref().map(Result::as_ref)
    }

    fn extracted_ok(&self) -> Option<&Extracted> {
        self.extracted
            .as_ref()
            .and_then(|found| found.as_ref().ok())
    }

    /// The links the host extracted (empty if it extracted none).
    pub fn links(&self) -> &[Link] {
        self.extracted_ok()
            .map_or(&[], |found| found.links.as_slice())
    }
}

impl ExtractError {
    /// The kind of failure, e.g. `"invalid-selector"` (the WIT case name).
    pub fn kind(&self) -> &'static str {
        match self {
            ExtractError::InvalidSelector(_) => "invalid-selector",
            ExtractError::InvalidPattern(_) => "invalid-pattern",
            ExtractError::InvalidParent(_) => "invalid-parent",
            ExtractError::TooLarge(_) => "too-large",
            ExtractError::Timeout(_) => "timeout",
            ExtractError::Other(_) => "other",
        }
    }

    /// The host's description of what failed.
    pub fn message(&self) -> &str {
        match self {
            ExtractError::InvalidSelector(m)
            | ExtractError::InvalidPattern(m)
            | ExtractError::InvalidParent(m)
            | ExtractError::TooLarge(m)
            | ExtractError::Timeout(m)
            | ExtractError::Other(m) => m,
        }
    }
}
