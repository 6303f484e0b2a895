//! Spiders: plugins whose crawl the host drives (the `crawlbox:plugin/spider`
//! world, Scrapy's model).
//!
//! A spider says where to start and what each page yields; the host owns
//! everything else: the frontier (dedup, order, page and depth limits), the
//! fetching under its caps and politeness, and resuming a crawl after a
//! crash (`crawlbox crawl --state DIR`) or sharing it between machines
//! (`--redis URL`). Run one with `crawlbox crawl spider.wasm`.
//!
//! Implement [`Spider`] and name the type in [`export_spider!`]:
//!
//! ```no_run
//! use crawlbox_guest::spider::{Follow, Output, Spider};
//! use crawlbox_guest::{Extract, LinkRule, Request, Response};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Input { start: Vec<String> }
//!
//! #[derive(Serialize)]
//! struct Page { url: String, title: Option<String> }
//!
//! /// What every request asks the host to extract: the title and the
//! /// same-host links, without the body.
//! fn request_for(url: &str) -> Request {
//!     let mut what = Extract::new().links(LinkRule { same_host: true, ..Default::default() });
//!     what.css("title::text");
//!     Request::get(url).extract(&what)
//! }
//!
//! struct Site;
//!
//! impl Spider for Site {
//!     type Input = Input;
//!     type Item = Page;
//!     type Meta = ();
//!
//!     fn start(input: Input) -> crawlbox_guest::Result<Vec<Follow<()>>> {
//!         Ok(input.start.iter().map(|url| Follow::new(request_for(url))).collect())
//!     }
//!
//!     fn parse(page: Response, _meta: ()) -> crawlbox_guest::Result<Output<Page, ()>> {
//!         let title = page.extracted().and_then(Result::ok)
//!             .and_then(|found| found.matches.first()?.first().map(|hit| hit.value.clone()));
//!         Ok(Output::new()
//!             .item(Page { url: page.url, title })
//!             // Follow every link the host extracted, each as this request.
//!             .follow_links(Follow::new(request_for(""))))
//!     }
//! }
//!
//! crawlbox_guest::export_spider!(Site);
//! ```
//!
//! **Typed follows.** A follow carries a [`Spider::Meta`] value that comes
//! back to `parse` with its page: the category a product page belongs to,
//! the search a result page came from. It travels as JSON through the
//! host's frontier (and through Redis, and a crawl's state on disk), so a
//! resumed crawl hands back the same values. Start requests, and follows
//! whose meta is [`Default`], travel as an empty note.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Context, Request, Response, Result};

/// Raw bindings of the `crawlbox:plugin/spider` world. Its imports are
/// those of [`crate::bindings`] (the same `Request` and `Response` types);
/// prefer the items of this module.
#[allow(missing_docs, missing_debug_implementations, unused_qualifications)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "crawlbox:plugin/spider",
        pub_export_macro: true,
        export_macro_name: "export_spider_world",
        default_bindings_module: "crawlbox_guest::spider::bindings",
        with: {
            "crawlbox:plugin/host@0.2.1": crate::bindings::crawlbox::plugin::host,
            "crawlbox:plugin/html@0.2.1": crate::bindings::crawlbox::plugin::html,
        },
        generate_all,
    });
}

use bindings::crawlbox::plugin::spider_types as wit;

/// A spider. Implement it and name the type in [`export_spider!`].
pub trait Spider {
    /// The run's input (`--input JSON`, or the manifest's `input`), parsed
    /// from JSON: a struct of yours, or [`serde_json::Value`]. With no
    /// input the JSON is `null`: use an `Option` to accept that.
    type Input: DeserializeOwned;
    /// The records `parse` yields, each written as one line of JSON.
    type Item: Serialize;
    /// What a follow carries back to the `parse` of its page (`()` for
    /// nothing). Start requests get `Meta::default()`.
    type Meta: Serialize + DeserializeOwned + Default;

    /// The first requests. An error ends the crawl with its message.
    fn start(input: Self::Input) -> Result<Vec<Follow<Self::Meta>>>;

    /// One fetched page (any status: check [`Response::status`]) and the
    /// meta of the follow that led to it: its items and where to go next.
    /// An error fails this page only (logged, counted); the crawl goes on.
    fn parse(page: Response, meta: Self::Meta) -> Result<Output<Self::Item, Self::Meta>>;
}

