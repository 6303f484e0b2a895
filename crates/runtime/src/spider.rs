//! A spider instance: what a crawl loop (the `crawlbox-crawl` crate) drives.
//!
//! A spider is a component of the `crawlbox:plugin/spider` world: it gives
//! its start requests (`start`) and reads each page the host fetched for it
//! (`parse`), yielding items and follow requests. [`Runtime::spider`]
//! instantiates one under a [`RunSpec`]'s limits; the crawl loop owns the
//! frontier, the fetching and the commits.
//!
//! What the spider yields is converted at this boundary, once: a yielded
//! request becomes a [`crawlbox_net::Request`] (the one request model, kept
//! as it is in a crawl's frontier) in [`Yielded::admit`], items are checked
//! to be single JSON values in [`Spider::parse`], and they are charged to
//! the run's record limits in [`ItemBudget::fit`].

use crawlbox_net::{FetchError, Request, Session};

use crate::engine::PluginKind;
use crate::host::crawlbox::plugin::host as wit;
use crate::host::spider as bindings;
use crate::host::to_wit_response;
use crate::output::escape_untrusted;
use crate::run::{Stores, new_store};
use crate::shared::RunShared;
use crate::state::{PluginState, record_line};
use crate::{Outcome, RunSpec, Runtime};

/// A request a spider yielded (a start request or a follow), as it yielded
/// it: [`Yielded::admit`] makes it a [`Follow`].
#[derive(Debug)]
pub struct Yielded {
    request: Pending,
    /// Data for the `parse` of its page.
    pub meta: String,
    /// Higher first (`none`: 0).
    pub priority: i32,
}

/// A yielded request: as the spider wrote it, or, for a link the host
/// extracted and the spider followed with `follow-links`, built from the
/// follow's template already.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "the large one is the common one; the other is boxed"
)]
enum Pending {
    Wit(wit::Request),
    /// Boxed: a page may yield 10,000 follows, and most are of the other
    /// kind (held as the spider wrote them until admitted).
    Link(Box<(Result<Request, FetchError>, String)>),
}

impl Yielded {
    /// The URL as the spider wrote it (or the host extracted it).
    pub fn url(&self) -> &str {
        match &self.request {
            Pending::Wit(request) => &request.url,
            Pending::Link(link) => &link.1,
        }
    }
}

/// A yielded request the run's policy admits, ready for a frontier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    /// The request, with every field the spider set.
    pub request: Request,
    /// Data for the `parse` of its page.
    pub meta: String,
    /// Higher first.
    pub priority: i32,
}

/// What `parse` made of a page.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The items that are single JSON values, as output lines (the others
    /// were logged and dropped).
    pub items: Vec<String>,
    /// Its follow requests, in the order yielded.
    pub follows: Vec<Yielded>,
}

/// A running spider instance, made by [`Runtime::spider`] for a crawl loop
/// (the `crawlbox-crawl` crate) to drive.
///
/// An instance owns its store and may move to another thread: a crawl
/// parses on several [`sibling`](Self::sibling)s at once, which share the
/// run's limits (records, CPU time, log; memory is each instance's own).
pub struct Spider {
    stores: Stores,
    spec: RunSpec,
    shared: RunShared,
    pre: bindings::SpiderPre<PluginState>,
    store: wasmtime::Store<PluginState>,
    instance: bindings::Spider,
}

impl std::fmt::Debug for Spider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spider")
            .field("plugin", &self.spec.plugin)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Instantiates the spider of `spec` under its limits. `Err`: it is no
    /// spider, or it trapped while starting (the outcome of the run).
    pub async fn spider(&self, spec: &RunSpec) -> Result<Spider, Outcome> {
        let PluginKind::Spider(pre) = &spec.plugin.kind else {
            return Err(Outcome::Failed(format!(
                "{} is not a spider: it does not export `start` and `parse` \
                 (the crawlbox:plugin/spider world); run it with `crawlbox run`",
                spec.plugin.name
            )));
        };
        Spider::instantiate(
            self.stores(),
            spec.clone(),
            RunShared::new(spec),
            pre.clone(),
        )
        .await
    }
}

