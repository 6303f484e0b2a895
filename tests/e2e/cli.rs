//! The `run` and `demo` commands: records, caps, timeouts, usage errors.

use std::time::Duration;

use crawlbox_guest_artifacts::{EXAMPLE_CRAWLER, WASI_HTTP_FETCH};
use serde_json::{Value, json};

use crate::support::{crawl_input, crawlbox, grant, same_host_links, site, tempfile};

/// `crawlbox run PLUGIN --input INPUT` with the site granted, plus `extra`.
fn run_on(
    site: &crawlbox_demo_site::Site,
    plugin: &str,
    input: &str,
    extra: &[&str],
) -> crate::support::Run {
    let grant = grant(site);
    let mut args = vec!["run", plugin, "--input", input];
    args.extend(grant.iter().map(String::as_str));
    args.extend_from_slice(extra);
    crawlbox(&args)
}

#[test]
fn example_crawler_emits_one_record_per_page() {
    let site = site(300, Duration::ZERO);
    let run = run_on(&site, EXAMPLE_CRAWLER, &crawl_input(&site, 300, 32), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 300);
    for record in &run.records {
        assert_eq!(record["status"], 200, "{record}");
        assert!(record["title"].as_str().unwrap().starts_with("Page "));
        assert_eq!(record["links"], same_host_links(record, 300), "{record}");
    }
    // The summary on stderr, Scrapy-style, with the host's work for it.
    assert!(
        run.stderr.contains("example-crawler completed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("extracted          300 pages on the host ("),
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
    let run = run_on(
        &site,
        EXAMPLE_CRAWLER,
        &crawl_input(&site, 2000, 64),
        &[
            "--concurrency",
            "16",
            "--per-host",
            "64",
            "--stats",
            stats.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 2000);
    assert_eq!(site.counters().requests(), 2000);
    let connections = site.counters().connections();
    assert!(connections <= 16, "{connections} connections");
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    // The site's robots.txt (a 404 here: everything allowed) was fetched once.
    assert_eq!(site.counters().requests_for("/robots.txt"), 1);
    assert_eq!(stats["requests"], 2001);
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
    let run = run_on(&site, WASI_HTTP_FETCH, &input, &["--concurrency", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 1);
    let summary = &run.records[0];
    assert_eq!(
        (&summary["requests"], &summary["ok"], &summary["errors"]),
        (&json!(200), &json!(200), &json!(0)),
        "{summary}"
    );
    let peak = site.counters().peak_in_flight();
    assert_eq!(peak, 4, "the guest asked for 32 at once; the host allows 4");
    assert!(site.counters().connections() <= 4);
}

#[test]
fn per_host_caps_connections_below_concurrency() {
    let site = site(300, Duration::from_millis(2));
    let run = run_on(
        &site,
        EXAMPLE_CRAWLER,
        &crawl_input(&site, 300, 64),
        &["--concurrency", "64", "--per-host", "3"],
    );
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
    let run = run_on(&site, EXAMPLE_CRAWLER, &input, &["--timeout", "300ms"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 5);
    // Pages come back as they complete: the four others went past the
    // hanging one.
    let slow = &run.records[4];
    assert_eq!(slow["url"], site.url("/slow/5000"));
    assert_eq!(slow["error"], "timeout", "{slow}");
    assert!(run.records[..4].iter().all(|r| r["status"] == 200));
    // Timeouts are retried only while the request's --timeout has time
    // left: the first try spent all of it, so the timeout is reported at
    // once (a server that hangs costs one --timeout, not three).
    assert!(
        run.stderr.contains("errors             timeout: 1"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("retries "), "{}", run.stderr);
}

#[test]
fn records_go_to_out_and_logs_never_into_records() {
    let site = site(50, Duration::ZERO);
    let out = tempfile("records.jsonl");
    let run = run_on(
        &site,
        EXAMPLE_CRAWLER,
        &crawl_input(&site, 50, 8),
        &["--out", out.to_str().unwrap()],
    );
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

#[test]
fn nothing_is_reachable_without_a_grant_and_the_summary_says_how() {
    let site = site(10, Duration::ZERO);
    let run = crawlbox(&["run", EXAMPLE_CRAWLER, "--input", &crawl_input(&site, 5, 8)]);
    // Completed, but nothing was fetched: exit 3, not a clean 0.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("every one of its requests failed (denied: 1)"),
        "{}",
        run.stderr
    );
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.records[0]["error"], "denied");
    let message = run.records[0]["message"].as_str().unwrap();
    assert!(
        message.contains("--allow-host http://127.0.0.1:"),
        "{message}"
    );
    assert!(
        run.stderr.contains("hint               denied requests"),
        "{}",
        run.stderr
    );
    assert_eq!(site.counters().connections(), 0);
}

#[test]
fn a_manifest_beside_the_plugin_grants_and_limits() {
    let site = site(100, Duration::ZERO);
    let dir = tempfile("plugin");
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("crawler.wasm");
    std::fs::copy(EXAMPLE_CRAWLER, &plugin).unwrap();
    std::fs::write(
        dir.join("crawlbox.toml"),
        format!(
            "name = \"from-manifest\"\ninput = {{ start = [\"{}\"], max_pages = 30 }}\n\
             [network]\nallowed_hosts = [\"{}\"]\nallowed_networks = [\"127.0.0.1\"]\nmax_requests = 20\n",
            site.url("/page/0"),
            site.base_url()
        ),
    )
    .unwrap();
    let run = crawlbox(&["run", plugin.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("from-manifest completed"),
        "{}",
        run.stderr
    );
    // 30 pages wanted, the budget allows 20 requests: robots.txt and 19 pages.
    assert_eq!(run.records.len(), 30);
    let fetched = run.records.iter().filter(|r| r["status"] == 200).count();
    assert_eq!(fetched, 19);
    let denied = run
        .records
        .iter()
        .filter(|r| r["error"] == "denied")
        .count();
    assert_eq!(denied, 11);
    assert_eq!(site.counters().requests(), 19);
    assert_eq!(site.counters().requests_for("/robots.txt"), 1);

    // A flag overrides the manifest.
    let run = crawlbox(&["run", plugin.to_str().unwrap(), "--max-requests", "5"]);
    assert_eq!(run.records.iter().filter(|r| r["status"] == 200).count(), 4);

    // A manifest with a typo is a usage error naming the key.
    std::fs::write(dir.join("crawlbox.toml"), "[network]\nallowed_host = []\n").unwrap();
    let run = crawlbox(&["run", plugin.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("allowed_host"), "{}", run.stderr);
}

#[test]
fn several_plugins_share_one_client_with_tagged_records() {
    let site = site(300, Duration::from_millis(1));
    let dir = tempfile("jobs");
    std::fs::create_dir_all(&dir).unwrap();
    let jobs = dir.join("jobs.toml");
    let grant = format!(
        "allowed_hosts = [\"{}\"]\nallowed_networks = [\"127.0.0.1\"]",
        site.base_url()
    );
    std::fs::write(dir.join("grant.toml"), format!("[network]\n{grant}\n")).unwrap();
    std::fs::write(
        &jobs,
        format!(
            "[[job]]\nplugin = {EXAMPLE_CRAWLER:?}\nmanifest = \"grant.toml\"\n\
             input_json = '{{\"start\": {start}, \"max_pages\": 100, \"batch\": 16}}'\n\
             [[job]]\nplugin = {WASI_HTTP_FETCH:?}\nmanifest = \"grant.toml\"\n\
             input_json = '{{\"base\": {base}, \"path\": \"/page/{{i}}\", \"n\": 100, \"concurrency\": 16}}'\n",
            start = json!([site.url("/page/0")]),
            base = json!(site.base_url()),
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let run = crawlbox(&[
        "run",
        "--jobs",
        jobs.to_str().unwrap(),
        "--concurrency",
        "8",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records_of("example-crawler").len(), 100);
    assert_eq!(run.records_of("wasi-http-fetch").len(), 100);
    assert!(site.counters().peak_in_flight() <= 8);
    assert!(site.counters().connections() <= 8);
    assert!(
        run.stderr.contains("(shared by all plugins)"),
        "{}",
        run.stderr
    );

    // --out-dir: one untagged file per plugin.
    let run = crawlbox(&[
        "run",
        "--jobs",
        jobs.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in ["example-crawler", "wasi-http-fetch"] {
        let text = std::fs::read_to_string(out_dir.join(format!("{name}.jsonl"))).unwrap();
        assert_eq!(text.lines().count(), 100);
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert!(first.get("plugin").is_none(), "{first}");
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_keeps_what_was_emitted() {
    let site = site(1000, Duration::from_millis(20));
    let out = tempfile("interrupted.jsonl");
    let grant = grant(&site);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args([
            "run",
            EXAMPLE_CRAWLER,
            "--input",
            &crawl_input(&site, 1000, 4),
        ])
        .args(&grant)
        .args(["--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some records are out, then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()) < 8 {
        assert!(std::time::Instant::now() < deadline, "no records in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("example-crawler interrupted"), "{stderr}");
    let written = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert!(
        lines.len() >= 8 && lines.len() < 1000,
        "{} records",
        lines.len()
    );
    // Every line is a whole record: nothing half-written.
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    assert!(
        stderr.contains(&format!("records            {}", lines.len())),
        "{stderr}"
    );
}

#[test]
fn raw_wasi_http_calls_are_pooled_and_capped_too() {
    let site = site(300, Duration::from_millis(2));
    // One record per URL, an unreachable one among them.
    let mut urls: Vec<String> = (0..150).map(|i| site.url(&format!("/page/{i}"))).collect();
    urls.push(site.url("/status/404"));
    urls.push("http://127.0.0.1:1/".to_owned());
    let input = json!({ "urls": urls, "concurrency": 32, "client": "raw" }).to_string();
    let run = run_on(
        &site,
        WASI_HTTP_FETCH,
        &input,
        &["--concurrency", "4", "--allow-host", "http://127.0.0.1:1"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 152);
    let ok = run.records.iter().filter(|r| r["status"] == 200).count();
    assert_eq!(ok, 150);
    assert!(run.records.iter().any(|r| r["status"] == 404));
    let failed: Vec<_> = run
        .records
        .iter()
        .filter(|r| r["error"].is_string())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("ConnectionRefused"),
        "{}",
        failed[0]
    );
    assert!(
        run.records
            .iter()
            .all(|r| r["status"] != 200 || r["bytes"].as_u64() > Some(300))
    );
    assert_eq!(site.counters().peak_in_flight(), 4);
    assert!(site.counters().connections() <= 4);
}

#[test]
fn a_record_that_cannot_be_written_is_the_hosts_failure_not_the_plugins() {
    let site = site(10, Duration::ZERO);
    let input = crawl_input(&site, 5, 8);
    let grant = grant(&site);
    let mut args = vec![
        "run",
        EXAMPLE_CRAWLER,
        "--input",
        &input,
        "--out",
        "/dev/full",
    ];
    args.extend(grant.iter().map(String::as_str));
    let run = crawlbox(&args);
    // Exit 4, its own code: the disk is full, the plugin did nothing wrong.
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("crawlbox: example-crawler output-failed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("the plugin returned an error"),
        "{}",
        run.stderr
    );
}
