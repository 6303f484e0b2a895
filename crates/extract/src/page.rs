//! One page through a [`Plan`]: the streaming parse and what it collects.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use lol_html::html_content::{Element, EndTag, TextChunk, TextType};
use lol_html::{ElementContentHandlers, HandlerResult, HtmlRewriter, MemorySettings, Settings};
use url::Url;

use crate::spec::{LinkFilter, Plan, Take};
use crate::{ExtractError, Limits};

/// A link of a page: the WIT `link`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Absolute, without a fragment.
    pub url: String,
    /// The anchor's text, whitespace collapsed (an `<area>`'s `alt`).
    pub text: String,
    /// The `rel` attribute as written; empty when absent.
    pub rel: String,
}

/// One match of a query: the WIT `hit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// For a nested query, the index of the parent's match it is inside.
    pub parent: Option<u32>,
    /// The text, attribute value or markup taken.
    pub value: String,
}

/// What a plan extracted from a page: the WIT `extracted`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The links the rule kept.
    pub links: Vec<Link>,
    /// Each query's matches, in page order.
    pub matches: Vec<Vec<Hit>>,
    /// The output limit was reached; the lists hold what came before it.
    pub truncated: bool,
}

impl Extracted {
    /// Bytes of strings held, as charged against [`Limits::max_output_bytes`].
    pub fn size(&self) -> usize {
        let links: usize = self
            .links
            .iter()
            .map(|l| l.url.len() + l.text.len() + l.rel.len() + PER_ITEM)
            .sum();
        let hits: usize = self
            .matches
            .iter()
            .flatten()
            .map(|h| h.value.len() + PER_ITEM)
            .sum();
        links + hits
    }
}

/// What one link or hit costs beyond its strings: a plugin that asks for
/// a million empty matches pays for them.
const PER_ITEM: usize = 32;

/// Bytes of input handed to the parser at a time; the clock is read
/// between them.
const CHUNK: usize = 16 * 1024;

/// Handler calls between two readings of the clock.
const CLOCK_EVERY: u32 = 256;

/// The longest anchor text kept for a link, in bytes.
pub const MAX_LINK_TEXT: usize = 1024;

impl Plan {
    /// Parses `html`, a page whose final URL is `url`, and extracts what
    /// the plan asks for, within `limits`.
    pub fn extract(
        &self,
        html: &str,
        url: &Url,
        limits: &Limits,
    ) -> Result<Extracted, ExtractError> {
        if html.len() > limits.max_input_bytes {
            return Err(ExtractError::TooLarge(format!(
                "{url}: the page is {} bytes; the host parses at most {} bytes of a page",
                html.len(),
                limits.max_input_bytes
            )));
        }
        let started = Instant::now();
        let state = Rc::new(RefCell::new(State::new(self, limits, started)));
        let mut handlers = Vec::new();
        if let Some(filter) = &self.links {
            link_handlers(&state, filter, &mut handlers);
        }
        step_handlers(&state, self, &mut handlers);
        let settings = Settings {
            element_content_handlers: handlers,
            // Best effort on markup a tokenizer cannot be sure of, as a
            // scraper wants, rather than giving up on the page.
            strict: false,
            memory_settings: MemorySettings {
                max_allowed_memory_usage: limits.max_input_bytes.saturating_mul(2).max(1 << 20),
                ..MemorySettings::new()
            },
            ..Settings::new()
        };
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        let over = |state: &Rc<RefCell<State>>| state.borrow().stop;
        // A handler that stopped on the clock makes lol-html fail too.
        let failed =
            |state: &Rc<RefCell<State>>, err: lol_html::errors::RewritingError| match over(state) {
                Some(Stop::Timeout) => timeout(url, limits.max_time),
                _ => other(url, &err),
            };
        for chunk in html.as_bytes().chunks(CHUNK) {
            if let Err(err) = rewriter.write(chunk) {
                return Err(failed(&state, err));
            }
            if started.elapsed() > limits.max_time {
                return Err(timeout(url, limits.max_time));
            }
            if state.borrow().stop.is_some() {
                break;
            }
        }
        match over(&state) {
            Some(Stop::Timeout) => return Err(timeout(url, limits.max_time)),
            Some(Stop::Output) => drop(rewriter),
            None => {
                if let Err(err) = rewriter.end() {
                    return Err(failed(&state, err));
                }
            }
        }
        let state = Rc::try_unwrap(state)
            .map_err(|_| ExtractError::Other(format!("{url}: the parser kept its state")))?
            .into_inner();
        Ok(state.finish(self, html, url))
    }
}

