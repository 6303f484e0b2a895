//! HTML extraction for crawlbox: the links and CSS selections a plugin asks
//! for, taken from a page natively, once, on threads beside the plugin's.
//!
//! A plugin (in any language) names what it wants from a page in an
//! [`Extraction`]: a [`LinkRule`] for the page's links, and CSS [`Query`]s
//! in the style of Scrapy's selectors (`h1::text`, `a::attr(href)`, and
//! queries nested inside another's matches). [`Plan::compile`] checks it
//! once: a selector or pattern that does not parse is refused with a
//! message naming it. [`Plan::extract`] then runs a page through it and
//! returns the [`Extracted`] links and matches.
//!
//! ```
//! use crawlbox_extract::{Extraction, LinkRule, Limits, Plan, Query};
//!
//! let plan = Plan::compile(&Extraction {
//!     links: Some(LinkRule { same_host: true, ..LinkRule::default() }),
//!     queries: vec![
//!         Query::new("title::text"),
//!         Query::new(".product"),
//!         Query::inside(1, ".name::text"),
//!     ],
//!     keep_body: false,
//! })?;
//! let page = r#"<title>Shop</title>
//!     <div class=product><span class=name>Tea</span><a href="/tea#top">tea</a></div>
//!     <a href="https://elsewhere.example/">away</a>"#;
//! let url = "https://shop.example/".parse()?;
//! let found = plan.extract(page, &url, &Limits::default())?;
//! assert_eq!(found.matches[0][0].value, "Shop");
//! assert_eq!(found.matches[2][0].value, "Tea");
//! assert_eq!(found.matches[2][0].parent, Some(0));
//! assert_eq!(found.links.len(), 1);
//! assert_eq!(found.links[0].url, "https://shop.example/tea");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The parser
//!
//! Pages are parsed with [lol-html], a streaming HTML tokenizer with CSS
//! selector matching, chosen by measuring it on real pages: on rustdoc
//! pages it reads `a[href]` at about 330 MB/s on one core, against 74 MB/s
//! for `scraper` (html5ever, which builds a tree), and the native crawler
//! built on it was the fastest one measured. It builds no tree, which
//! shapes what a query can say (see the selectors listed in the WIT) and
//! how missing end tags are read: a match whose end tag never comes ends
//! where the page ends.
//!
//! # Limits
//!
//! A page costs the host at most what [`Limits`] allow, whatever the plugin
//! asks: the bytes parsed, the bytes extracted (past which the result is
//! cut and marked `truncated`), and the time per page (past which the page
//! fails with [`ExtractError::Timeout`]). The work runs on an
//! [`Extractor`]: a fixed set of threads with a bound on the pages waiting,
//! so that parsing never runs on the thread that does network I/O or the
//! one that runs plugins.
//!
//! [lol-html]: https://github.com/cloudflare/lol-html

mod page;
mod pool;
mod spec;

use std::time::Duration;

pub use page::{Extracted, Hit, Link, MAX_LINK_TEXT};
pub use pool::{Extractor, Tenant};
pub use spec::{Extraction, LinkRule, MAX_PATTERN_BYTES, MAX_QUERIES, MAX_SPEC_BYTES, Plan, Query};

/// What one page may cost the host, whatever the plugin asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest page parsed; a larger one fails with `too-large`.
    pub max_input_bytes: usize,
    /// Bytes of links and matches kept from one page; past them the
    /// result is cut and marked `truncated`.
    pub max_output_bytes: usize,
    /// Time to parse one page; past it the page fails with `timeout`.
    pub max_time: Duration,
}

impl Limits {
    /// Default [`Limits::max_input_bytes`]: 16 MiB, the default limit on a
    /// response body.
    pub const DEFAULT_MAX_INPUT_BYTES: usize = 16 << 20;
    /// Default [`Limits::max_output_bytes`]: 8 MiB.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 8 << 20;
    /// Default [`Limits::max_time`]: 2 seconds, about 100 times what a 10 MB
    /// page takes.
    pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(2);
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: Self::DEFAULT_MAX_INPUT_BYTES,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            max_time: Self::DEFAULT_MAX_TIME,
        }
    }
}

/// Why a page could not be extracted: the WIT `extract-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// A selector does not parse, or uses what lol-html does not support.
    #[error("invalid selector: {0}")]
    InvalidSelector(String),
    /// A link pattern is not a regular expression.
    #[error("invalid pattern: {0}")]
    InvalidPattern(String),
    /// A query's `parent` is not an earlier query.
    #[error("invalid parent: {0}")]
    InvalidParent(String),
    /// The page is larger than [`Limits::max_input_bytes`].
    #[error("{0}")]
    TooLarge(String),
    /// Parsing took longer than [`Limits::max_time`].
    #[error("{0}")]
    Timeout(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
