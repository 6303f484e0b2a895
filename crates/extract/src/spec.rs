//! What a plugin asks for ([`Extraction`]) and its checked, compiled form
//! ([`Plan`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lol_html::Selector;
use regex::{Regex, RegexSet, RegexSetBuilder};

use crate::ExtractError;

/// What to extract from a page: the WIT `extraction`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Extraction {
    /// The page's links, filtered by the rule; `None`: no links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<LinkRule>,
    /// CSS queries, answered in [`Extracted::matches`](crate::Extracted::matches) in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<Query>,
    /// Hand the body to the plugin as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_body: bool,
}

/// Which links to keep: the WIT `link-rule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LinkRule {
    /// Only links to the page's own host.
    #[serde(default)]
    pub same_host: bool,
    /// Keep a link only if one of these regular expressions matches its URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Drop a link if one of these matches its URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Drop `rel="nofollow"` links, and all links of a `nofollow` page.
    #[serde(default)]
    pub skip_nofollow: bool,
}

/// One CSS query with an optional `::text`, `::attr(name)`,
/// `::inner-html` or `::outer-html` at its end: the WIT `query`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Query {
    /// The selector and what to take.
    pub selector: String,
    /// The index of an earlier query this one runs inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u32>,
}

impl Query {
    /// A top-level query.
    pub fn new(selector: impl Into<String>) -> Self {
        Self {
            selector: selector.into(),
            parent: None,
        }
    }

    /// A query inside each match of query `parent`.
    pub fn inside(parent: u32, selector: impl Into<String>) -> Self {
        Self {
            selector: selector.into(),
            parent: Some(parent),
        }
    }
}

/// What a query takes from each element it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Take {
    Text,
    Attr(String),
    InnerHtml,
    OuterHtml,
}

/// Regular expressions in one link rule, together, at most this long
/// compiled: a pattern cannot make the host build an automaton of any size.
pub const MAX_PATTERN_BYTES: usize = 1 << 20;

/// Queries in one extraction, at most.
pub const MAX_QUERIES: usize = 64;

/// Bytes of selectors (and patterns) in one extraction, at most.
pub const MAX_SPEC_BYTES: usize = 64 * 1024;

/// An [`Extraction`] checked and compiled: selectors parsed, patterns
/// built. Cheap to share; compile once with [`Plan::compile`], which keeps
/// recent plans.
///
/// A selector is cut at its descendant combinators into steps (`div.list
/// li > a` is `div.list`, then `li > a`), each matched by lol-html on its
/// own, and a step counts only inside an open match of the step before it.
/// lol-html would match the whole selector itself, but its cost for
/// descendant combinators grows with the page's depth to the power of
/// their number: a hostile page made one element cost minutes. Cut, each
/// element costs the same at any depth.
#[derive(Debug)]
pub struct Plan {
    pub(crate) spec: Extraction,
    pub(crate) links: Option<LinkFilter>,
    pub(crate) queries: Vec<CompiledQuery>,
    /// Every step of every chain, in the order lol-html runs them.
    pub(crate) steps: Vec<Step>,
    pub(crate) chains: Vec<Chain>,
}

#[derive(Debug)]
pub(crate) struct LinkFilter {
    pub(crate) same_host: bool,
    pub(crate) allow: Option<RegexSet>,
    pub(crate) deny: Option<RegexSet>,
    pub(crate) skip_nofollow: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledQuery {
    pub(crate) take: Take,
    pub(crate) parent: Option<usize>,
    /// Queries that take from this query's own elements (`::attr(href)`
    /// alone, nested in this one).
    pub(crate) on_self: Vec<usize>,
    /// Whether the query's matches must be tracked until their end tag:
    /// for their text or markup, or for queries nested in them.
    pub(crate) tracked: bool,
}

/// One selector of a query's list, as its steps.
#[derive(Debug)]
pub(crate) struct Chain {
    pub(crate) query: usize,
    /// Its steps, which follow each other in [`Plan::steps`].
    pub(crate) len: usize,
}

/// One step of a chain: a compound selector, or several joined by `>`.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) selector: Selector,
    pub(crate) chain: usize,
    /// Its place in the chain: 0 is first.
    pub(crate) at: usize,
}

impl PartialEq for Plan {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for Plan {}

/// Plans compiled lately, by their extraction: a crawl asks for the same
/// extraction on every page.
static RECENT: Mutex<Option<HashMap<Extraction, Arc<Plan>>>> = Mutex::new(None);

/// Plans [`RECENT`] keeps; it starts over when full.
const RECENT_PLANS: usize = 64;

impl Plan {
    /// Checks and compiles `spec`, or finds it compiled already.
    ///
    /// Fails, naming the query or pattern, on a selector lol-html cannot
    /// parse, a pattern that is not a regular expression, or a `parent`
    /// that is not an earlier query.
    pub fn compile(spec: &Extraction) -> Result<Arc<Plan>, ExtractError> {
        let cached = RECENT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|plans| plans.get(spec).cloned());
        if let Some(plan) = cached {
            return Ok(plan);
        }
        let plan = Arc::new(Self::build(spec.clone())?);
        let mut cache = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        let plans = cache.get_or_insert_with(HashMap::new);
        if plans.len() >= RECENT_PLANS {
            plans.clear();
        }
        plans.insert(spec.clone(), plan.clone());
        Ok(plan)
    }