fn timeout(url: &Url, limit: Duration) -> ExtractError {
    ExtractError::Timeout(format!(
        "{url}: parsing the page took longer than the host's limit of {limit:?} a page"
    ))
}

fn other(url: &Url, err: &lol_html::errors::RewritingError) -> ExtractError {
    ExtractError::Other(format!("{url}: the HTML parser gave up: {err}"))
}

/// A link as the page wrote it, before resolving.
struct RawLink {
    href: String,
    text: String,
    rel: String,
}

/// One match being collected.
struct OpenHit {
    parent: Option<u32>,
    value: String,
    /// Text of the current text node, entities not yet decoded.
    pending: String,
    /// Where the element's start tag begins and ends in the page.
    start_tag: (usize, usize),
    /// The markup taken, as a range of the page (cut when the parse ends).
    markup: Option<(usize, usize)>,
}

/// A match closed: its markup is cut from the page at the end.
#[derive(Default)]
struct Done {
    parent: Option<u32>,
    value: String,
    markup: Option<(usize, usize)>,
}

/// Why the parse stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The output limit: what came before is kept.
    Output,
    /// The time limit: the page fails.
    Timeout,
}

/// An element open for a query: the match it made (if any), and where its
/// start tag began.
#[derive(Debug, Clone, Copy)]
struct Open {
    hit: Option<usize>,
    at: usize,
}

struct State {
    limits: Limits,
    started: Instant,
    calls: u32,
    /// Set when the output limit is reached or the clock ran out.
    stop: Option<Stop>,
    truncated: bool,
    output: usize,
    /// Per query: every match, in page order (`None` while still open).
    hits: Vec<Vec<Option<OpenHit>>>,
    done: Vec<Vec<Done>>,
    /// Per query: the elements open that it matched (innermost last).
    open: Vec<Vec<Open>>,
    /// Per query: the match made at the element it matched last.
    last: Vec<Option<usize>>,
    /// Per query: where the element it matched last, and the text chunk
    /// it took last, begin (two selectors of a list may match one).
    last_at: Vec<Option<usize>>,
    last_text_at: Vec<Option<usize>>,
    /// Per step that is not last in its chain: its open elements
    /// (innermost last; `hit` is `Some` for a valid one), and how many
    /// of them are valid.
    step_open: Vec<Vec<Open>>,
    step_valid: Vec<usize>,
    links: Vec<RawLink>,
    /// Output charged for `links`, given back when they are resolved.
    raw_link_bytes: usize,
    /// The link whose anchor text is being read.
    link_open: Option<usize>,
    base: Option<String>,
    page_nofollow: bool,
}

impl State {
    fn new(plan: &Plan, limits: &Limits, started: Instant) -> Self {
        let queries = plan.queries.len();
        Self {
            limits: limits.clone(),
            started,
            calls: 0,
            stop: None,
            truncated: false,
            output: 0,
            hits: (0..queries).map(|_| Vec::new()).collect(),
            done: (0..queries).map(|_| Vec::new()).collect(),
            open: (0..queries).map(|_| Vec::new()).collect(),
            last: vec![None; queries],
            last_at: vec![None; queries],
            last_text_at: vec![None; queries],
            step_open: (0..plan.steps.len()).map(|_| Vec::new()).collect(),
            step_valid: vec![0; plan.steps.len()],
            links: Vec::new(),
            raw_link_bytes: 0,
            link_open: None,
            base: None,
            page_nofollow: false,
        }
    }

    /// Counts a handler call; false (and the parse stops) once the output
    /// limit is reached or the time is up.
    fn go_on(&mut self) -> bool {
        if self.stop.is_some() {
            return false;
        }
        self.calls += 1;
        if self.calls.is_multiple_of(CLOCK_EVERY) && self.started.elapsed() > self.limits.max_time {
            self.stop = Some(Stop::Timeout);
            return false;
        }
        true
    }

