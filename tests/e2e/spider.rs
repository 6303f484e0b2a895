//! Spider mode: the host owns the frontier, and a crawl killed with SIGKILL
//! resumes from its state directory without losing or refetching a page.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crawlbox_guest_artifacts::{EXAMPLE_CRAWLER, EXAMPLE_SPIDER};
use serde_json::Value;

use crate::support::{
    SPIDERS, cache_dir, crawl_input, crawl_spider, crawl_with, crawlbox, grant, same_host_links,
    site, tempfile,
};

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The first `count` pages of a demo site of `pages`, breadth-first from
/// page 0: the pages a spider crawling one page at a time finds.
fn breadth_first(site: &crawlbox_demo_site::Site, pages: usize, count: usize) -> HashSet<String> {
    let mut order = vec![0];
    let mut next = 0;
    while order.len() < count {
        for link in crawlbox_demo_site::links_of(order[next], pages) {
            if order.len() < count && !order.contains(&link) {
                order.push(link);
            }
        }
        next += 1;
    }
    order
        .iter()
        .map(|n| site.url(&format!("/page/{n}")))
        .collect()
}

/// The spiders of every language (`guests/example-spider`,
/// `guests/python-spider`, `guests/js-spider`, each on its SDK) crawl the
/// same pages, each page once, with the same items.
#[test]
fn the_spiders_of_every_language_crawl_exactly_the_same_pages() {
    let pages = 300;
    let site = site(pages, Duration::ZERO);
    let expected = breadth_first(&site, pages, 100);
    for (lang, spider) in SPIDERS {
        let before = site.counters().requests();
        let run = crawl_with(spider, &site, &["--max-pages", "100", "--concurrency", "1"]);
        assert_eq!(run.code, 0, "{lang}: {}", run.stderr);
        let urls: HashSet<String> = run
            .records
            .iter()
            .map(|r| r["url"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(run.records.len(), 100, "{lang}: one item per page");
        assert_eq!(urls, expected, "{lang}: the first 100 pages, breadth-first");
        for record in &run.records {
            let n = record["url"].as_str().unwrap().rsplit('/').next().unwrap();
            assert_eq!(record["title"], format!("Page {n}"), "{lang}: {record}");
            assert_eq!(record["status"], 200, "{lang}: {record}");
            assert_eq!(
                record["links"].as_u64().unwrap(),
                same_host_links(record, pages),
                "{lang}: {record}"
            );
        }
        assert_eq!(
            site.counters().requests() - before,
            100,
            "{lang}: each page once"
        );
    }
}

#[test]
fn a_spider_crawls_the_same_site_as_the_crawler() {
    let site = site(300, Duration::ZERO);
    let grant = grant(&site);
    // One page at a time: pages are then parsed in the order they were
    // taken, so which 120 are found does not depend on timing (under load,
    // pages of one level complete out of order).
    let spider = crawl_spider(&site, &["--max-pages", "120", "--concurrency", "1"]);
    assert_eq!(spider.code, 0, "{}", spider.stderr);
    assert_eq!(spider.records.len(), 120);
    let mut args = vec!["run", EXAMPLE_CRAWLER, "--input"];
    let crawler_input = crawl_input(&site, 120, 32);
    args.push(&crawler_input);
    args.extend(grant.iter().map(String::as_str));
    let crawler = crawlbox(&args);
    let urls = |records: &[Value]| -> HashSet<String> {
        records
            .iter()
            .map(|r| r["url"].as_str().unwrap().to_owned())
            .collect()
    };
    // The spider goes breadth-first from page 0: the first 120 pages found.
    let breadth_first = breadth_first(&site, 300, 120);
    assert_eq!(urls(&spider.records), breadth_first);
    // The crawler takes pages as they complete, so which 120 it finds
    // depends on timing: 120 distinct pages of the site, from page 0.
    let crawled = urls(&crawler.records);
    assert_eq!(crawled.len(), 120);
    assert!(crawled.contains(&site.url("/page/0")));
    assert!(
        spider
            .records
            .iter()
            .all(|r| r["title"].as_str().unwrap().starts_with("Page "))
    );
    // Every page once: the host's dedup.
    assert_eq!(site.counters().requests(), 240);

    // `run` refuses a spider with a clear message, and `crawl` a scraper.
    let run = crawlbox(&["run", EXAMPLE_SPIDER]);
    assert!(run.stderr.contains("crawlbox crawl"), "{}", run.stderr);
    let run = crawlbox(&["crawl", EXAMPLE_CRAWLER]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is not a spider"), "{}", run.stderr);
}

#[test]
fn a_crawl_killed_with_sigkill_resumes_without_losing_or_refetching_pages() {
    resumes_after_sigkill(EXAMPLE_SPIDER);
}

#[test]
fn a_python_spider_s_crawl_resumes_after_sigkill() {
    resumes_after_sigkill(crawlbox_guest_artifacts::PYTHON_SPIDER);
}

#[test]
fn a_js_spider_s_crawl_resumes_after_sigkill() {
    resumes_after_sigkill(crawlbox_guest_artifacts::JS_SPIDER);
}

/// A crawl by `spider` killed with SIGKILL after 60 items, run again with
/// the same state: every page exactly once, none fetched again but those
/// in flight at the kill.
fn resumes_after_sigkill(spider: &str) {
    let pages = 300;
    let site = site(pages, Duration::from_millis(10));
    let state = tempfile("state");
    let _ = std::fs::remove_dir_all(&state);
    let items = state.join("items.jsonl");
    let grant = grant(&site);
    let input = serde_json::json!({ "start": [site.url("/page/0")] }).to_string();
    let crawl = || {
        Command::new(env!("CARGO_BIN_EXE_crawlbox"))
            .args(["crawl", spider, "--input", &input, "--state"])
            .arg(&state)
            .args(&grant)
            .args(["--concurrency", "4", "-q"])
            .env("CRAWLBOX_CACHE_DIR", cache_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = crawl();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&items).len() < 60 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let before = lines(&items).len();
    assert!(before < pages, "killed too late: {before} items");

    let second = crawl().wait_with_output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let records = lines(&items);
    let urls: HashSet<&str> = records.iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert_eq!(
        records.len(),
        pages,
        "every page exactly once in the output"
    );
    assert_eq!(urls.len(), pages);
    // Finished pages were not fetched again; only those in flight at the
    // kill (at most the concurrency, 4) were.
    let refetched = (0..pages)
        .filter(|n| site.counters().requests_for(&format!("/page/{n}")) > 1)
        .count();
    assert!(refetched <= 4, "{refetched} pages fetched twice");
    assert!(site.counters().requests() <= pages as u64 + 4);
    // A third run has nothing left to do.
    let third = crawl().wait_with_output().unwrap();
    assert!(third.status.success());
    assert_eq!(lines(&items).len(), pages);
}

/// A spider's follow keeps every field of its request on its way from the
/// WIT through the frontier to the wire, whichever frontier holds it: in
/// memory, or serialised into Redis. (The journal's round trip is a test
/// of `crawlbox-frontier`; the follow's own timeout is
/// `a_follows_own_timeout_is_kept`.)
#[test]
fn a_follow_keeps_every_field_of_its_request() {
    let site = site(10, Duration::ZERO);
    let redis = crate::redis_support::RedisServer::start();
    let redis_url = redis.url();
    let input = serde_json::json!({
        "attack": "every-field",
        "url": site.url("/page/0"),
        "follow": site.url("/echo?q=1"),
    })
    .to_string();
    let grant = grant(&site);
    let frontiers: [(&str, Vec<&str>); 2] = [
        ("memory", vec![]),
        (
            "redis",
            vec!["--redis", &redis_url, "--crawl", "every-field"],
        ),
    ];
    for (frontier, extra) in frontiers {
        let mut args = vec![
            "crawl",
            crawlbox_guest_artifacts::HOSTILE_SPIDER,
            "--input",
            &input,
        ];
        args.extend(extra);
        args.extend(grant.iter().map(String::as_str));
        let run = crawlbox(&args);
        assert_eq!(run.code, 0, "{frontier}: {}", run.stderr);
        let items = if frontier == "redis" {
            crawlbox(&["export", "--redis", &redis_url, "--crawl", "every-field"]).records
        } else {
            run.records
        };
        let echoed = items
            .iter()
            .find(|item| item["meta"] == "kept-meta")
            .unwrap_or_else(|| panic!("{frontier}: no item of the follow in {items:?}"));
        // The host decoded the body as the follow asked.
        assert_eq!(echoed["encoding"], "UTF-8", "{frontier}: {echoed}");
        let sent: Value = serde_json::from_str(echoed["body"].as_str().unwrap()).unwrap();
        assert_eq!(sent["method"], "POST", "{frontier}: {sent}");
        assert_eq!(sent["path"], "/echo", "{frontier}: {sent}");
        assert_eq!(sent["query"], "q=1", "{frontier}: {sent}");
        assert_eq!(sent["body"], "kept=1", "{frontier}: {sent}");
        let headers = sent["headers"].as_array().unwrap();
        assert!(
            headers.contains(&serde_json::json!(["x-kept", "yes"])),
            "{frontier}: {sent}"
        );
        assert_eq!(
            site.counters().requests_for("/echo"),
            1 + u64::from(frontier == "redis"),
            "{frontier}: fetched once per crawl"
        );
    }
}

/// With `--instances 2`, two instances parse at once (their parses overlap
/// in time) and each page is parsed once; with `--instances 1`, one
/// instance parses every page, one after another.
#[test]
fn a_spider_parses_on_several_instances_at_once() {
    let site = site(10, Duration::ZERO);
    let input = serde_json::json!({
        "attack": "parallel",
        "url": site.url("/small"),
        "count": 12,
        "bytes": 100,
    })
    .to_string();
    let grant = grant(&site);
    for instances in ["1", "2"] {
        let mut args = vec![
            "crawl",
            crawlbox_guest_artifacts::HOSTILE_SPIDER,
            "--input",
            &input,
            "--instances",
            instances,
        ];
        args.extend(grant.iter().map(String::as_str));
        let run = crawlbox(&args);
        assert_eq!(run.code, 0, "--instances {instances}: {}", run.stderr);
        let pages: HashSet<&str> = run
            .records
            .iter()
            .map(|r| r["page"].as_str().unwrap())
            .collect();
        assert_eq!(
            pages.len(),
            13,
            "--instances {instances}: {:?}",
            run.records
        );
        assert_eq!(run.records.len(), 13, "each page parsed once");
        let ids: HashSet<u64> = run
            .records
            .iter()
            .map(|r| r["instance"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len().to_string(), instances, "{:?}", run.records);
        let spans: Vec<(u64, u64, u64)> = run
            .records
            .iter()
            .map(|r| {
                let at = |key: &str| r[key].as_u64().unwrap();
                (at("instance"), at("from_us"), at("to_us"))
            })
            .collect();
        let overlapping = spans.iter().any(|a| {
            spans
                .iter()
                .any(|b| !std::ptr::eq(a, b) && a.1 < b.2 && b.1 < a.2)
        });
        assert_eq!(
            overlapping,
            instances == "2",
            "--instances {instances}: parses overlap only with two instances: {spans:?}"
        );
    }
}

/// `crawlbox parse ...`: (exit code, stdout, stderr); its stdout is no
/// JSON Lines.
fn crawlbox_parse(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .arg("parse")
        .args(args)
        .args(["--allow-network", "127.0.0.1"])
        .env_remove("RUST_LOG")
        .env("CRAWLBOX_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `crawlbox parse SPIDER URL` shows what the spider makes of one page, in
/// every language: the page's item, and its follows (the host-extracted
/// links a follow-links makes follows of), readable or as JSON.
#[test]
fn crawlbox_parse_shows_a_page_s_items_and_follows() {
    let pages = 50;
    let site = site(pages, Duration::ZERO);
    let page = site.url("/page/3");
    let input = serde_json::json!({ "start": [site.url("/page/0")] }).to_string();
    let mut expected: Vec<String> = crawlbox_demo_site::links_of(3, pages)
        .into_iter()
        .chain([3])
        .map(|n| site.url(&format!("/page/{n}")))
        .collect();
    expected.sort();
    expected.dedup();
    for (lang, spider) in SPIDERS {
        let before = site.counters().requests();
        let (code, stdout, stderr) = crawlbox_parse(&[spider, &page, "--input", &input, "--json"]);
        assert_eq!(code, 0, "{lang}: {stderr}");
        let out: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(out["status"], 200, "{lang}: {out}");
        let items = out["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{lang}: {out}");
        assert_eq!(items[0]["title"], "Page 3", "{lang}: {out}");
        assert_eq!(items[0]["url"], page.as_str(), "{lang}: {out}");
        let mut follows: Vec<String> = out["follows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert_eq!(f["method"], "GET");
                f["url"].as_str().unwrap().to_owned()
            })
            .collect();
        follows.sort();
        assert_eq!(follows, expected, "{lang}: the page's same-host links");
        // Only the page itself was fetched, nothing it leads to.
        assert_eq!(site.counters().requests() - before, 1, "{lang}");
        assert_eq!(site.counters().requests_for("/page/0"), 0, "{lang}");
    }
    // Readable: the fetch, the items and the follows, by heading.
    let (code, text, stderr) = crawlbox_parse(&[EXAMPLE_SPIDER, &page, "--input", &input]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains(&format!("GET {page} -> 200")), "{text}");
    assert!(text.contains("items (1):"), "{text}");
    assert!(text.contains("\"title\": \"Page 3\""), "{text}");
    assert!(
        text.contains(&format!("follows ({}):", expected.len())),
        "{text}"
    );
    // A spider whose start needs an input it was not given says so.
    let (code, _, stderr) = crawlbox_parse(&[EXAMPLE_SPIDER, &page]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--input"), "{stderr}");
}
