//! Extraction on HTML with traps: every feature of a plan, on the pages
//! that break naive extractors, and the limits a hostile page meets.
#![allow(clippy::unwrap_used, clippy::panic)] // tests fail loudly by design

use std::time::{Duration, Instant};

use crawlbox_extract::{ExtractError, Extracted, Extraction, Limits, LinkRule, Plan, Query};
use url::Url;

fn run(spec: Extraction, html: &str, url: &str) -> Result<Extracted, ExtractError> {
    run_within(spec, html, url, &Limits::default())
}

fn run_within(
    spec: Extraction,
    html: &str,
    url: &str,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let plan = Plan::compile(&spec)?;
    plan.extract(html, &Url::parse(url).unwrap(), limits)
}

fn links(rule: LinkRule, html: &str, url: &str) -> Vec<String> {
    let spec = Extraction {
        links: Some(rule),
        ..Extraction::default()
    };
    run(spec, html, url)
        .unwrap()
        .links
        .into_iter()
        .map(|l| l.url)
        .collect()
}

fn queries(selectors: &[&str], html: &str) -> Vec<Vec<String>> {
    let spec = Extraction {
        queries: selectors.iter().map(|s| Query::new(*s)).collect(),
        ..Extraction::default()
    };
    run(spec, html, "http://a.example/")
        .unwrap()
        .matches
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| h.value).collect())
        .collect()
}

#[test]
fn links_resolve_against_base_href_and_the_page() {
    let html = r##"<html><head><a href="early.html">before the base</a>
        <base href="https://cdn.example/docs/"></head><body>
        <a href="page.html#section">relative</a>
        <a href="../up.html">parent</a>
        <a href="//other.example/proto">protocol-relative</a>
        <a href="/root?a=1&amp;b=2">entity in the query</a>
        <a href="?q=caf&eacute;&#38;x=&#x31;">named and numeric entities</a>
        <a href="  https://spaced.example/  ">spaces</a>
        <a href="mailto:me@example.com">mail</a>
        <a href="javascript:void(0)">script</a>
        <a href="page.html">again</a>
        <a href="#top">fragment only</a>
        <a>no href</a>
        <area href="map.html" alt="Map">
        </body></html>"##;
    assert_eq!(
        links(LinkRule::default(), html, "http://site.example/a/b.html"),
        [
            "https://cdn.example/docs/early.html",
            "https://cdn.example/docs/page.html",
            "https://cdn.example/up.html",
            "https://other.example/proto",
            "https://cdn.example/root?a=1&b=2",
            "https://cdn.example/docs/?q=caf%C3%A9&x=1",
            "https://spaced.example/",
            "https://cdn.example/docs/",
            "https://cdn.example/docs/map.html",
        ]
    );
}

#[test]
fn a_link_has_its_anchor_text_and_rel() {
    let spec = Extraction {
        links: Some(LinkRule::default()),
        ..Extraction::default()
    };
    let html = r#"<a href="/x" rel="next nofollow">  Next
        <b>page</b> &raquo; </a><area href="/m" alt="The &amp; map">"#;
    let found = run(spec, html, "http://a.example/").unwrap();
    assert_eq!(found.links[0].text, "Next page »");
    assert_eq!(found.links[0].rel, "next nofollow");
    assert_eq!(found.links[1].text, "The & map");
    assert_eq!(found.links[1].rel, "");
}