    /// Charges `bytes` of output; false once the limit is reached.
    fn charge(&mut self, bytes: usize) -> bool {
        self.output = self.output.saturating_add(bytes);
        if self.output > self.limits.max_output_bytes {
            self.truncated = true;
            self.stop = Some(Stop::Output);
            return false;
        }
        true
    }

    /// Closes query `q`'s match `index`, taking its value.
    fn close(&mut self, q: usize, index: usize, take: &Take, end_tag: Option<(usize, usize)>) {
        let Some(mut hit) = self.hits[q].get_mut(index).and_then(Option::take) else {
            return;
        };
        match take {
            Take::Text => flush_text(&mut hit),
            Take::Attr(_) => {}
            Take::OuterHtml | Take::InnerHtml => {
                let (from, to) = match (take, end_tag) {
                    (Take::OuterHtml, Some((_, end))) => (hit.start_tag.0, end),
                    (Take::OuterHtml, None) => (hit.start_tag.0, hit.start_tag.1),
                    (_, Some((start, _))) => (hit.start_tag.1, start),
                    (_, None) => (hit.start_tag.1, hit.start_tag.1),
                };
                let to = to.max(from);
                if self.charge(to - from) {
                    hit.markup = Some((from, to));
                }
            }
        }
        self.done_hit(q, index, hit);
    }

    fn done_hit(&mut self, q: usize, index: usize, hit: OpenHit) {
        // Done hits are kept in the order they opened: slot by slot.
        let done = &mut self.done[q];
        if done.len() <= index {
            done.resize_with(index + 1, Done::default);
        }
        done[index] = Done {
            parent: hit.parent,
            value: hit.value,
            markup: hit.markup,
        };
    }

    fn finish(mut self, plan: &Plan, html: &str, url: &Url) -> Extracted {
        // Elements still open at the end of the page end there.
        let eof = (html.len(), html.len());
        for (q, query) in plan.queries.iter().enumerate() {
            for index in 0..self.hits[q].len() {
                self.close(q, index, &query.take, Some(eof));
            }
        }
        let matches = std::mem::take(&mut self.done)
            .into_iter()
            .map(|hits| {
                hits.into_iter()
                    .map(|done| Hit {
                        parent: done.parent,
                        value: match done.markup {
                            Some((from, to)) => html.get(from..to).unwrap_or_default().to_owned(),
                            None => done.value,
                        },
                    })
                    .collect()
            })
            .collect();
        let links = match &plan.links {
            Some(filter) => self.resolve_links(filter, url),
            None => Vec::new(),
        };
        Extracted {
            links,
            matches,
            truncated: self.truncated,
        }
    }

    fn resolve_links(&mut self, filter: &LinkFilter, url: &Url) -> Vec<Link> {
        if filter.skip_nofollow && self.page_nofollow {
            return Vec::new();
        }
        // `<base href>` counts for the whole page, links before it too.
        let base = self
            .base
            .as_deref()
            .and_then(|base| url.join(base).ok())
            .filter(|base| matches!(base.scheme(), "http" | "https"))
            .unwrap_or_else(|| url.clone());
        // The raw links' charge becomes the resolved links'.
        self.output = self.output.saturating_sub(self.raw_link_bytes);
        let host = url.host_str();
        let mut seen = HashSet::new();
        let mut links = Vec::new();
        for raw in std::mem::take(&mut self.links) {
            let Ok(mut link) = base.join(&raw.href) else {
                continue;
            };
            if !matches!(link.scheme(), "http" | "https") || link.host_str().is_none() {
                continue;
            }
            if filter.same_host && link.host_str() != host {
                continue;
            }
            if filter.skip_nofollow
                && raw
                    .rel
                    .split_ascii_whitespace()
                    .any(|token| token.eq_ignore_ascii_case("nofollow"))
            {
                continue;
            }
            link.set_fragment(None);
            let link: String = link.into();
            if filter
                .allow
                .as_ref()
                .is_some_and(|allow| !allow.is_match(&link))
                || filter
                    .deny
                    .as_ref()
                    .is_some_and(|deny| deny.is_match(&link))
            {
                continue;
            }
            if !seen.insert(link.clone()) {
                continue;
            }
            if self
                .output
                .saturating_add(link.len() + raw.text.len() + raw.rel.len())
                > self.limits.max_output_bytes
            {
                self.truncated = true;
                break;
            }
            self.output += link.len() + raw.text.len() + raw.rel.len() + PER_ITEM;
            links.push(Link {
                url: link,
                text: collapse_whitespace(&htmlize::unescape(raw.text.as_str())),
                rel: raw.rel,
            });
        }
        links
    }
}

