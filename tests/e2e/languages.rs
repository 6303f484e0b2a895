//! Guests in Python and JavaScript (built by crawlbox-guest-artifacts with
//! componentize-py and componentize-js), plain wasi:cli commands, and the
//! compile cache that makes their 10-40 MB components start fast.

use std::time::Duration;

use crawlbox_demo_site::Site;
use crawlbox_guest_artifacts::{
    EXAMPLE_CRAWLER, HTTP_COMMAND, JS_EXAMPLE, PYTHON_EXAMPLE, PYTHON_WASI_HTTP,
};
use serde_json::{Value, json};

use crate::support::{Run, crawl_input, crawlbox, grant, same_host_links, site, tempfile};

fn run_with_site(site: &Site, plugin: &str, input: &str, extra: &[&str]) -> Run {
    let grant = grant(site);
    let mut args = vec!["run", plugin, "--input", input];
    args.extend(grant.iter().map(String::as_str));
    args.extend_from_slice(extra);
    crawlbox(&args)
}

/// A crawl of 60 pages of a site whose pages take 2 ms, at most 4 in
/// flight: every page once, with its title, through at most 4 connections.
/// A native-async guest (`Crawl::Async`) runs under `--wasip3`, 16 fetches
/// in flight on its side.
pub(crate) fn assert_crawls(plugin: &str, name: &str, crawl: Crawl) {
    let site = site(300, Duration::from_millis(2));
    let run = match crawl {
        Crawl::Queue => run_with_site(
            &site,
            plugin,
            &crawl_input(&site, 60, 16),
            &["--concurrency", "4"],
        ),
        Crawl::Async => run_with_site(
            &site,
            plugin,
            &json!({ "start": [site.url("/page/0")], "max_pages": 60, "concurrency": 16 })
                .to_string(),
            &["--concurrency", "4", "--wasip3"],
        ),
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{name} completed")),
        "{}",
        run.stderr
    );
    assert_eq!(run.records.len(), 60, "{}", run.stderr);
    let mut urls: Vec<&str> = run
        .records
        .iter()
        .map(|r| r["url"].as_str().unwrap())
        .collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), 60);
    for record in &run.records {
        assert_eq!(record["status"], 200, "{record}");
        let n = record["url"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(record["title"], format!("Page {n}"), "{record}");
        assert_eq!(record["links"], same_host_links(record, 300), "{record}");
    }
    assert!(run.stderr.contains("crawled 60 pages"), "{}", run.stderr);
    // The same pool and caps as any other guest.
    assert_eq!(site.counters().requests(), 60);
    assert!(
        site.counters().peak_in_flight() <= 4,
        "peak {}",
        site.counters().peak_in_flight()
    );
    assert!(
        site.counters().connections() <= 4,
        "{} connections",
        site.counters().connections()
    );
    if let Crawl::Async = crawl {
        // Native async: the plugin's fetches overlap without a batch.
        assert!(
            site.counters().peak_in_flight() >= 2,
            "peak {}",
            site.counters().peak_in_flight()
        );
    }
}

/// How a crawler of [`assert_crawls`] fetches.
pub(crate) enum Crawl {
    /// Through a `fetch-queue` (the `scraper` world); input `batch`.
    Queue,
    /// Through `host-async.fetch` (the `scraper-async` world, `--wasip3`);
    /// input `concurrency`.
    Async,
}

#[test]
fn python_crawler_crawls_through_a_fetch_queue() {
    assert_crawls(PYTHON_EXAMPLE, "python-example", Crawl::Queue);
}

#[test]
fn javascript_crawler_crawls_through_a_fetch_queue() {
    assert_crawls(JS_EXAMPLE, "js-example", Crawl::Queue);
}