impl Spider {
    async fn instantiate(
        stores: Stores,
        spec: RunSpec,
        shared: RunShared,
        pre: bindings::SpiderPre<PluginState>,
    ) -> Result<Spider, Outcome> {
        let mut store = new_store(&stores, &spec, None, shared.clone());
        let instance = match pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(trap) => return Err(trap_outcome(&mut store, &trap)),
        };
        Ok(Spider {
            stores,
            spec,
            shared,
            pre,
            store,
            instance,
        })
    }

    /// Another instance of the same spider in the same run, sharing its
    /// limits. It is not started: call [`start`](Self::start) if the spider
    /// keeps what `start` is given.
    pub async fn sibling(&self) -> Result<Spider, Outcome> {
        Spider::instantiate(
            self.stores.clone(),
            self.spec.clone(),
            self.shared.clone(),
            self.pre.clone(),
        )
        .await
    }

    /// The run's record budget, to charge items with
    /// ([`ItemBudget::fit`]) away from the instance.
    pub fn item_budget(&self) -> ItemBudget {
        ItemBudget(self.shared.clone())
    }

    /// The spider's name.
    pub fn name(&self) -> &str {
        &self.spec.plugin.name
    }

    /// Asks the spider for its start requests: `start` with the run's input
    /// (`null` when there is none). `Err`: the run ends so.
    pub async fn start(&mut self) -> Result<Vec<Yielded>, Outcome> {
        let json = self.spec.input.json_or_null().to_owned();
        match self.instance.call_start(&mut self.store, &json).await {
            Ok(Ok(requests)) => Ok(requests
                .into_iter()
                .map(|request| Yielded {
                    request: Pending::Wit(request),
                    meta: String::new(),
                    priority: 0,
                })
                .collect()),
            Ok(Err(message)) => Err(Outcome::Failed(message)),
            Err(trap) => Err(trap_outcome(&mut self.store, &trap)),
        }
    }

    /// Hands a fetched page to the spider's `parse`. `Ok(Err(why))`: the
    /// page failed (its fetch or its `parse`; logged); `Err`: the spider
    /// trapped and the run ends so.
    pub async fn parse(
        &mut self,
        url: &str,
        fetched: Result<crawlbox_net::Response, FetchError>,
        meta: &str,
    ) -> Result<Result<Parsed, String>, Outcome> {
        let plugin = &*self.spec.plugin.name;
        let response = match fetched {
            Ok(response) => {
                self.shared.charge_host_cpu(response.extract_time);
                to_wit_response(response)
            }
            Err(err) => {
                let text = format!("{url}: {err}");
                tracing::warn!(target: "plugin", plugin, "{}", escape_untrusted(&text));
                return Ok(Err(err.to_string()));
            }
        };
        match self
            .instance
            .call_parse(&mut self.store, &response, meta)
            .await
        {
            Ok(Ok(output)) => {
                let mut follows: Vec<Yielded> = output
                    .follow
                    .into_iter()
                    .map(|follow| Yielded {
                        request: Pending::Wit(follow.request),
                        meta: follow.meta,
                        priority: follow.priority.unwrap_or(0),
                    })
                    .collect();
                // The spider only borrowed the response: its links are
                // still here for a `follow-links`.
                if let Some(template) = output.follow_links
                    && let Some(Ok(found)) = response.extracted
                {
                    let links = found.links.into_iter().map(|link| link.url);
                    follows_of_links(template, links, &mut follows);
                }
                Ok(Ok(Parsed {
                    items: valid_items(plugin, url, output.items),
                    follows,
                }))
            }
            Ok(Err(message)) => {
                let text = format!("parse {url}: {message}");
                tracing::warn!(target: "plugin", plugin, "{}", escape_untrusted(&text));
                Ok(Err(message))
            }
            Err(trap) => Err(trap_outcome(&mut self.store, &trap)),
        }
    }

    /// Replaces the instance by a fresh one (isolates pages from one
    /// another; slower). The record limits stay the run's, not the
    /// instance's.
    pub async fn renew(&mut self) -> Result<(), Outcome> {
        *self = Spider::instantiate(
            self.stores.clone(),
            self.spec.clone(),
            self.shared.clone(),
            self.pre.clone(),
        )
        .await?;
        Ok(())
    }
}

