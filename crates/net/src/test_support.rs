//! Fixtures for the tests of the crates built on this one (feature
//! `test-support`).

use std::time::Duration;

use crate::{Request, TextDecoding};

/// A request that sets every field of [`Request`], none to its default:
/// what the tests of each boundary a request crosses (the WIT mapping, the
/// journal, Redis) send through it. A new field of [`Request`] is set here
/// (see docs/adding-a-request-option.md).
pub fn request_with_every_field() -> Request {
    Request::new("PUT", "http://a.example/form?q=1")
        .expect("a valid request")
        .header("accept", "text/html")
        .expect("a valid header")
        .header("x-twice", "1")
        .expect("a valid header")
        .header("x-twice", "2")
        .expect("a valid header")
        .body(b"\0binary\xff".to_vec())
        .timeout(Duration::from_millis(250))
        .text(TextDecoding::Charset("latin1".into()))
        .extract(&extraction_with_every_field())
        .expect("a valid extraction")
}

/// An extraction that sets every field, none to its default.
pub fn extraction_with_every_field() -> crawlbox_extract::Extraction {
    crawlbox_extract::Extraction {
        links: Some(crawlbox_extract::LinkRule {
            same_host: true,
            allow: vec!["/docs/".into()],
            deny: vec![r"\.pdf$".into()],
            skip_nofollow: true,
        }),
        queries: vec![
            crawlbox_extract::Query::new("div.item"),
            crawlbox_extract::Query::inside(0, "a::attr(href)"),
        ],
        keep_body: true,
    }
}
