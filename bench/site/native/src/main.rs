//! The native baseline of `just bench-site`: a same-site crawler with the
//! examples' link rule (every `<a href>` resolved against the page URL,
//! fragment dropped, http(s) on a start URL's host, each URL once), fetching
//! with hyper-util's pooled client at 64 requests in flight on a tokio
//! multi-thread runtime (a worker per core) and parsing with lol_html in the
//! fetching task.
//!
//! `bench-site-native [-c 64] [-o urls.txt] START...`: prints one JSON line
//! `{"client", "pages", "errors", "seconds", "pages_per_s"}`; `-o` writes
//! `STATUS URL` per fetched URL.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lol_html::{HtmlRewriter, Settings, element};
use tokio::task::JoinSet;
use url::Url;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

struct Fetched {
    url: Url,
    status: Result<u16, String>,
    links: Vec<Url>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut conc = 64usize;
    let mut out = None;
    let mut start = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" => conc = args.next().and_then(|c| c.parse().ok()).expect("-c N"),
            "-o" => out = Some(args.next().expect("-o FILE")),
            _ => start.push(Url::parse(&arg).expect("a start URL")),
        }
    }
    assert!(
        !start.is_empty(),
        "usage: bench-site-native [-c N] [-o FILE] START..."
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(crawl(start, conc, out));
}

async fn crawl(start: Vec<Url>, conc: usize, out: Option<String>) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conc)
        .build(connector);
    let hosts: HashSet<String> = start
        .iter()
        .filter_map(|u| u.host_str().map(str::to_owned))
        .collect();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    for mut url in start {
        url.set_fragment(None);
        if seen.insert(url.as_str().to_owned()) {
            queue.push_back(url);
        }
    }
    let t0 = Instant::now();
    let mut tasks = JoinSet::new();
    let (mut pages, mut errors) = (0u64, 0u64);
    let mut log = Vec::new();
    loop {
        while tasks.len() < conc {
            let Some(url) = queue.pop_front() else { break };
            tasks.spawn(fetch(client.clone(), url));
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let done = done.expect("fetch task");
        match &done.status {
            Ok(status) => {
                pages += 1;
                log.push(format!("{status} {}", done.url));
            }
            Err(e) => {
                errors += 1;
                log.push(format!("ERR {} {e}", done.url));
            }
        }
        for mut link in done.links {
            link.set_fragment(None);
            let same_site = link.host_str().is_some_and(|h| hosts.contains(h));
            if matches!(link.scheme(), "http" | "https")
                && same_site
                && seen.insert(link.as_str().to_owned())
            {
                queue.push_back(link);
            }
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(out) = out {
        let mut f = std::fs::File::create(out).expect("-o file");
        for line in log {
            writeln!(f, "{line}").expect("write -o file");
        }
    }
    println!(
        "{{\"client\": \"native-hyper-lol_html\", \"pages\": {pages}, \"errors\": {errors}, \
         \"seconds\": {seconds:.3}, \"pages_per_s\": {:.1}}}",
        pages as f64 / seconds
    );
}

async fn fetch(client: HttpClient, url: Url) -> Fetched {
    let uri: hyper::Uri = match url.as_str().parse() {
        Ok(uri) => uri,
        Err(e) => return failed(url, e),
    };
    let resp = match client.get(uri).await {
        Ok(resp) => resp,
        Err(e) => return failed(url, e),
    };
    let status = resp.status().as_u16();
    let html = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_none_or(|ct| ct.to_str().is_ok_and(|ct| ct.contains("html")));
    let body = match resp.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return failed(url, e),
    };
    let links = if html { links(&body, &url) } else { Vec::new() };
    Fetched {
        url,
        status: Ok(status),
        links,
    }
}

fn failed(url: Url, e: impl std::fmt::Display) -> Fetched {
    Fetched {
        url,
        status: Err(e.to_string()),
        links: Vec::new(),
    }
}

/// The absolute URLs of the page's `<a href>`s.
fn links(body: &[u8], base: &Url) -> Vec<Url> {
    let mut links = Vec::new();
    let mut rewriter = HtmlRewriter::new(
        Settings {
            element_content_handlers: vec![element!("a[href]", |el| {
                if let Some(href) = el.get_attribute("href")
                    && let Ok(link) = base.join(&href)
                {
                    links.push(link);
                }
                Ok(())
            })],
            ..Settings::new()
        },
        |_: &[u8]| {},
    );
    // A parse error only ends the page early: keep the links found so far.
    let _ = rewriter.write(body).and_then(|()| rewriter.end());
    links
}