fn flush_text(hit: &mut OpenHit) {
    if !hit.pending.is_empty() {
        hit.value.push_str(&htmlize::unescape(hit.pending.as_str()));
        hit.pending.clear();
    }
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn attribute(el: &Element<'_, '_>, name: &str) -> Option<String> {
    el.get_attribute(name)
        .map(|value| htmlize::unescape_attribute(value.as_str()).into_owned())
}

type Handlers<'h> = Vec<(
    std::borrow::Cow<'h, lol_html::Selector>,
    ElementContentHandlers<'h>,
)>;

fn selector(text: &str) -> std::borrow::Cow<'static, lol_html::Selector> {
    #[expect(clippy::expect_used, reason = "a fixed selector of this file")]
    std::borrow::Cow::Owned(text.parse().expect("a valid fixed selector"))
}

fn link_handlers(state: &Rc<RefCell<State>>, filter: &LinkFilter, handlers: &mut Handlers<'_>) {
    let links = state.clone();
    let text = state.clone();
    handlers.push((
        selector("a[href], area[href]"),
        ElementContentHandlers::default()
            .element(move |el: &mut Element<'_, '_>| -> HandlerResult {
                let mut state = links.borrow_mut();
                if !state.go_on() {
                    return Ok(());
                }
                let href = attribute(el, "href").unwrap_or_default();
                let rel = attribute(el, "rel").unwrap_or_default();
                let is_area = el.tag_name() == "area";
                let alt = if is_area {
                    attribute(el, "alt").unwrap_or_default()
                } else {
                    String::new()
                };
                let cost = href.len() + rel.len() + alt.len() + PER_ITEM;
                if !state.charge(cost) {
                    return Ok(());
                }
                state.raw_link_bytes += cost;
                state.links.push(RawLink {
                    href,
                    text: alt,
                    rel,
                });
                if !is_area && el.can_have_content() {
                    let index = state.links.len() - 1;
                    state.link_open = Some(index);
                    let closing = links.clone();
                    el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
                        let mut state = closing.borrow_mut();
                        if state.link_open == Some(index) {
                            state.link_open = None;
                        }
                        Ok(())
                    }))?;
                }
                Ok(())
            })
            .text(move |chunk: &mut TextChunk<'_>| -> HandlerResult {
                let mut state = text.borrow_mut();
                let Some(index) = state.link_open else {
                    return Ok(());
                };
                let piece = chunk.as_str();
                let room = MAX_LINK_TEXT.saturating_sub(state.links[index].text.len());
                let piece = &piece[..piece.floor_char_boundary(room)];
                if !piece.is_empty() && state.go_on() && state.charge(piece.len()) {
                    state.raw_link_bytes += piece.len();
                    state.links[index].text.push_str(piece);
                }
                Ok(())
            }),
    ));
    let base = state.clone();
    handlers.push((
        selector("base[href]"),
        ElementContentHandlers::default().element(
            move |el: &mut Element<'_, '_>| -> HandlerResult {
                let mut state = base.borrow_mut();
                if state.base.is_none() {
                    state.base = attribute(el, "href");
                }
                Ok(())
            },
        ),
    ));
    if filter.skip_nofollow {
        let meta = state.clone();
        handlers.push((
            selector("meta[name][content]"),
            ElementContentHandlers::default().element(
                move |el: &mut Element<'_, '_>| -> HandlerResult {
                    let robots =
                        attribute(el, "name").is_some_and(|n| n.eq_ignore_ascii_case("robots"));
                    let nofollow = attribute(el, "content").is_some_and(|content| {
                        content
                            .split(|c: char| c == ',' || c.is_whitespace())
                            .any(|word| {
                                word.eq_ignore_ascii_case("nofollow")
                                    || word.eq_ignore_ascii_case("none")
                            })
                    });
                    if robots && nofollow {
                        meta.borrow_mut().page_nofollow = true;
                    }
                    Ok(())
                },
            ),
        ));
    }
}

