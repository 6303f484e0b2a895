//! spider-rs in `just bench-site`: `spider::website::Website` over the
//! site, `concurrency_limit` requests in flight, robots.txt not fetched, on
//! a tokio multi-thread runtime.
//!
//! `bench-site-spider [-c 64] [-o urls.txt] START`: prints one JSON line
//! `{"client", "pages", "seconds", "pages_per_s"}`; `-o` writes
//! `STATUS URL` per page the subscription saw (it may lag and drop some:
//! the nginx log is the count that matters).

use std::io::Write;
use std::time::Instant;

use spider::tokio;
use spider::website::Website;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut conc, mut out, mut start) = (64usize, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" => conc = args.next().and_then(|c| c.parse().ok()).expect("-c N"),
            "-o" => out = Some(args.next().expect("-o FILE")),
            _ => start = Some(arg),
        }
    }
    let start = start.expect("usage: bench-site-spider [-c N] [-o FILE] START");
    let mut website = Website::new(&start);
    website
        .with_concurrency_limit(Some(conc))
        .with_respect_robots_txt(false);
    let mut rx = website.subscribe(64);
    let seen = tokio::spawn(async move {
        let mut log = Vec::new();
        loop {
            match rx.recv().await {
                Ok(page) => log.push(format!("{} {}", page.status_code.as_u16(), page.get_url())),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
        log
    });
    let t0 = Instant::now();
    website.crawl().await;
    let seconds = t0.elapsed().as_secs_f64();
    website.unsubscribe();
    let log = seen.await.expect("subscriber");
    let pages = website.get_links().len();
    if let Some(out) = out {
        let mut f = std::fs::File::create(out).expect("-o file");
        for line in &log {
            writeln!(f, "{line}").expect("write -o file");
        }
    }
    println!(
        "{{\"client\": \"spider-rs\", \"pages\": {pages}, \"seconds\": {seconds:.3}, \
         \"pages_per_s\": {:.1}}}",
        pages as f64 / seconds
    );
}