/// A request to make, with what it carries back to `parse`.
#[derive(Debug, Clone)]
pub struct Follow<M> {
    /// The request (its extraction, headers, body and timeout are kept
    /// through the frontier).
    pub request: Request,
    /// Handed back to `parse` with the response.
    pub meta: M,
    /// Higher is fetched sooner; `None` is 0. Equal priorities go
    /// breadth-first.
    pub priority: Option<i32>,
}

impl<M: Default> Follow<M> {
    /// A follow of `request` with the default meta and priority.
    pub fn new(request: impl Into<Request>) -> Self {
        Follow {
            request: request.into(),
            meta: M::default(),
            priority: None,
        }
    }
}

impl<M> Follow<M> {
    /// Sets the meta handed back to `parse` with this request's page.
    pub fn meta<N>(self, meta: N) -> Follow<N> {
        Follow {
            request: self.request,
            meta,
            priority: self.priority,
        }
    }

    /// Sets the priority (higher is sooner).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }
}

impl<M: Default> From<Request> for Follow<M> {
    fn from(request: Request) -> Self {
        Follow::new(request)
    }
}

impl<M: Default> From<&str> for Follow<M> {
    fn from(url: &str) -> Self {
        Follow::new(Request::get(url))
    }
}

impl<M: Default> From<String> for Follow<M> {
    fn from(url: String) -> Self {
        Follow::new(Request::get(url))
    }
}

/// What a page yields: items, follows, and whether to follow its links.
#[derive(Debug)]
pub struct Output<I, M> {
    /// Records, in order.
    pub items: Vec<I>,
    /// Requests to make next. The host drops those it has seen (same
    /// method, canonical URL and body), those past the crawl's limits and
    /// those its policy denies.
    pub follow: Vec<Follow<M>>,
    /// Follow every link the host extracted from this page too: see
    /// [`Output::follow_links`].
    pub follow_links: Option<Follow<M>>,
}

impl<I, M> Default for Output<I, M> {
    fn default() -> Self {
        Output {
            items: Vec::new(),
            follow: Vec::new(),
            follow_links: None,
        }
    }
}

impl<I, M> Output<I, M> {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an item.
    pub fn item(mut self, item: I) -> Self {
        self.items.push(item);
        self
    }

    /// Adds items.
    pub fn items(mut self, items: impl IntoIterator<Item = I>) -> Self {
        self.items.extend(items);
        self
    }

    /// Adds a follow: a [`Follow`], a [`Request`] or a URL.
    pub fn follow(mut self, follow: impl Into<Follow<M>>) -> Self {
        self.follow.push(follow.into());
        self
    }

    /// Adds follows.
    pub fn follows<F: Into<Follow<M>>>(mut self, follows: impl IntoIterator<Item = F>) -> Self {
        self.follow.extend(follows.into_iter().map(Into::into));
        self
    }

    /// Follows every link the host extracted from this page (the
    /// [`Response::links`] its request's [`LinkRule`](crate::LinkRule)
    /// kept), each as a copy of `template` with the link as its URL (the
    /// template's own URL is not used). The links never cross into the
    /// plugin: the common case of a crawl in one small call.
    pub fn follow_links(mut self, template: impl Into<Follow<M>>) -> Self {
        self.follow_links = Some(template.into());
        self
    }
}

/// The meta of a follow as it travels: JSON, or "" for the default value
/// (what start requests get).
fn encode_meta<M: Serialize + Default>(meta: &M) -> Result<String> {
    let json = serde_json::to_string(meta).context("the follow's meta is not serialisable")?;
    let default = serde_json::to_string(&M::default()).unwrap_or_default();
    Ok(if json == default { String::new() } else { json })
}

fn decode_meta<M: DeserializeOwned + Default>(meta: &str) -> Result<M> {
    if meta.is_empty() {
        return Ok(M::default());
    }
    serde_json::from_str(meta).with_context(|| {
        format!("the page's meta {meta} is not the spider's Meta type (was it written by another version of the spider?)")
    })
}

fn to_wit<M: Serialize + Default>(follow: Follow<M>) -> Result<wit::Follow> {
    Ok(wit::Follow {
        meta: encode_meta(&follow.meta)?,
        request: follow.request,
        priority: follow.priority,
    })
}