/// What an open element of a (not last) step costs against the output
/// limit, until its end tag: a page cannot hold the host's memory with
/// elements it never closes.
const OPEN_COST: usize = 16;

fn step_handlers<'h>(state: &Rc<RefCell<State>>, plan: &'h Plan, handlers: &mut Handlers<'h>) {
    for (s, step) in plan.steps.iter().enumerate() {
        let chain = &plan.chains[step.chain];
        let last = step.at + 1 == chain.len;
        let q = chain.query;
        let shared = state.clone();
        let shape = plan;
        let mut element = ElementContentHandlers::default().element(
            move |el: &mut Element<'_, '_>| -> HandlerResult {
                let mut state = shared.borrow_mut();
                if !state.go_on() {
                    return Ok(());
                }
                let at = el.source_location().bytes();
                let valid = if step.at == 0 {
                    match shape.queries[q].parent {
                        None => true,
                        Some(p) => state.open_hit_around(p, at.start).is_some(),
                    }
                } else {
                    state.valid_around(s - 1, at.start)
                };
                if !last {
                    return state.open_step(s, valid, at.start, el, &shared);
                }
                if valid {
                    state.hit(shape, q, el, (at.start, at.end), &shared)?;
                }
                Ok(())
            },
        );
        if last {
            let texts: Vec<usize> = std::iter::once(q)
                .chain(plan.queries[q].on_self.iter().copied())
                .filter(|&q| plan.queries[q].take == Take::Text)
                .collect();
            if !texts.is_empty() {
                let shared = state.clone();
                element = element.text(move |chunk: &mut TextChunk<'_>| -> HandlerResult {
                    shared.borrow_mut().text(&texts, chunk);
                    Ok(())
                });
            }
        }
        handlers.push((std::borrow::Cow::Borrowed(&step.selector), element));
    }
}

impl State {
    /// The innermost open match of query `q` around the element at `at`
    /// (not that element itself).
    fn open_hit_around(&self, q: usize, at: usize) -> Option<usize> {
        self.open[q]
            .iter()
            .rev()
            .filter(|open| open.at != at)
            .find_map(|open| open.hit)
    }

    /// Whether an open, valid element of step `s` is around `at`.
    fn valid_around(&self, s: usize, at: usize) -> bool {
        let own = self.step_open[s]
            .last()
            .is_some_and(|open| open.at == at && open.hit.is_some());
        self.step_valid[s] > usize::from(own)
    }