    /// The extraction this plan answers.
    pub fn spec(&self) -> &Extraction {
        &self.spec
    }

    /// Whether the plugin gets the body too.
    pub fn keep_body(&self) -> bool {
        self.spec.keep_body
    }

    fn build(spec: Extraction) -> Result<Self, ExtractError> {
        if spec.queries.len() > MAX_QUERIES {
            return Err(ExtractError::InvalidSelector(format!(
                "{} queries in one extraction; at most {MAX_QUERIES} are allowed",
                spec.queries.len()
            )));
        }
        let spec_bytes: usize = spec.queries.iter().map(|q| q.selector.len()).sum::<usize>()
            + spec.links.as_ref().map_or(0, |rule| {
                rule.allow.iter().chain(&rule.deny).map(String::len).sum()
            });
        if spec_bytes > MAX_SPEC_BYTES {
            return Err(ExtractError::InvalidSelector(format!(
                "the extraction's selectors and patterns are {spec_bytes} bytes; at most \
                 {MAX_SPEC_BYTES} are allowed"
            )));
        }
        let links = spec.links.as_ref().map(LinkFilter::build).transpose()?;
        let mut queries: Vec<CompiledQuery> = Vec::with_capacity(spec.queries.len());
        let mut steps = Vec::new();
        let mut chains = Vec::new();
        for (index, query) in spec.queries.iter().enumerate() {
            let (css, take) = split_take(&query.selector)
                .map_err(|why| invalid_selector(index, &query.selector, &why))?;
            let parent = match query.parent {
                None => None,
                Some(p) => match usize::try_from(p) {
                    Ok(p) if p < index => Some(p),
                    _ => {
                        return Err(ExtractError::InvalidParent(format!(
                            "query {index} ({:?}) names query {p} as its parent; a parent must \
                             be an earlier query of the same extraction (0 to {})",
                            query.selector,
                            index.saturating_sub(1)
                        )));
                    }
                },
            };
            let list = split_list(css);
            if list.is_empty() {
                let Some(p) = parent else {
                    return Err(invalid_selector(
                        index,
                        &query.selector,
                        "it has no selector before its `::`; only a nested query may take from \
                         its parent's element",
                    ));
                };
                queries[p].on_self.push(index);
                queries[p].tracked = true;
            }
            for alternative in &list {
                let parts = split_steps(alternative);
                let chain = chains.len();
                chains.push(Chain {
                    query: index,
                    len: parts.len(),
                });
                for (at, part) in parts.iter().enumerate() {
                    let selector: Selector =
                        part.parse().map_err(|e: lol_html::errors::SelectorError| {
                            invalid_selector(index, &query.selector, &format!("{part:?}: {e}"))
                        })?;
                    steps.push(Step {
                        selector,
                        chain,
                        at,
                    });
                }
            }
            if let Some(p) = parent {
                queries[p].tracked = true;
            }
            queries.push(CompiledQuery {
                take: take.clone(),
                parent,
                on_self: Vec::new(),
                tracked: !matches!(take, Take::Attr(_)),
            });
        }
        Ok(Self {
            spec,
            links,
            queries,
            steps,
            chains,
        })
    }
}

fn invalid_selector(index: usize, selector: &str, why: &str) -> ExtractError {
    ExtractError::InvalidSelector(format!("query {index}, {selector:?}: {why}"))
}

impl LinkFilter {
    fn build(rule: &LinkRule) -> Result<Self, ExtractError> {
        let set = |patterns: &[String], what: &str| -> Result<Option<RegexSet>, ExtractError> {
            if patterns.is_empty() {
                return Ok(None);
            }
            // Each alone first, so that the error names the bad one.
            for pattern in patterns {
                Regex::new(pattern).map_err(|e| {
                    ExtractError::InvalidPattern(format!("link rule `{what}` {pattern:?}: {e}"))
                })?;
            }
            RegexSetBuilder::new(patterns)
                .size_limit(MAX_PATTERN_BYTES)
                .dfa_size_limit(MAX_PATTERN_BYTES)
                .build()
                .map(Some)
                .map_err(|e| ExtractError::InvalidPattern(format!("link rule `{what}`: {e}")))
        };
        Ok(Self {
            same_host: rule.same_host,
            allow: set(&rule.allow, "allow")?,
            deny: set(&rule.deny, "deny")?,
            skip_nofollow: rule.skip_nofollow,
        })
    }
}