/// A run's record limits (`--max-records`, `--max-output`), shared by its
/// instances and with what they `emit`. Cheap to clone.
#[derive(Clone)]
pub struct ItemBudget(RunShared);

impl std::fmt::Debug for ItemBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemBudget")
            .field("records", &self.0.records())
            .finish()
    }
}

impl ItemBudget {
    /// Keeps the items of the page at `url` that fit in the run's record
    /// limits and charges them; `Some(why)` when some did not fit: the
    /// crawl then ends, once the page is committed with the items that fit.
    /// The others are dropped (a resumed crawl does not fetch the page
    /// again).
    pub fn fit(&self, url: &str, items: &mut Vec<String>) -> Option<String> {
        self.0.fit_items(url, items)
    }
}

impl Yielded {
    /// The request as a frontier keeps it, unless it is no valid request or
    /// the policy of `session` denies it (counted in the session's stats;
    /// logged at debug level).
    pub fn admit(self, session: &Session) -> Option<Follow> {
        let built = match self.request {
            Pending::Wit(request) => Request::try_from(request),
            Pending::Link(link) => link.0,
        };
        let request = match built {
            Ok(request) => request,
            Err(err) => {
                let text = err.to_string();
                tracing::debug!(target: "plugin", "not queued: {}", escape_untrusted(&text));
                return None;
            }
        };
        if let Err(err) = session.config().egress.check_url(&request.url) {
            session.stats().record_error(err.kind);
            let text = err.to_string();
            tracing::debug!(target: "plugin", "not queued: {}", escape_untrusted(&text));
            return None;
        }
        Some(Follow {
            request,
            meta: self.meta,
            priority: self.priority,
        })
    }
}

/// A `follow-links`: each extracted link as a copy of the template, which
/// is checked once, not once per link.
fn follows_of_links(
    template: bindings::crawlbox::plugin::spider_types::Follow,
    links: impl ExactSizeIterator<Item = String>,
    follows: &mut Vec<Yielded>,
) {
    let priority = template.priority.unwrap_or(0);
    // The template's URL is replaced by each link's: check the rest.
    let mut request = template.request;
    request.url = "http://template.invalid/".into();
    let built = Request::try_from(request);
    follows.reserve(links.len());
    for link in links {
        let request = match &built {
            Ok(template) => Request::new(template.method.as_str(), &link).map(|request| Request {
                url: request.url,
                ..template.clone()
            }),
            Err(err) => Err(err.clone()),
        };
        follows.push(Yielded {
            request: Pending::Link(Box::new((request, link))),
            meta: template.meta.clone(),
            priority,
        });
    }
}

/// The items of a page that are valid JSON, as output lines; the others
/// are logged and dropped.
fn valid_items(plugin: &str, url: &str, items: Vec<String>) -> Vec<String> {
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        match record_line(item) {
            Ok(line) => lines.push(line),
            Err(e) => tracing::warn!(
                target: "plugin",
                plugin,
                "dropped an item of {}: {e}",
                escape_untrusted(url)
            ),
        }
    }
    lines
}

fn trap_outcome(store: &mut wasmtime::Store<PluginState>, trap: &wasmtime::Error) -> Outcome {
    store
        .data_mut()
        .stopped
        .take()
        .unwrap_or_else(|| Outcome::Trapped(crate::run::describe_trap(trap)))
}