#[test]
fn python_wasi_http_requests_share_the_pool_and_the_caps() {
    let site = site(300, Duration::from_millis(5));
    let urls: Vec<String> = (0..40).map(|i| site.url(&format!("/page/{i}"))).collect();
    let input = json!({ "urls": urls, "concurrency": 16 }).to_string();
    let run = run_with_site(&site, PYTHON_WASI_HTTP, &input, &["--concurrency", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 40);
    assert!(
        run.records
            .iter()
            .all(|r| r["status"] == 200 && r["bytes"].as_u64() > Some(300))
    );
    assert_eq!(site.counters().peak_in_flight(), 3);
    assert!(site.counters().connections() <= 3);
}

#[test]
fn a_wasi_command_runs_unchanged_with_its_stdout_as_output() {
    let site = site(10, Duration::ZERO);
    // Its errors need DNS and a closed port: allow every host, and loopback.
    let run = crawlbox(&[
        "run",
        HTTP_COMMAND,
        "--allow-host",
        "*://*:*",
        "--allow-network",
        "127.0.0.1",
        "--",
        "check",
        &site.base_url(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let checks: Vec<&Value> = run.records.iter().collect();
    assert_eq!(checks.len(), 6, "{:?}", run.records);
    for (check, method, body) in [
        (0, "GET", ""),
        (1, "POST", "posted body"),
        (2, "PUT", "put body"),
    ] {
        let c = checks[check];
        assert_eq!(c["status"], 200, "{c}");
        assert_eq!(c["method"], method, "{c}");
        assert_eq!(c["path"], "/echo", "{c}");
        assert_eq!(c["query"], format!("m={method}"), "{c}");
        assert_eq!(c["header"], true, "{c}");
        assert_eq!(c["body"], body, "{c}");
    }
    assert!(
        checks[3]["error"]
            .as_str()
            .unwrap()
            .contains("ConnectionRefused"),
        "{}",
        checks[3]
    );
    assert!(
        checks[4]["error"].as_str().unwrap().contains("DnsError"),
        "{}",
        checks[4]
    );
    assert!(
        checks[5]["error"]
            .as_str()
            .unwrap()
            .contains("HttpProtocolError"),
        "{}",
        checks[5]
    );
    // Through the pool: one keep-alive connection for the three requests.
    assert_eq!(site.counters().connections(), 1);
}

#[test]
fn a_command_sees_only_the_environment_it_is_granted() {
    let run = crawlbox(&["run", HTTP_COMMAND, "-q", "--", "env", "HOME"]);
    assert_eq!(
        run.records,
        [json!({"env": "HOME", "value": null})],
        "{}",
        run.stderr
    );
    let run = crawlbox(&[
        "run",
        HTTP_COMMAND,
        "-q",
        "--env",
        "TOKEN=abc",
        "--",
        "env",
        "TOKEN",
    ]);
    assert_eq!(
        run.records,
        [json!({"env": "TOKEN", "value": "abc"})],
        "{}",
        run.stderr
    );
}

#[test]
fn a_command_is_sandboxed_like_any_plugin() {
    let site = site(10, Duration::ZERO);
    // No grant: the command's requests are denied.
    let run = crawlbox(&["run", HTTP_COMMAND, "--", "check", &site.base_url()]);
    // Every request denied: completed, but nothing fetched (exit 3).
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.records[..3]
            .iter()
            .all(|c| c["error"].as_str().unwrap().contains("HttpRequestDenied"))
    );
    assert_eq!(site.counters().requests(), 0);
}

#[test]
fn compiled_plugins_are_cached_and_a_corrupt_entry_is_rebuilt() {
    let site = site(10, Duration::ZERO);
    let cache = tempfile("cache");
    let cache = cache.to_str().unwrap();
    let run = crawlbox(&["compile", EXAMPLE_CRAWLER, "--cache-dir", cache]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("compiled"), "{}", run.stderr);
    let entries: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // Corrupt the entry: it must be detected, compiled afresh and replaced.
    let entry = &entries[0];
    let mut bytes = std::fs::read(entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(entry, &bytes).unwrap();
    let run = run_with_site(
        &site,
        EXAMPLE_CRAWLER,
        &crawl_input(&site, 3, 4),
        &["--cache-dir", cache],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 3);
    assert_ne!(
        std::fs::read(entry).unwrap(),
        bytes,
        "the corrupt entry was not replaced"
    );

    // --no-cache compiles without touching the cache.
    let run = crawlbox(&["compile", EXAMPLE_CRAWLER, "--no-cache"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--no-cache"), "{}", run.stderr);
}

/// The JavaScript example crawls 2,000 pages of 50 KB with 200+ links each
/// within the default 256 MiB memory limit. It used to run out after some
/// 800 pages: StarlingMonkey's GC never ran between host calls, and every
/// body was copied into JS memory; with the host extracting, only the
/// links cross, and memory stays flat.
#[test]
fn javascript_crawler_crawls_2000_pages_of_50_kb_in_its_default_memory() {
    let site = Site::start(crawlbox_demo_site::SiteConfig {
        pages: 2_000,
        page_bytes: 50_000,
        ..Default::default()
    })
    .unwrap();
    let run = run_with_site(&site, JS_EXAMPLE, &crawl_input(&site, 2_000, 32), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 2_000, "{}", run.stderr);
    assert!(run.records.iter().all(|r| r["status"] == 200));
    assert_eq!(site.counters().requests(), 2_000);
}
