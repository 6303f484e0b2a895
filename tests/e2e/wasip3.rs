//! WASI 0.3 under `crawlbox run --wasip3`: commands over
//! `wasi:http/client@0.3.0` (`guests/p3-fetch`) and native-async plugins of
//! `crawlbox:plugin/scraper-async` (`guests/p3-crawler`,
//! `guests/python-async`), through the same client, caps and policy as WASI
//! 0.2, in the same stats; and the 0.2.0 plugins that the package's growth
//! to 0.2.1 must keep running.

use std::time::Duration;

use serde_json::Value;

use crawlbox_demo_site::Site;

use crate::support::{Run, crawlbox, site, tempfile};

const P3_FETCH: &str = crawlbox_guest_artifacts::P3_FETCH;

fn stats_of(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `crawlbox run --wasip3 p3-fetch` with `flags`, then `--` and `args`.
fn p3_fetch(flags: &[&str], args: &[String]) -> Run {
    p3_fetch_at(std::path::Path::new(P3_FETCH), flags, args)
}

/// [`p3_fetch`], quiet, with `site` granted, robots.txt not asked for, and
/// `flags` more.
fn p3_fetch_granted(site: &Site, flags: &[&str], args: &[String]) -> Run {
    let grant = crate::support::grant(site);
    let mut all: Vec<&str> = vec!["-q", "--ignore-robots"];
    all.extend(grant.iter().map(String::as_str));
    all.extend(flags);
    p3_fetch(&all, args)
}

/// [`p3_fetch`] of the component at `wasm`.
fn p3_fetch_at(wasm: &std::path::Path, flags: &[&str], args: &[String]) -> Run {
    let mut all = vec!["run", "--wasip3", wasm.to_str().unwrap()];
    all.extend(flags);
    all.push("--");
    all.extend(args.iter().map(String::as_str));
    crawlbox(&all)
}

#[test]
fn a_wasi_0_3_command_fetches_through_the_pool_under_the_caps() {
    let site = site(40, Duration::from_millis(5));
    let stats = tempfile("p3-stats.json");
    let mut args = vec!["-c".to_owned(), "16".to_owned()];
    args.extend((0..40).map(|i| site.url(&format!("/page/{i}"))));
    let run = p3_fetch(
        &[
            "-q",
            "--allow-host",
            &site.base_url(),
            "--allow-network",
            "127.0.0.1",
            "--per-host",
            "3",
            "--stats",
            stats.to_str().unwrap(),
        ],
        &args,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 40, "{:?}", run.records);
    for record in &run.records {
        assert_eq!(record["status"], 200, "{record}");
        assert!(record["bytes"].as_u64().unwrap() > 100, "{record}");
    }
    // 16 in flight in the guest, 3 connections at most on the host's side.
    let seen = site.counters();
    assert!(
        seen.peak_open_connections() <= 3,
        "{}",
        seen.peak_open_connections()
    );
    assert!(seen.peak_in_flight() <= 3);
    assert!(seen.peak_in_flight() >= 2, "requests overlapped");
    // In the run's stats, as a 0.2 plugin's would be (robots.txt: a 404).
    let s = stats_of(&stats);
    assert_eq!(s["responses"]["200"], 40, "{s}");
    assert_eq!(s["records"], 40);
}

/// The grants of the policy tests: `site`, loopback, and the private
/// address 10.255.255.1 as a host but not as a network.
fn policy_grants(site: &Site) -> [String; 6] {
    [
        "--allow-host".into(),
        site.base_url(),
        "--allow-host".into(),
        "http://10.255.255.1".into(),
        "--allow-network".into(),
        "127.0.0.1".into(),
    ]
}

#[test]
fn wasi_0_3_requests_meet_the_policy_the_budget_and_the_size_limit() {
    let site = site(10, Duration::ZERO);
    let other = crate::support::site(10, Duration::ZERO);
    let stats = tempfile("p3-policy-stats.json");
    let urls = vec![
        // Another host on loopback, not granted.
        other.url("/page/1"),
        // A private address, granted as a host but not as a network.
        "http://10.255.255.1/".to_owned(),
        // A redirect to the other host: wasi:http does not follow it for
        // the guest, so nothing reaches the other host.
        site.url(&format!(
            "/redirect-to?url={}",
            other.url("/page/2").replace(':', "%3A").replace('/', "%2F")
        )),
        // Larger than --max-response-size.
        site.url("/bytes/200000"),
        site.url("/page/1"),
    ];
    let grants = policy_grants(&site);
    let mut flags: Vec<&str> = grants.iter().map(String::as_str).collect();
    flags.extend([
        "-q",
        "--max-response-size",
        "64KiB",
        "--ignore-robots",
        "--stats",
        stats.to_str().unwrap(),
    ]);
    let run = p3_fetch(
        &flags,
        &[vec!["-c".to_owned(), "1".to_owned()], urls.clone()].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let by_url = |url: &str| {
        run.records
            .iter()
            .find(|r| r["url"] == url)
            .unwrap_or_else(|| panic!("no record for {url}: {:?}", run.records))
    };
    assert!(
        by_url(&urls[0])["error"].is_string(),
        "{}",
        by_url(&urls[0])
    );
    assert!(
        by_url(&urls[1])["error"].is_string(),
        "{}",
        by_url(&urls[1])
    );
    assert_eq!(by_url(&urls[2])["status"], 302);
    assert!(
        by_url(&urls[3])["error"].is_string(),
        "{}",
        by_url(&urls[3])
    );
    assert_eq!(by_url(&urls[4])["status"], 200);
    assert_eq!(other.counters().requests(), 0, "the other host saw nothing");
    let s = stats_of(&stats);
    assert_eq!(s["errors"]["denied"], 2, "{s}");
    assert_eq!(s["errors"]["too-large"], 1, "{s}");

    // A name that resolves to loopback, granted as a host only; and a
    // header no plugin may send.
    let port = site.addr().port();
    let by_name = format!("http://localhost:{port}/page/1");
    let run = p3_fetch(
        &[
            "-q",
            "--allow-host",
            &format!("http://localhost:{port}"),
            "--ignore-robots",
        ],
        std::slice::from_ref(&by_name),
    );
    assert_eq!(run.code, 3, "every request failed: {}", run.stderr);
    assert!(run.records[0]["error"].is_string(), "{:?}", run.records);
    let before = site.counters().requests();
    let run = p3_fetch_granted(
        &site,
        &[],
        &[
            "-H".to_owned(),
            "proxy-authorization: Basic c2VjcmV0".to_owned(),
            site.url("/echo"),
        ],
    );
    let error = run.records[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("refused"),
        "{:?} {}",
        run.records,
        run.stderr
    );
    assert_eq!(site.counters().requests(), before, "nothing was sent");

    // The request budget.
    let many: Vec<String> = (0..10)
        .map(|i| site.url(&format!("/page/{}", i % 10)))
        .collect();
    let run = p3_fetch_granted(
        &site,
        &["--max-requests", "4", "--stats", stats.to_str().unwrap()],
        &many,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ok = run.records.iter().filter(|r| r["status"] == 200).count();
    assert_eq!(ok, 4, "{:?}", run.records);
    assert_eq!(stats_of(&stats)["requests"], 4);
}

#[test]
fn a_wasi_0_3_guest_that_spins_meets_its_cpu_limit() {
    let site = site(2, Duration::from_millis(200));
    let started = std::time::Instant::now();
    let run = p3_fetch(
        &[
            "-q",
            "--allow-host",
            &site.base_url(),
            "--allow-network",
            "127.0.0.1",
            "--cpu-limit",
            "500ms",
        ],
        &["spin".to_owned(), site.url("/page/1")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("CPU time limit"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped, not left to spin"
    );
}

/// Component-model handles (futures, streams, subtasks) cost the host's
/// memory, not the guest's: wasmtime stops a store at its handle limit.
#[test]
fn a_wasi_0_3_guest_that_makes_handles_without_end_is_stopped_at_the_limit() {
    let (run, peak) = crate::support::crawlbox_watched(&[
        "run",
        "--wasip3",
        P3_FETCH,
        "--time-limit",
        "60s",
        "--",
        "handles",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("store handle limit exceeded"),
        "{}",
        run.stderr
    );
    assert!(peak < 400 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn a_wasi_0_3_command_without_the_flag_says_how_to_run_it() {
    let run = crawlbox(&["run", P3_FETCH, "-q", "--", "http://127.0.0.1:9/"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--wasip3"), "{}", run.stderr);
}

/// `crawlbox:plugin/host-async` (the scraper-async world): the example crawl
/// in native async Rust, 16 fetches in flight on its side, the host's caps
/// on the other.
#[test]
fn the_async_rust_crawler_crawls_under_the_caps() {
    crate::languages::assert_crawls(
        crawlbox_guest_artifacts::P3_CRAWLER,
        "p3-crawler",
        crate::languages::Crawl::Async,
    );
}

/// The same crawl in async Python (componentize-py, asyncio tasks over
/// `fetch_async`).
#[test]
fn the_async_python_crawler_crawls_under_the_caps() {
    crate::languages::assert_crawls(
        crawlbox_guest_artifacts::PYTHON_ASYNC,
        "python-async",
        crate::languages::Crawl::Async,
    );
}

/// The async Python crawler on the built-in demo site (`crawlbox demo
/// --wasip3`), under caps of 2 connections: every page, once.
#[test]
fn the_async_python_crawler_crawls_the_demo_site() {
    let stats = tempfile("python-async-demo.json");
    let run = crawlbox(&[
        "demo",
        "--wasip3",
        crawlbox_guest_artifacts::PYTHON_ASYNC,
        "--concurrency",
        "2",
        "--per-host",
        "2",
        "--stats",
        stats.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 300, "{}", run.stderr);
    let mut titles: Vec<&str> = run
        .records
        .iter()
        .map(|r| {
            assert_eq!(r["status"], 200, "{r}");
            r["title"].as_str().unwrap()
        })
        .collect();
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), 300, "every page once");
    let connections: u64 = run
        .stderr
        .split("the demo site saw  300 requests over ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no demo site line for 300 requests: {}", run.stderr));
    assert!(connections <= 2, "{connections} connections");
    let s = stats_of(&stats);
    assert_eq!(s["responses"]["200"], 300, "{s}");
}

#[test]
fn a_scraper_async_plugin_without_the_flag_says_how_to_run_it() {
    let run = crawlbox(&["run", crawlbox_guest_artifacts::P3_CRAWLER, "-q"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--wasip3"), "{}", run.stderr);
}

/// `hostile fetch-flood` under `--wasip3`, `flags` added, with `more`
/// input beside its `hang` URL (of a site that never answers, returned)
/// and its `url` (of one that does), both granted; and its peak RSS.
fn fetch_flood(more: Value, flags: &[&str]) -> (Run, u64, Site) {
    let hang = site(10, Duration::from_secs(3600));
    let good = site(10, Duration::ZERO);
    let Value::Object(mut input) = more else {
        panic!("fetch-flood's input is an object: {more}");
    };
    input.insert("hang".into(), hang.url("/page/1").into());
    input.insert("url".into(), good.url("/page/2").into());
    let input = Value::Object(input).to_string();
    let (hang_url, good_url) = (hang.base_url(), good.base_url());
    let mut args = vec![
        "run",
        "--wasip3",
        crawlbox_guest_artifacts::HOSTILE_FETCH_FLOOD,
        "-q",
        "--input",
        &input,
        "--allow-host",
        &hang_url,
        "--allow-host",
        &good_url,
        "--allow-network",
        "127.0.0.1",
        "--ignore-robots",
        "--time-limit",
        "120s",
    ];
    args.extend(flags);
    let (run, peak) = crate::support::crawlbox_watched(&args);
    (run, peak, hang)
}

/// Past 65536 pending `host-async.fetch`es a fetch fails at once, as
/// `denied`; the guest dropping its pending fetches cancels them (the host
/// forgets them, and its next fetch is admitted and answered at once).
#[test]
fn an_async_fetch_flood_is_refused_past_the_cap_and_dropped_fetches_are_cancelled() {
    let (run, _, hang) = fetch_flood(serde_json::json!({}), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = &run.records[1];
    assert_eq!(report["held"], 65_536, "{report}");
    assert_eq!(report["denied"], 70_000 - 65_536, "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(
        message.contains("at most 65536 fetches pending") && message.contains("await some"),
        "{message}"
    );
    assert_eq!(report["after_drop"]["Ok"], 200, "{report}");
    // Only the host's caps' worth of the held fetches reached the site.
    let sent = hang.counters().requests();
    assert!(sent <= 64, "{sent} of the held fetches reached the site");
}

/// `crawlbox:plugin` grew to 0.2.1 by addition only: a scraper built
/// against 0.2.0 as released (`guests/plugin-0-2-0`, its own copy of that
/// WIT) runs unchanged, without `--wasip3`.
#[test]
fn a_plugin_built_against_0_2_0_runs_on_this_host() {
    let wasm = std::fs::read(crawlbox_guest_artifacts::PLUGIN_0_2_0).unwrap();
    let imports = |name: &str| wasm.windows(name.len()).any(|w| w == name.as_bytes());
    assert!(imports("crawlbox:plugin/host@0.2.0"), "built against 0.2.0");
    assert!(!imports("crawlbox:plugin/host@0.2.1"));
    let site = site(10, Duration::ZERO);
    let run = crawlbox(&[
        "run",
        crawlbox_guest_artifacts::PLUGIN_0_2_0,
        "-q",
        "--input",
        &serde_json::to_string(&site.url("/page/3")).unwrap(),
        "--allow-host",
        &site.base_url(),
        "--allow-network",
        "127.0.0.1",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.records,
        [serde_json::json!({ "url": site.url("/page/3"), "status": 200, "title": "Page 3" })]
    );
}

/// A 0.3 request body is a stream the guest writes while `send` is
/// pending: it reaches the server whole.
#[test]
fn a_wasi_0_3_request_body_is_sent_whole() {
    let site = site(10, Duration::ZERO);
    let body = "field=value&".repeat(200);
    let run = p3_fetch_granted(
        &site,
        &[],
        &["-d".to_owned(), body.clone(), site.url("/echo")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records[0]["status"], 200, "{:?}", run.records);
    let echo: Value = serde_json::from_str(run.records[0]["body"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {:?}", run.records));
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["body"], body.as_str(), "{echo}");
}

/// A 0.3 guest that writes a request body without end is stopped at its
/// session's budget for requests not sent yet, as a 0.2 guest is.
#[test]
fn an_endless_wasi_0_3_request_body_is_stopped_at_the_budget() {
    let site = site(10, Duration::ZERO);
    let (run, peak) = crate::support::crawlbox_watched(&[
        "run",
        "--wasip3",
        P3_FETCH,
        "-q",
        "--allow-host",
        &site.base_url(),
        "--allow-network",
        "127.0.0.1",
        "--ignore-robots",
        "--max-buffered-responses",
        "32MiB",
        "--time-limit",
        "60s",
        "--",
        "upload-flood",
        &site.url("/echo"),
    ]);
    let report = &run.records[0];
    assert!(report["written"].as_u64().unwrap() >= 32 << 20, "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestBodySize"),
        "{report} {}",
        run.stderr
    );
    assert_eq!(site.counters().requests(), 0, "nothing was sent");
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
}

/// Pending `host-async.fetch`es hold their requests in host memory: past
/// the session's budget for requests not sent yet, a fetch fails at once
/// as `too-large`.
#[test]
fn pending_async_fetches_hold_their_bodies_only_up_to_the_budget() {
    let (run, peak, _) = fetch_flood(
        serde_json::json!({ "body": 1 << 20, "count": 300 }),
        &["--max-buffered-responses", "32MiB"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = &run.records[1];
    let too_large = report["too_large"].as_u64().unwrap();
    assert!(too_large >= 260, "{report}");
    assert_eq!(
        report["held"].as_u64().unwrap() + too_large,
        300,
        "{report}"
    );
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("requests not sent yet"),
        "{report}"
    );
    assert_eq!(report["after_drop"]["Ok"], 200, "{report}");
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
}

/// A component whose imports (and `run` export) name a later patch release
/// of the same 0.3 packages, or of `crawlbox:plugin` 0.2, links to this
/// host's as long as it uses nothing the later release added (wasmtime
/// matches names semver-compatibly). The guests here are this host's own,
/// their names rewritten to `@0.3.7` and `@0.2.9` (same length, so the
/// component stays valid): what a guest built against those releases
/// asks for.
#[test]
fn semver_compatible_imports_link() {
    let site = site(10, Duration::ZERO);
    let renamed = |wasm: &str, names: &[(&str, &str)], file: &str| {
        let mut bytes = std::fs::read(wasm).unwrap();
        for (from, to) in names {
            let (from, to) = (from.as_bytes(), to.as_bytes());
            assert_eq!(from.len(), to.len());
            let mut hits = 0;
            let mut at = 0;
            while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
                bytes[at + found..at + found + from.len()].copy_from_slice(to);
                at += found + from.len();
                hits += 1;
            }
            assert!(
                hits > 0,
                "{wasm} names no {}",
                String::from_utf8_lossy(from)
            );
        }
        let path = tempfile(file);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let command = renamed(P3_FETCH, &[("@0.3.0", "@0.3.7")], "p3-fetch-0.3.7.wasm");
    let run = p3_fetch_at(
        &command,
        &[
            "-q",
            "--allow-host",
            &site.base_url(),
            "--allow-network",
            "127.0.0.1",
        ],
        &[site.url("/page/1")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records[0]["status"], 200, "{:?}", run.records);

    let plugin = renamed(
        crawlbox_guest_artifacts::P3_CRAWLER,
        &[
            ("crawlbox:plugin/host@0.2.1", "crawlbox:plugin/host@0.2.9"),
            ("crawlbox:plugin/html@0.2.1", "crawlbox:plugin/html@0.2.9"),
            (
                "crawlbox:plugin/host-async@0.2.1",
                "crawlbox:plugin/host-async@0.2.9",
            ),
        ],
        "p3-crawler-0.2.9.wasm",
    );
    let input = serde_json::json!({ "start": [site.url("/page/0")], "max_pages": 5 });
    let run = crawlbox(&[
        "run",
        "--wasip3",
        plugin.to_str().unwrap(),
        "-q",
        "--input",
        &input.to_string(),
        "--allow-host",
        &site.base_url(),
        "--allow-network",
        "127.0.0.1",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 5, "{}", run.stderr);
}

/// `host-async.fetch` goes through the same policy as `host.fetch`: a
/// loopback site not granted, and a private address granted as a host but
/// not as a network, are both denied, and neither sees a request.
#[test]
fn async_fetches_meet_the_allowlist_and_the_address_check() {
    let site = site(10, Duration::ZERO);
    let other = crate::support::site(10, Duration::ZERO);
    let start = [other.url("/page/1"), "http://10.255.255.1/".to_owned()];
    let input = serde_json::json!({ "start": start, "max_pages": 2 });
    let input = input.to_string();
    let grants = policy_grants(&site);
    let mut args = vec![
        "run",
        "--wasip3",
        crawlbox_guest_artifacts::P3_CRAWLER,
        "-q",
        "--input",
        &input,
        "--ignore-robots",
    ];
    args.extend(grants.iter().map(String::as_str));
    let run = crawlbox(&args);
    assert_eq!(run.records.len(), 2, "{}", run.stderr);
    for record in &run.records {
        assert_eq!(record["error"], "denied", "{record}");
    }
    assert_eq!(other.counters().requests(), 0, "the other site saw nothing");
}