/// Splits `div.a::attr(href)` into the CSS part and what to take.
fn split_take(selector: &str) -> Result<(&str, Take), String> {
    let selector = selector.trim();
    let Some(at) = selector.rfind("::") else {
        return Ok((selector, Take::OuterHtml));
    };
    let (css, pseudo) = (&selector[..at], &selector[at + 2..]);
    if css.contains("::") {
        return Err("only one pseudo-element is allowed, at the end".into());
    }
    let take = match pseudo.trim() {
        "text" => Take::Text,
        "inner-html" => Take::InnerHtml,
        "outer-html" => Take::OuterHtml,
        other => match other
            .strip_prefix("attr(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            Some(name) if !name.trim().is_empty() => Take::Attr(name.trim().to_ascii_lowercase()),
            _ => {
                return Err(format!(
                    "unknown pseudo-element `::{other}`; use `::text`, `::attr(name)`, \
                     `::inner-html` or `::outer-html`"
                ));
            }
        },
    };
    // `*::text` takes from every element, as in parsel.
    Ok((css.trim(), take))
}

/// A selector list's selectors (`a, b.c` → `a`, `b.c`), split at the
/// commas outside brackets, parentheses and quotes.
fn split_list(css: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in css.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(css[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(css[start..].trim().to_owned());
    parts.retain(|part| !part.is_empty());
    parts
}

/// A selector's steps: cut at its descendant combinators (whitespace not
/// beside `>`, `+` or `~`), outside brackets, parentheses and quotes.
fn split_steps(selector: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut space = false;
    for c in selector.trim().chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        let outside = quote.is_none() && depth == 0;
        if outside && c.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            space = false;
            let joins = matches!(c, '>' | '+' | '~') || current.ends_with(['>', '+', '~']);
            if joins {
                current.push(' ');
            } else if !current.is_empty() {
                steps.push(std::mem::take(&mut current));
            }
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth = depth.saturating_sub(1),
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() {
        steps.push(current);
    }
    steps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn a_selector_list_splits_outside_brackets_and_quotes() {
        assert_eq!(
            split_list(r#"a, b:not(.x, .y), [title="p, q"]"#),
            ["a", "b:not(.x, .y)", r#"[title="p, q"]"#]
        );
        assert!(split_list("  ").is_empty());
    }

    #[test]
    fn the_pseudo_element_says_what_to_take() {
        assert_eq!(
            split_take("a::attr(HREF)").unwrap(),
            ("a", Take::Attr("href".into()))
        );
        assert_eq!(split_take("h1::text").unwrap(), ("h1", Take::Text));
        assert_eq!(split_take("div").unwrap(), ("div", Take::OuterHtml));
        assert_eq!(split_take("::inner-html").unwrap(), ("", Take::InnerHtml));
        assert!(
            split_take("p::first-line")
                .unwrap_err()
                .contains("::first-line")
        );
        assert!(split_take("p::text::text").is_err());
    }

    #[test]
    fn a_selector_is_cut_at_its_descendant_combinators() {
        assert_eq!(
            split_steps("div.list  li > a[title='a b'] :not(.x y)"),
            ["div.list", "li > a[title='a b']", ":not(.x y)"]
        );
        assert_eq!(split_steps("ul>li"), ["ul>li"]);
        assert_eq!(split_steps("a ~ b"), ["a ~ b"]);
    }

    #[test]
    fn nested_queries_know_their_parents() {
        let plan = Plan::build(Extraction {
            queries: vec![
                Query::new(".a, .b c"),
                Query::inside(0, "span, i::text"),
                Query::inside(0, "::attr(id)"),
            ],
            ..Extraction::default()
        })
        .unwrap();
        assert_eq!(plan.queries[1].parent, Some(0));
        assert_eq!(plan.queries[0].on_self, [2]);
        assert!(plan.queries[0].tracked);
        assert_eq!(plan.chains.len(), 4);
        assert_eq!(plan.steps.len(), 5);
    }

    #[test]
    fn a_bad_spec_is_refused_naming_the_part_at_fault() {
        let bad = |queries: Vec<Query>| {
            Plan::build(Extraction {
                queries,
                ..Extraction::default()
            })
            .unwrap_err()
            .to_string()
        };
        let err = bad(vec![Query::new("a + b")]);
        assert!(err.contains("query 0") && err.contains("a + b"), "{err}");
        let err = bad(vec![Query::new("div"), Query::inside(1, "a")]);
        assert!(err.contains("earlier query"), "{err}");
        let err = bad(vec![Query::new("::text")]);
        assert!(err.contains("nested query"), "{err}");
        let err = Plan::build(Extraction {
            links: Some(LinkRule {
                allow: vec!["(".into()],
                ..LinkRule::default()
            }),
            ..Extraction::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("allow") && err.contains("\"(\""), "{err}");
    }

    #[test]
    fn the_same_extraction_compiles_once() {
        let spec = Extraction {
            queries: vec![Query::new("title::text")],
            ..Extraction::default()
        };
        let a = Plan::compile(&spec).unwrap();
        let b = Plan::compile(&spec).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