/// `start` across the WIT boundary: what [`export_spider!`] exports.
#[doc(hidden)]
pub fn start_of<S: Spider>(input: &str) -> Result<Vec<Request>, String> {
    let run = || -> Result<Vec<Request>> {
        let input: S::Input = crate::parse_input(input)?;
        let follows = S::start(input)?;
        // The WIT's start requests carry no meta or priority: a start
        // request with either is refused rather than silently stripped.
        follows
            .into_iter()
            .map(|follow| {
                let wit = to_wit(follow)?;
                if !wit.meta.is_empty() || wit.priority.is_some() {
                    crate::bail!(
                        "start request {} has a meta or priority: start requests take neither \
                         (give them to the follows `parse` yields)",
                        wit.request.url
                    );
                }
                Ok(wit.request)
            })
            .collect()
    };
    run().map_err(|e| format!("{e:#}"))
}

/// `parse` across the WIT boundary: what [`export_spider!`] exports.
#[doc(hidden)]
pub fn parse_of<S: Spider>(page: Response, meta: &str) -> Result<wit::ParseOutput, String> {
    let run = || -> Result<wit::ParseOutput> {
        let url = page.url.clone();
        let meta = decode_meta::<S::Meta>(meta)?;
        let output = S::parse(page, meta)?;
        let items = output
            .items
            .iter()
            .map(|item| {
                serde_json::to_string(item)
                    .with_context(|| format!("an item of {url} is not serialisable to JSON"))
            })
            .collect::<Result<_>>()?;
        Ok(wit::ParseOutput {
            items,
            follow: output
                .follow
                .into_iter()
                .map(to_wit)
                .collect::<Result<_>>()?,
            follow_links: output.follow_links.map(to_wit).transpose()?,
        })
    };
    run().map_err(|e| format!("{e:#}"))
}

/// Exports a [`Spider`] implementation as the component's `start` and
/// `parse` functions (the `crawlbox:plugin/spider` world).
#[macro_export]
macro_rules! export_spider {
    ($spider:ty) => {
        const _: () = {
            struct __CrawlboxSpiderExport;
            impl $crate::spider::bindings::Guest for __CrawlboxSpiderExport {
                fn start(
                    input: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::Request>,
                    ::std::string::String,
                > {
                    $crate::spider::start_of::<$spider>(&input)
                }
                fn parse(
                    resp: $crate::Response,
                    meta: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::spider::bindings::crawlbox::plugin::spider_types::ParseOutput,
                    ::std::string::String,
                > {
                    $crate::spider::parse_of::<$spider>(resp, &meta)
                }
            }
            $crate::spider::bindings::export_spider_world!(__CrawlboxSpiderExport with_types_in $crate::spider::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Default, Debug, PartialEq)]
    struct Note {
        category: String,
    }

    #[test]
    fn default_meta_travels_as_an_empty_note() {
        assert_eq!(encode_meta(&()).unwrap(), "");
        assert_eq!(encode_meta(&Note::default()).unwrap(), "");
        let note = Note {
            category: "books".into(),
        };
        let json = encode_meta(&note).unwrap();
        assert_eq!(json, r#"{"category":"books"}"#);
        assert_eq!(decode_meta::<Note>(&json).unwrap(), note);
        assert_eq!(decode_meta::<Note>("").unwrap(), Note::default());
        let err = decode_meta::<Note>("[1]").unwrap_err();
        assert!(
            format!("{err:#}").contains("not the spider's Meta type"),
            "{err:#}"
        );
    }

    #[test]
    fn follows_build_fluently() {
        let follow: Follow<()> = "http://a/".into();
        let follow = follow.meta(Note {
            category: "x".into(),
        });
        let follow = follow.priority(3);
        assert_eq!(follow.request.url, "http://a/");
        assert_eq!(follow.priority, Some(3));
        let wit = to_wit(follow).unwrap();
        assert_eq!(wit.meta, r#"{"category":"x"}"#);
        let output: Output<u32, ()> = Output::new()
            .item(1)
            .items([2, 3])
            .follow("http://b/")
            .follow_links(Request::get(""));
        assert_eq!(output.items, [1, 2, 3]);
        assert_eq!(output.follow.len(), 1);
        assert!(output.follow_links.is_some());
    }
}