    /// Tracks an element of a step that is not the last of its chain: the
    /// steps after it count inside it, if it is itself valid.
    fn open_step(
        &mut self,
        s: usize,
        valid: bool,
        at: usize,
        el: &mut Element<'_, '_>,
        shared: &Rc<RefCell<State>>,
    ) -> HandlerResult {
        if !el.can_have_content() || !self.charge(OPEN_COST) {
            return Ok(());
        }
        // `hit` stands for "valid" here.
        self.step_open[s].push(Open {
            hit: valid.then_some(0),
            at,
        });
        self.step_valid[s] += usize::from(valid);
        let closing = shared.clone();
        el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
            let mut state = closing.borrow_mut();
            if let Some(open) = state.step_open[s].pop() {
                state.step_valid[s] -= usize::from(open.hit.is_some());
                state.output = state.output.saturating_sub(OPEN_COST);
            }
            Ok(())
        }))
    }

    /// A match of query `q` at `el`, and of the queries that take from its
    /// element.
    fn hit(
        &mut self,
        shape: &Plan,
        q: usize,
        el: &mut Element<'_, '_>,
        tag: (usize, usize),
        shared: &Rc<RefCell<State>>,
    ) -> HandlerResult {
        // Two selectors of a list may match the same element.
        if self.last_at[q] == Some(tag.0) {
            return Ok(());
        }
        self.last_at[q] = Some(tag.0);
        let parent = shape.queries[q].parent;
        let parent_hit = parent.and_then(|p| self.open_hit_around(p, tag.0));
        self.take(shape, q, parent_hit, el, tag, shared)?;
        for &child in &shape.queries[q].on_self {
            self.last_at[child] = Some(tag.0);
            match self.last[q] {
                Some(hit) => self.take(shape, child, Some(hit), el, tag, shared)?,
                None => self.last[child] = None,
            }
        }
        Ok(())
    }

    /// Takes what query `q` takes from `el`, as a match inside `parent_hit`.
    fn take(
        &mut self,
        shape: &Plan,
        q: usize,
        parent_hit: Option<usize>,
        el: &mut Element<'_, '_>,
        tag: (usize, usize),
        shared: &Rc<RefCell<State>>,
    ) -> HandlerResult {
        let query = &shape.queries[q];
        let mut hit = OpenHit {
            parent: parent_hit.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
            value: String::new(),
            pending: String::new(),
            start_tag: tag,
            markup: None,
        };
        if let Take::Attr(name) = &query.take {
            let Some(value) = attribute(el, name) else {
                self.last[q] = None;
                return self.track(q, None, tag.0, el, shared, &query.take, query.tracked);
            };
            if !self.charge(value.len() + PER_ITEM) {
                return Ok(());
            }
            hit.value = value;
        } else if !self.charge(PER_ITEM) {
            return Ok(());
        }
        let index = self.hits[q].len();
        self.hits[q].push(Some(hit));
        self.last[q] = Some(index);
        if matches!(query.take, Take::Attr(_)) || !el.can_have_content() {
            // Taken now: an attribute, or a void element's start tag.
            self.close(q, index, &query.take, None);
        }
        self.track(
            q,
            Some(index),
            tag.0,
            el,
            shared,
            &query.take,
            query.tracked,
        )
    }

    /// Keeps a match of query `q` open until its end tag, which closes it:
    /// for its text or markup, and for the queries nested in it.
    #[expect(clippy::too_many_arguments, reason = "one call site's worth of state")]
    fn track(
        &mut self,
        q: usize,
        hit: Option<usize>,
        at: usize,
        el: &mut Element<'_, '_>,
        shared: &Rc<RefCell<State>>,
        take: &Take,
        tracked: bool,
    ) -> HandlerResult {
        if !tracked || !el.can_have_content() {
            return Ok(());
        }
        self.open[q].push(Open { hit, at });
        let closing = shared.clone();
        let take = take.clone();
        el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            let mut state = closing.borrow_mut();
            // Innermost first: the matching open element is the last one.
            if let Some(Open {
                hit: Some(index), ..
            }) = state.open[q].pop()
            {
                let at = end.source_location().bytes();
                state.close(q, index, &take, Some((at.start, at.end)));
                if take == Take::Text {
                    state.text_to_outer(q, index);
                }
            }
            Ok(())
        }))
    }

    /// A piece of text inside the innermost open match of each of `queries`.
    fn text(&mut self, queries: &[usize], chunk: &TextChunk<'_>) {
        if !self.go_on() {
            return;
        }
        let piece = chunk.as_str();
        let at = chunk.source_location().bytes().start;
        let decode = matches!(chunk.text_type(), TextType::Data | TextType::RCData);
        let last = chunk.last_in_text_node();
        for &q in queries {
            // The same chunk, through another selector of the list.
            if self.last_text_at[q] == Some(at) && !piece.is_empty() {
                continue;
            }
            self.last_text_at[q] = Some(at);
            let Some(index) = self.open[q].last().and_then(|open| open.hit) else {
                continue;
            };
            if !self.charge(piece.len()) {
                return;
            }
            if let Some(Some(hit)) = self.hits[q].get_mut(index) {
                if decode {
                    hit.pending.push_str(piece);
                    if last {
                        flush_text(hit);
                    }
                } else {
                    flush_text(hit);
                    hit.value.push_str(piece);
                }
            }
        }
    }
}

impl State {
    /// A closed text match's text is also its enclosing match's (of the
    /// same query), as `textContent` would have it.
    fn text_to_outer(&mut self, q: usize, index: usize) {
        let Some(outer) = self.open[q].last().and_then(|open| open.hit) else {
            return;
        };
        let text = match self.done[q].get(index) {
            Some(done) if !done.value.is_empty() => done.value.clone(),
            _ => return,
        };
        if !self.charge(text.len()) {
            return;
        }
        if let Some(Some(hit)) = self.hits[q].get_mut(outer) {
            flush_text(hit);
            hit.value.push_str(&text);
        }
    }
}