#[test]
fn link_rules_filter_by_host_pattern_and_nofollow() {
    let html = r#"<a href="/docs/a">a</a><a href="/docs/b" rel="NoFollow">b</a>
        <a href="/blog/c">c</a><a href="http://away.example/docs/d">d</a>
        <a href="/docs/e.pdf">e</a>"#;
    let url = "http://a.example/";
    assert_eq!(
        links(
            LinkRule {
                same_host: true,
                ..LinkRule::default()
            },
            html,
            url
        ),
        [
            "http://a.example/docs/a",
            "http://a.example/docs/b",
            "http://a.example/blog/c",
            "http://a.example/docs/e.pdf"
        ]
    );
    assert_eq!(
        links(
            LinkRule {
                allow: vec!["/docs/".into()],
                deny: vec![r"\.pdf$".into()],
                skip_nofollow: true,
                ..LinkRule::default()
            },
            html,
            url
        ),
        ["http://a.example/docs/a", "http://away.example/docs/d"]
    );
    let page_nofollow = format!(r#"<meta name="ROBOTS" content="noindex, nofollow">{html}"#);
    let rule = LinkRule {
        skip_nofollow: true,
        ..LinkRule::default()
    };
    assert!(links(rule.clone(), &page_nofollow, url).is_empty());
    assert_eq!(links(rule, html, url).len(), 4);
}

#[test]
fn css_takes_text_attributes_and_markup() {
    let html = r#"<html><head><title>A &amp; B</title></head><body>
        <h1 id="t" class="big title">Hello <b>World</b></h1>
        <p class=price>3&nbsp;€</p><p class=price>4 €</p>
        <img src="/a.png" alt="A"><img alt="no src">
        <div class="box"><i>in</i> side</div>
        <script>var x = "&amp;";</script>
        </body></html>"#;
    let got = queries(
        &[
            "title::text",
            "h1::text",
            ".price::text",
            "img::attr(src)",
            "h1::attr(class)",
            "div.box::inner-html",
            "div.box::outer-html",
            "div.box",
            "img",
            "script::text",
            "p.nothing::text",
        ],
        html,
    );
    assert_eq!(got[0], ["A & B"]);
    assert_eq!(got[1], ["Hello World"]);
    assert_eq!(got[2], ["3\u{a0}€", "4 €"]);
    assert_eq!(got[3], ["/a.png"]);
    assert_eq!(got[4], ["big title"]);
    assert_eq!(got[5], ["<i>in</i> side"]);
    assert_eq!(got[6], [r#"<div class="box"><i>in</i> side</div>"#]);
    assert_eq!(got[7], got[6]);
    assert_eq!(
        got[8],
        [r#"<img src="/a.png" alt="A">"#, r#"<img alt="no src">"#]
    );
    // Script text is not HTML: its entities stay as they are.
    assert_eq!(got[9], [r#"var x = "&amp;";"#]);
    assert!(got[10].is_empty());
}

#[test]
fn nested_queries_name_the_match_they_are_in() {
    let html = r#"
        <div class="product" id="p1"><span class="name">Tea</span>
            <a href="/tea">buy</a><span class="price">3</span></div>
        <div class="product" id="p2"><span class="name">Coffee</span>
            <a href="/coffee">buy</a></div>
        <span class="name">not in a product</span>"#;
    let spec = Extraction {
        queries: vec![
            Query::new(".product::attr(id)"),
            Query::inside(0, ".name::text"),
            Query::inside(0, "a::attr(href)"),
            Query::inside(0, ".price::text"),
            Query::inside(0, "::attr(class)"),
        ],
        ..Extraction::default()
    };
    let found = run(spec, html, "http://a.example/").unwrap();
    let pairs = |q: usize| -> Vec<(Option<u32>, String)> {
        found.matches[q]
            .iter()
            .map(|h| (h.parent, h.value.clone()))
            .collect()
    };
    assert_eq!(pairs(0), [(None, "p1".into()), (None, "p2".into())]);
    assert_eq!(
        pairs(1),
        [(Some(0), "Tea".into()), (Some(1), "Coffee".into())]
    );
    assert_eq!(
        pairs(2),
        [(Some(0), "/tea".into()), (Some(1), "/coffee".into())]
    );
    assert_eq!(pairs(3), [(Some(0), "3".into())]);
    assert_eq!(
        pairs(4),
        [(Some(0), "product".into()), (Some(1), "product".into())]
    );
}

#[test]
fn a_nested_query_on_the_same_tag_counts_the_outer_match() {
    let html = r#"<div id=outer><div id=inner>x</div></div>"#;
    let spec = Extraction {
        queries: vec![
            Query::new("div::attr(id)"),
            Query::inside(0, "div::attr(id)"),
        ],
        ..Extraction::default()
    };
    let found = run(spec, html, "http://a.example/").unwrap();
    assert_eq!(found.matches[0].len(), 2);
    assert_eq!(found.matches[1].len(), 1);
    assert_eq!(found.matches[1][0].value, "inner");
    assert_eq!(found.matches[1][0].parent, Some(0));
}

#[test]
fn text_of_nested_matches_is_in_the_outer_match_too() {
    let got = queries(&["div::text"], "<div>a<div>b</div>c</div>");
    assert_eq!(got[0], ["abc", "b"]);
}

#[test]
fn broken_markup_still_yields_what_it_holds() {
    let html = "<html><body><p class=x>one<p class=x>two<div><a href=/a>a<a href='/b'>b\
        <a href=\"/c\" <a href=/d>d</a> < 3 > 2 <!-- <a href=/commented> --><a href=/e>\
        <title>late</title><li class=item>i1<li class=item>i2</ul></body>";
    let found = run(
        Extraction {
            links: Some(LinkRule::default()),
            queries: vec![Query::new("p.x::text"), Query::new("li.item::text")],
            ..Extraction::default()
        },
        html,
        "http://a.example/",
    )
    .unwrap();
    let urls: Vec<&str> = found.links.iter().map(|l| l.url.as_str()).collect();
    assert!(urls.contains(&"http://a.example/a"), "{urls:?}");
    assert!(urls.contains(&"http://a.example/b"), "{urls:?}");
    assert!(urls.contains(&"http://a.example/e"), "{urls:?}");
    assert!(!urls.iter().any(|u| u.contains("commented")), "{urls:?}");
    assert_eq!(found.matches[0].len(), 2);
    assert!(found.matches[0][1].value.starts_with("two"));
    assert_eq!(found.matches[1].len(), 2);
    assert!(found.matches[1][0].value.starts_with("i1"));
}

#[test]
fn a_selector_that_does_not_parse_is_an_error_naming_it() {
    for (selector, says) in [
        ("a + b", "a + b"),
        ("div:has(a)", "div:has(a)"),
        ("p::first-line", "::first-line"),
        ("[", "["),
        ("", "no selector"),
    ] {
        let err = Plan::compile(&Extraction {
            queries: vec![Query::new("title::text"), Query::new(selector)],
            ..Extraction::default()
        })
        .unwrap_err();
        assert!(matches!(err, ExtractError::InvalidSelector(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("query 1") && text.contains(says),
            "{selector}: {text}"
        );
    }
}

fn big_page(links: usize) -> String {
    let mut html = String::from("<!doctype html><html><head><title>Big</title></head><body>");
    for i in 0..links {
        html.push_str(&format!(
            "<p>Paragraph {i} with some words to make it longer than a link.</p>\
             <a href=\"/page/{i}.html\" class=\"l\">page {i}</a>\n"
        ));
    }
    html.push_str("</body></html>");
    html
}

#[test]
fn a_page_of_100_000_links_gives_every_one() {
    let html = big_page(100_000);
    let started = Instant::now();
    let found = run(
        Extraction {
            links: Some(LinkRule {
                same_host: true,
                ..LinkRule::default()
            }),
            queries: vec![Query::new("title::text")],
            ..Extraction::default()
        },
        &html,
        "http://a.example/",
    )
    .unwrap();
    assert_eq!(found.links.len(), 100_000);
    assert_eq!(found.links[99_999].url, "http://a.example/page/99999.html");
    assert!(!found.truncated);
    assert_eq!(found.matches[0][0].value, "Big");
    eprintln!(
        "100,000 links, {} bytes: {:?}",
        html.len(),
        started.elapsed()
    );
}

#[test]
fn a_10_mb_page_is_parsed_whole() {
    let mut html = big_page(2_000);
    let filler = "<div><span>filler text &amp; more</span></div>\n".repeat(10_000_000 / 47 + 1);
    html.insert_str(html.len() - "</body></html>".len(), &filler);
    html.push_str("<a href=\"/last\">last</a>");
    assert!(html.len() > 10_000_000);
    let found = run(
        Extraction {
            links: Some(LinkRule::default()),
            ..Extraction::default()
        },
        &html,
        "http://a.example/",
    )
    .unwrap();
    assert_eq!(found.links.len(), 2_001);
    assert_eq!(found.links[2_000].url, "http://a.example/last");
}

#[test]
fn a_page_past_the_input_limit_is_too_large() {
    let limits = Limits {
        max_input_bytes: 1000,
        ..Limits::default()
    };
    let err = run_within(
        Extraction::default(),
        &"x".repeat(1001),
        "http://a.example/",
        &limits,
    )
    .unwrap_err();
    assert!(matches!(err, ExtractError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("1001"), "{err}");
}

#[test]
fn output_past_the_limit_is_cut_and_marked() {
    let limits = Limits {
        max_output_bytes: 10_000,
        ..Limits::default()
    };
    let found = run_within(
        Extraction {
            links: Some(LinkRule::default()),
            queries: vec![Query::new("p::text"), Query::new("body")],
            ..Extraction::default()
        },
        &big_page(10_000),
        "http://a.example/",
        &limits,
    )
    .unwrap();
    assert!(found.truncated);
    assert!(found.size() <= 10_000 + 1_000, "{}", found.size());
    assert!(!found.matches[0].is_empty());
}

/// A page made to be slow to match: deep nesting under a nested query.
/// It costs the host its time limit, no more, and bounded memory.
#[test]
fn a_hostile_page_fails_in_the_time_limit() {
    let depth = 200_000;
    let html = format!("{}{}", "<div class=a><span>".repeat(depth), "x".repeat(100));
    let limits = Limits {
        max_time: Duration::from_millis(100),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = run_within(
        Extraction {
            links: Some(LinkRule::default()),
            queries: vec![
                Query::new("div.a span::text"),
                Query::inside(0, "div span div::outer-html"),
                Query::new("div div div div:not(.b) span::text"),
            ],
            ..Extraction::default()
        },
        &html,
        "http://a.example/",
        &limits,
    );
    let took = started.elapsed();
    match result {
        Err(ExtractError::Timeout(message)) => assert!(message.contains("100ms"), "{message}"),
        Ok(found) => assert!(found.truncated || found.size() <= limits.max_output_bytes),
        Err(other) => panic!("{other}"),
    }
    // The limit, plus one chunk of parsing past it.
    assert!(took < Duration::from_secs(5), "{took:?}");
}
