//! The `crawlbox` binary end to end: real guests, a local site that counts
//! connections and requests in flight.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_guest_artifacts::{EXAMPLE_CRAWLER, WASI_HTTP_FETCH};
use serde_json::{Value, json};

struct Run {
    code: i32,
    records: Vec<Value>,
    stderr: String,
}

fn crawlbox(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run crawlbox");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let records = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("stdout line {line:?} is not JSON ({e}); stderr:\n{stderr}")
            })
        })
        .collect();
    let run = Run {
        code: output.status.code().expect("exited, not killed"),
        records,
        stderr,
    };
    assert!(
        !run.stderr.contains("panicked"),
        "crawlbox panicked:\n{}",
        run.stderr
    );
    run
}

fn site(pages: usize, page_delay: Duration) -> Site {
    Site::start(SiteConfig { pages, page_delay }).expect("start the test site")
}

fn crawl_input(site: &Site, max_pages: usize, batch: usize) -> String {
    json!({ "start": [site.url("/page/0")], "max_pages": max_pages, "batch": batch }).to_string()
}

#[test]
fn example_crawler_emits_one_record_per_page() {
    let site = site(300, Duration::ZERO);
    let run = crawlbox(&[
        "run",
        EXAMPLE_CRAWLER,
        "--input",
        &crawl_input(&site, 300, 32),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 300);
    for record in &run.records {
        assert_eq!(record["status"], 200, "{record}");
        assert!(record["title"].as_str().unwrap().starts_with("Page "));
        assert!(record["links"].as_u64().unwrap() >= 5);
    }
    // The summary on stderr, Scrapy-style.
    assert!(
        run.stderr.contains("example-crawler completed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("records            300"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("responses          200: 300"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("latency            p50"),
        "{}",
        run.stderr
    );
}

#[test]
fn two_thousand_requests_at_concurrency_16_use_at_most_16_connections() {
    let site = site(2000, Duration::ZERO);
    let stats = tempfile("stats.json");
    let run = crawlbox(&[
        "run",
        EXAMPLE_CRAWLER,
        "--input",
        &crawl_input(&site, 2000, 64),
        "--concurrency",
        "16",
        "--per-host",
        "64",
        "--stats",
        stats.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 2000);
    assert_eq!(site.counters().requests(), 2000);
    let connections = site.counters().connections();
    assert!(connections <= 16, "{connections} connections");
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(stats["requests"], 2000);
    assert_eq!(stats["records"], 2000);
    assert_eq!(stats["connections_opened"], connections);
    assert_eq!(stats["errors"], json!({}));
}

#[test]
fn concurrency_4_never_has_more_than_4_in_flight() {
    let site = site(300, Duration::from_millis(5));
    let input = json!({
        "base": site.base_url(), "path": "/page/{i}", "n": 200, "concurrency": 32, "records": false
    })
    .to_string();
    let run = crawlbox(&[
        "run",
        WASI_HTTP_FETCH,
        "--input",
        &input,
        "--concurrency",
        "4",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.records,
        vec![json!({"requests": 200, "ok": 200, "errors": 0, "bytes": run.records[0]["bytes"]})]
    );
    let peak = site.counters().peak_in_flight();
    assert_eq!(peak, 4, "the guest asked for 32 at once; the host allows 4");
    assert!(site.counters().connections() <= 4);
}

#[test]
fn per_host_caps_connections_below_concurrency() {
    let site = site(300, Duration::from_millis(2));
    let run = crawlbox(&[
        "run",
        EXAMPLE_CRAWLER,
        "--input",
        &crawl_input(&site, 300, 64),
        "--concurrency",
        "64",
        "--per-host",
        "3",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 300);
    assert!(site.counters().peak_open_connections() <= 3);
    assert!(site.counters().connections() <= 3);
    assert!(site.counters().peak_in_flight() <= 3);
}

#[test]
fn a_slow_endpoint_times_out_and_the_run_goes_on() {
    let site = site(300, Duration::ZERO);
    let input = json!({
        "start": [site.url("/slow/5000"), site.url("/page/0")], "max_pages": 5, "batch": 8
    })
    .to_string();
    let run = crawlbox(&[
        "run",
        EXAMPLE_CRAWLER,
        "--input",
        &input,
        "--timeout",
        "300ms",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 5);
    let slow = &run.records[0];
    assert_eq!(slow["url"], site.url("/slow/5000"));
    assert_eq!(slow["error"], "timeout", "{slow}");
    assert!(run.records[1..].iter().all(|r| r["status"] == 200));
    assert!(
        run.stderr.contains("errors             timeout: 1"),
        "{}",
        run.stderr
    );
}

#[test]
fn records_go_to_out_and_logs_never_into_records() {
    let site = site(50, Duration::ZERO);
    let out = tempfile("records.jsonl");
    let run = crawlbox(&[
        "run",
        EXAMPLE_CRAWLER,
        "--input",
        &crawl_input(&site, 50, 8),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.records.is_empty(), "stdout must stay empty with --out");
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 50);
    assert!(
        written
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    // The guest's log line went to stderr.
    assert!(run.stderr.contains("crawled 50 pages"), "{}", run.stderr);
}

#[test]
fn bad_input_is_a_clear_usage_error() {
    let run = crawlbox(&["run", EXAMPLE_CRAWLER, "--input", "{not json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--input is not valid JSON"),
        "{}",
        run.stderr
    );

    let run = crawlbox(&[
        "run",
        EXAMPLE_CRAWLER,
        "--input-file",
        "/nonexistent/input.json",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read --input-file"),
        "{}",
        run.stderr
    );

    let run = crawlbox(&["run", EXAMPLE_CRAWLER, "--concurrency", "0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("concurrency must be at least 1"),
        "{}",
        run.stderr
    );

    let run = crawlbox(&["run", EXAMPLE_CRAWLER, "--timeout", "soon"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is not a duration"), "{}", run.stderr);
}

#[test]
fn input_the_plugin_rejects_fails_the_run() {
    let run = crawlbox(&["run", EXAMPLE_CRAWLER, "--input", r#"{"start": []}"#]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("input.start is empty"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_or_invalid_plugins_get_clear_messages() {
    let run = crawlbox(&["run", "/nonexistent/plugin.wasm"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot read the plugin /nonexistent/plugin.wasm"),
        "{}",
        run.stderr
    );

    let junk = tempfile("junk.wasm");
    std::fs::write(&junk, "this is not wasm").unwrap();
    let run = crawlbox(&["run", junk.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a WebAssembly component"),
        "{}",
        run.stderr
    );

    let core = tempfile("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let run = crawlbox(&["run", core.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("core WebAssembly module, not a component"),
        "{}",
        run.stderr
    );
}

#[test]
fn demo_crawls_the_built_in_site() {
    let run = crawlbox(&["demo", "--max-pages", "40"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 40);
    assert!(run.records.iter().all(|r| r["status"] == 200));
    assert!(
        run.stderr.contains("the demo site saw  40 requests"),
        "{}",
        run.stderr
    );
}

/// A fresh path in a per-test temporary directory.
fn tempfile(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crawlbox-cli-test-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
