//! A crawl shared over Redis: three `crawlbox worker`s, one killed with
//! SIGKILL mid-crawl, and still every page exactly once in the export, at
//! the per-host rate.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::redis_support::RedisServer;
use crate::support::{
    SPIDERS, cache_dir, crawl_spider, crawl_with, crawlbox, grant, site, tempfile,
};

const PAGES: usize = 2000;
/// The shared least delay between two fetches from the site.
const INTERVAL_MS: u64 = 3;

fn worker(redis: &str, grant: &[String], stats: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args(["worker", "--redis", redis, "--crawl", "e2e", "-q"])
        .args(["--reclaim-after", "2s", "-c", "8"])
        .args(["--per-host-delay", &format!("{INTERVAL_MS}ms")])
        .arg("--stats")
        .arg(stats)
        .args(grant)
        .env_remove("RUST_LOG")
        .env("CRAWLBOX_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a worker")
}

fn wait(mut child: Child, limit: Duration) -> (i32, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        assert!(
            started.elapsed() < limit,
            "a worker did not finish in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_workers_one_killed_share_a_crawl_exactly_once_at_the_host_rate() {
    let redis = RedisServer::start();
    let url = redis.url();
    let site = site(PAGES, Duration::from_millis(1));
    let grant = grant(&site);

    // Publish the spider and seed the crawl.
    let seed = crawl_spider(&site, &["--redis", &url, "--crawl", "e2e", "--seed-only"]);
    assert_eq!(seed.code, 0, "{}", seed.stderr);
    assert_eq!(site.counters().requests(), 0, "seeding fetches nothing");

    let stats: Vec<_> = (0..3)
        .map(|i| tempfile(&format!("stats-{i}.json")))
        .collect();
    let mut workers: Vec<Child> = stats.iter().map(|s| worker(&url, &grant, s)).collect();
    // Kill the first worker once the crawl is well under way.
    let started = Instant::now();
    while site.counters().requests() < 400 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the crawl does not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut killed = workers.remove(0);
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    let at_kill = site.counters().requests();
    assert!(at_kill < PAGES as u64, "killed too late: {at_kill} pages");
    for worker in workers {
        let (code, stderr) = wait(worker, Duration::from_secs(120));
        assert_eq!(code, 0, "{stderr}");
    }

    // Every page exactly once in the export.
    let out = tempfile("items.jsonl");
    let export = crawlbox(&[
        "export",
        "--redis",
        &url,
        "--crawl",
        "e2e",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let items: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let urls: HashSet<&str> = items.iter().map(|i| i["url"].as_str().unwrap()).collect();
    assert_eq!(items.len(), PAGES, "one item per page");
    assert_eq!(urls.len(), PAGES, "no page twice, none missing");

    // The killed worker's pages were taken over; refetches are bounded by
    // what it held: pages in flight and commits under way, each at most its
    // concurrency, 8.
    let survivors: Vec<Value> = stats[1..]
        .iter()
        .map(|s| serde_json::from_str(&std::fs::read_to_string(s).unwrap()).unwrap())
        .collect();
    let crawl = &survivors[1]["crawl"];
    assert_eq!(crawl["done"], PAGES as u64, "{crawl}");
    assert_eq!(crawl["pending"], 0);
    assert_eq!(crawl["queued"], 0);
    assert!(crawl["duplicates"].as_u64().unwrap() <= 16, "{crawl}");
    let fetched = site.counters().requests();
    assert!(
        (PAGES as u64..=PAGES as u64 + 16).contains(&fetched),
        "{fetched} fetches for {PAGES} pages"
    );
    let survivors_pages: u64 = survivors.iter().map(|s| s["pages"].as_u64().unwrap()).sum();
    assert!(
        survivors_pages < PAGES as u64,
        "the killed worker did its part"
    );

    // The per-host rate held across the three workers: a worker sends at
    // most 2 ms after its slot (else it takes a new one), so in any 500 ms
    // there are at most (500 + 2) / interval + 1 = 168 sends (168 seen
    // here), plus three for the jitter between a send and its arrival on a
    // loaded CI machine.
    let arrivals = site.counters().arrivals();
    let window = Duration::from_millis(500);
    let most = ((500 + 2) / INTERVAL_MS + 4) as usize;
    let mut start = 0;
    let mut busiest = 0;
    for end in 0..arrivals.len() {
        while arrivals[end] - arrivals[start] >= window {
            start += 1;
        }
        busiest = busiest.max(end - start + 1);
    }
    eprintln!("busiest 500 ms: {busiest} fetches (limit {most})");
    assert!(busiest <= most, "{busiest} fetches within 500 ms");
}

#[test]
fn a_worker_adopts_the_limits_the_crawl_was_seeded_with() {
    let redis = RedisServer::start();
    let url = redis.url();
    let site = site(300, Duration::ZERO);
    let grant = grant(&site);
    let seed = crawl_spider(
        &site,
        &[
            "--max-pages",
            "50",
            "--redis",
            &url,
            "--crawl",
            "limited",
            "--seed-only",
        ],
    );
    assert_eq!(seed.code, 0, "{}", seed.stderr);

    let mut args = vec!["worker", "--redis", &url, "--crawl", "limited", "-q"];
    args.extend(grant.iter().map(String::as_str));
    let work = crawlbox(&args);
    assert_eq!(work.code, 0, "{}", work.stderr);
    let export = crawlbox(&["export", "--redis", &url, "--crawl", "limited"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert_eq!(export.records.len(), 50, "the crawl's --max-pages 50 held");
    assert_eq!(site.counters().requests(), 50);
}

/// Spiders in every language run as Redis workers: the crawl is seeded with
/// one, and a `crawlbox worker` (which takes the spider from Redis) crawls
/// the whole site, each page exactly once.
#[test]
fn the_spiders_of_every_language_work_a_crawl_from_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let pages = 120;
    let site = site(pages, Duration::ZERO);
    let grant = grant(&site);
    for (lang, spider) in SPIDERS {
        let before = site.counters().requests();
        let name = format!("every-{lang}");
        let seed = crawl_with(
            spider,
            &site,
            &["--redis", &url, "--crawl", &name, "--seed-only"],
        );
        assert_eq!(seed.code, 0, "{lang}: {}", seed.stderr);
        let mut args = vec!["worker", "--redis", &url, "--crawl", &name, "-q"];
        args.extend(grant.iter().map(String::as_str));
        let work = crawlbox(&args);
        assert_eq!(work.code, 0, "{lang}: {}", work.stderr);
        let export = crawlbox(&["export", "--redis", &url, "--crawl", &name]);
        assert_eq!(export.code, 0, "{lang}: {}", export.stderr);
        let urls: HashSet<&str> = export
            .records
            .iter()
            .map(|r| r["url"].as_str().unwrap())
            .collect();
        assert_eq!(export.records.len(), pages, "{lang}: one item per page");
        assert_eq!(urls.len(), pages, "{lang}: every page once");
        assert!(
            export
                .records
                .iter()
                .all(|r| r["title"].as_str().unwrap().starts_with("Page ")),
            "{lang}"
        );
        assert_eq!(site.counters().requests() - before, pages as u64, "{lang}");
    }
}

#[test]
fn an_unreachable_redis_is_one_clear_error() {
    let port = crate::redis_support::free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let run = crawlbox(&["export", "--redis", &url]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is redis-server running there"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("Connection refused").count(),
        1,
        "the cause once: {}",
        run.stderr
    );
}
