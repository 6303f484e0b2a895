//! The hostile-plugin suite: one test per attack. Each runs the attacker
//! (from `guests/hostile`) and a well-behaved crawler in one `crawlbox`
//! process and asserts the documented outcome, that the host lived to print
//! its summary, that the crawler was unaffected, and that records emitted
//! before the failure were kept.

use std::time::Duration;

use crawlbox_demo_site::Site;
use crawlbox_guest_artifacts as guests;
use serde_json::{Value, json};

use crate::support::{GOOD_PAGES, Run, crawlbox, hostile_jobs, site, tempfile};

/// Runs `plugin` (as job "hostile", with `manifest` TOML and `input`) next
/// to the example crawler (job "good", granted the site) in one process.
fn attack(site: &Site, plugin: &str, input: Value, manifest: &str) -> Run {
    let jobs = hostile_jobs(
        &tempfile("jobs"),
        site,
        plugin,
        &input,
        &format!("name = \"hostile\"\n{manifest}"),
    );
    let run = crawlbox(&["run", "--jobs", jobs.both.to_str().unwrap()]);
    assert_good_unaffected(&run);
    run
}

/// A manifest that lets a plugin reach `site` (and only it), plus `extra`
/// TOML lines of its `[network]` table.
fn site_manifest(site: &Site, extra: &str) -> String {
    format!(
        "[network]\nallowed_hosts = [\"{}\"]\nallowed_networks = [\"127.0.0.1\"]\n{extra}",
        site.base_url()
    )
}

/// The well-behaved crawler completed with every page, and the host
/// printed its summary (so it was alive at the end).
fn assert_good_unaffected(run: &Run) {
    let good = run.records_of("good");
    assert_eq!(good.len() as u64, GOOD_PAGES, "{}", run.stderr);
    assert!(good.iter().all(|r| r["status"] == 200), "{good:?}");
    assert!(
        run.stderr.contains("crawlbox: good completed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("connections opened"), "{}", run.stderr);
}

/// The attacker's summary block says `outcome`, and the run exits with `code`.
fn assert_outcome(run: &Run, outcome: &str, code: i32) {
    assert!(
        run.stderr.contains(&format!("crawlbox: hostile {outcome}")),
        "expected hostile {outcome}:\n{}",
        run.stderr
    );
    assert_eq!(run.code, code, "{}", run.stderr);
}

fn before(attack: &str) -> Value {
    json!({ "before": attack })
}

#[test]
fn infinite_loop_is_stopped_by_the_cpu_limit() {
    let site = site(300, Duration::ZERO);
    let run = attack(
        &site,
        guests::HOSTILE_INFINITE_LOOP,
        json!(null),
        "[limits]\ncpu_time = \"1s\"\n",
    );
    assert_outcome(&run, "cpu-limit", 1);
    assert!(
        run.stderr.contains("used up its CPU time limit of 1s"),
        "{}",
        run.stderr
    );
    assert_eq!(run.records_of("hostile"), [&before("infinite-loop")]);
}

#[test]
fn infinite_loop_is_stopped_by_the_wall_clock_limit() {
    let site = site(300, Duration::ZERO);
    let run = attack(
        &site,
        guests::HOSTILE_INFINITE_LOOP,
        json!(null),
        "[limits]\nwall_time = \"1s\"\n",
    );
    assert_outcome(&run, "wall-limit", 1);
    assert_eq!(run.records_of("hostile"), [&before("infinite-loop")]);
}

#[test]
fn memory_bomb_stops_at_the_memory_limit() {
    let site = site(300, Duration::ZERO);
    let run = attack(
        &site,
        guests::HOSTILE_MEMORY_BOMB,
        json!(null),
        "[limits]\nmemory = \"64MiB\"\n",
    );
    assert_outcome(&run, "memory-limit", 1);
    assert!(
        run.stderr.contains("more than its memory limit of 64 MiB"),
        "{}",
        run.stderr
    );
    assert_eq!(run.records_of("hostile"), [&before("memory-bomb")]);
}

#[test]
fn stack_overflow_traps() {
    let site = site(300, Duration::ZERO);
    let run = attack(&site, guests::HOSTILE_STACK_OVERFLOW, json!(null), "");
    assert_outcome(&run, "trapped", 1);
    assert!(
        run.stderr.contains("call stack exhausted"),
        "{}",
        run.stderr
    );
    assert_eq!(run.records_of("hostile"), [&before("stack-overflow")]);
}

/// Probes `urls` through both guest paths; returns the outcome records.
fn probe(site: &Site, urls: &[String], manifest: &str) -> (Run, Vec<Value>) {
    let run = attack(
        site,
        guests::HOSTILE_PROBE,
        json!({ "urls": urls }),
        manifest,
    );
    let records: Vec<Value> = run.records_of("hostile").into_iter().cloned().collect();
    // A probe whose every request was refused completed, but fetched
    // nothing: exit 3 (`but … nothing was fetched`), not a clean 0.
    let every_refused = records[1..].iter().all(denied);
    assert_outcome(&run, "completed", if every_refused { 3 } else { 0 });
    assert_eq!(records[0], before("probe"));
    assert_eq!(records.len(), 1 + 2 * urls.len(), "{records:?}");
    (run, records[1..].to_vec())
}

/// Whether a probe record is a refusal by policy, on either path.
fn denied(record: &Value) -> bool {
    match record["path"].as_str() {
        Some("fetch") => record["error"] == "denied",
        _ => record["error"]
            .as_str()
            .is_some_and(|e| e.contains("HttpRequestDenied")),
    }
}

#[test]
fn private_and_metadata_addresses_are_refused_without_a_grant() {
    let site = site(300, Duration::ZERO);
    let port = site.addr().port();
    let urls: Vec<String> = [
        format!("http://127.0.0.1:{port}/small"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/small"),
        format!("http://[::ffff:127.0.0.1]:{port}/small"),
        format!("http://2130706433:{port}/small"),
        format!("http://0177.0.0.1:{port}/small"),
        format!("http://0x7f000001:{port}/small"),
        "http://10.0.0.1/".to_owned(),
        "http://[fd00:ec2::254]/".to_owned(),
    ]
    .into();
    // Every host is allowed; no special-purpose network is.
    let (_, records) = probe(&site, &urls, "[network]\nallowed_hosts = [\"*://*:*\"]\n");
    for record in &records {
        assert!(denied(record), "not refused: {record}");
    }
    let messages: Vec<&str> = records
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("link-local")),
        "{messages:?}"
    );
    assert!(
        messages.iter().all(|m| m.contains("--allow-network")),
        "{messages:?}"
    );
    // Only the good crawler's requests reached the site.
    assert_eq!(site.counters().requests(), GOOD_PAGES);
}

#[test]
fn a_name_resolving_to_loopback_is_refused() {
    let site = site(300, Duration::ZERO);
    let port = site.addr().port();
    let urls = [format!("http://localhost:{port}/small")];
    let (_, records) = probe(
        &site,
        &urls,
        "[network]\nallowed_hosts = [\"http://localhost:*\"]\n",
    );
    assert!(records.iter().all(denied), "{records:?}");
    assert!(records[0]["message"].as_str().unwrap().contains("loopback"));
    assert_eq!(site.counters().requests(), GOOD_PAGES);
}

#[test]
fn hosts_outside_the_allowlist_are_refused_with_a_hint() {
    let site = site(300, Duration::ZERO);
    let urls = [site.url("/small")];
    let (_, records) = probe(&site, &urls, "");
    assert!(records.iter().all(denied), "{records:?}");
    let message = records[0]["message"].as_str().unwrap();
    assert!(message.contains("--allow-host"), "{message}");
    assert!(message.contains("allowed_hosts"), "{message}");
}

#[test]
fn an_allowed_host_redirecting_to_a_denied_one_is_refused_at_that_hop() {
    let site = site(300, Duration::ZERO);
    let port = site.addr().port();
    let target = format!("http://localhost:{port}/small");
    let urls = [site.url(&format!("/redirect-to?url={target}"))];
    let manifest = site_manifest(&site, "");
    let (_, records) = probe(&site, &urls, &manifest);
    // fetch follows the redirect and refuses the hop, naming it...
    assert_eq!(records[0]["error"], "denied", "{}", records[0]);
    assert!(records[0]["message"].as_str().unwrap().contains(&target));
    // ...wasi:http hands the redirect to the guest, which does not follow it.
    assert_eq!(records[1]["status"], 302);
    assert_eq!(site.counters().requests(), GOOD_PAGES + 2);
}

#[test]
fn a_redirect_loop_ends_with_too_many_redirects() {
    let site = site(300, Duration::ZERO);
    let manifest = site_manifest(&site, "");
    let (_, records) = probe(&site, &[site.url("/loop")], &manifest);
    assert_eq!(records[0]["error"], "too-many-redirects", "{}", records[0]);
    assert!(records[0]["message"].as_str().unwrap().contains("loop"));
}

#[test]
fn a_huge_response_is_cut_off_at_the_size_limit() {
    let site = site(300, Duration::ZERO);
    let manifest = site_manifest(&site, "max_response_size = \"1MiB\"\n");
    let (_, records) = probe(&site, &[site.url("/bytes/200000000")], &manifest);
    assert_eq!(records[0]["error"], "too-large", "{}", records[0]);
    assert!(
        records[1]["error"]
            .as_str()
            .unwrap()
            .contains("body size exceeds limit"),
        "{}",
        records[1]
    );
}

#[test]
fn a_million_requests_stop_at_the_request_budget() {
    let site = site(300, Duration::ZERO);
    let manifest = site_manifest(&site, "max_requests = 2000\n");
    let run = attack(
        &site,
        guests::HOSTILE_REQUEST_FLOOD,
        json!({ "url": site.url("/small") }),
        &manifest,
    );
    assert_outcome(&run, "completed", 0);
    let records = run.records_of("hostile");
    assert_eq!(records[0], &before("request-flood"));
    // The site's robots.txt is fetched once, by whichever of the two plugins
    // asks first, and counts against that run's budget.
    let ok = records[1]["ok"].as_u64().unwrap();
    assert!(ok == 2000 || ok == 1999, "{ok} requests went through");
    assert_eq!(site.counters().requests_for("/robots.txt"), 1);
    assert!(records[1]["denied"].as_u64().unwrap() > 0);
    assert!(
        records[1]["message"]
            .as_str()
            .unwrap()
            .contains("budget of 2000 requests")
    );
    // Every request that went through reached the server, and no other.
    assert_eq!(site.counters().requests(), GOOD_PAGES + ok);
}

#[test]
fn fetch_queues_refuse_a_flood_and_a_dropped_one_cancels_its_requests() {
    let site = site(300, Duration::ZERO);
    let manifest = site_manifest(&site, "");
    let run = attack(
        &site,
        guests::HOSTILE_QUEUE_FLOOD,
        json!({ "url": site.url("/small") }),
        &manifest,
    );
    assert_outcome(&run, "completed", 0);
    let records = run.records_of("hostile");
    assert_eq!(records[0], &before("queue-flood"));
    let report = records[1];
    let refused = report["refused"].as_str().unwrap();
    assert!(
        refused.contains("at most 65536") && refused.contains("take results with `next`"),
        "{refused}"
    );
    // The refused push added nothing: the next one starts at ticket 0.
    assert_eq!(report["pending_after_refusal"], 0);
    assert_eq!(report["refused_elsewhere"], true, "the limit is per plugin");
    assert_eq!(report["first_ticket"], 0);
    let taken = report["taken"].as_u64().unwrap();
    assert!(taken >= 100, "{report}");
    assert_eq!(report["pending"].as_u64().unwrap(), 60_000 - taken);
    // The queue was dropped with ~59900 requests in it: they never ran.
    let sent = site.counters().requests_for("/small");
    assert!(
        sent < 5_000,
        "{sent} of the queue's requests reached the site"
    );
    assert_good_unaffected(&run);
}

/// `hostile request-hoard` with `input`, under a 32 MiB budget, as
/// `attack` runs it; and the process's peak resident memory. Every request
/// it makes fails, as it means them to: it completes, exit 3.
fn request_hoard(site: &Site, input: Value) -> (Run, u64) {
    let manifest = site_manifest(site, "[limits]\nmax_buffered_responses = \"32MiB\"");
    let jobs = hostile_jobs(
        &tempfile("jobs"),
        site,
        guests::HOSTILE_REQUEST_HOARD,
        &input,
        &format!("name = \"hostile\"\n{manifest}"),
    );
    let (run, peak) =
        crate::support::crawlbox_watched(&["run", "--jobs", jobs.both.to_str().unwrap()]);
    assert_good_unaffected(&run);
    assert_outcome(&run, "completed", 3);
    assert_eq!(run.records_of("hostile")[0], &before("request-hoard"));
    (run, peak)
}

/// Requests a plugin has started and the host has not sent yet live in
/// host memory: 300 queued requests of 1 MiB each, from 1 MiB of the
/// plugin's own memory, would be 300 MiB of the host's. Past the session's
/// budget for them (`max_buffered_responses`, 32 MiB here) they fail as
/// `too-large`, at once.
#[test]
fn queued_request_bodies_are_held_only_up_to_the_budget() {
    let site = site(300, Duration::ZERO);
    let input = json!({ "url": site.url("/slow/3600000"), "mode": "queue", "expect_refused": 260 });
    let (run, peak) = request_hoard(&site, input);
    let records = run.records_of("hostile");
    assert!(
        records[1]["refused"].as_u64().unwrap() >= 260,
        "{}",
        records[1]
    );
    let message = records[1]["message"].as_str().unwrap();
    assert!(
        message.contains("requests not sent yet") && message.contains("max_buffered_responses"),
        "{message}"
    );
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
}

/// A `wasi:http` request body is read into host memory before the request
/// is sent (so a retry can send it again): one that never ends is stopped
/// at the session's budget, and the guest gets `HTTP-request-body-size`.
#[test]
fn an_endless_wasi_http_request_body_is_stopped_at_the_budget() {
    let site = site(300, Duration::ZERO);
    let (run, peak) = request_hoard(&site, json!({ "url": site.url("/echo"), "mode": "upload" }));
    let records = run.records_of("hostile");
    let report = records[1];
    assert!(report["written"].as_u64().unwrap() >= 32 << 20, "{report}");
    assert!(
        report["response"]
            .as_str()
            .unwrap()
            .contains("HttpRequestBodySize"),
        "{report}"
    );
    assert_eq!(site.counters().requests_for("/echo"), 0, "nothing was sent");
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn a_gigabyte_to_stdout_is_cut_to_the_log_limit() {
    let site = site(300, Duration::ZERO);
    let run = attack(&site, guests::HOSTILE_STDOUT_FLOOD, json!(null), "");
    assert_outcome(&run, "completed", 0);
    let records = run.records_of("hostile");
    assert_eq!(
        records,
        [&before("stdout-flood"), &json!({"wrote": 1u64 << 30})]
    );
    assert!(
        run.stderr
            .contains("stdout exceeded its limit of 1048576 bytes"),
        "tail: {}",
        &run.stderr[run.stderr.len().saturating_sub(2000)..]
    );
    assert!(
        run.stderr.len() < 3 << 20,
        "stderr is {} bytes",
        run.stderr.len()
    );
}

#[test]
fn invalid_json_to_emit_is_refused_and_valid_records_kept() {
    let site = site(300, Duration::ZERO);
    let run = attack(&site, guests::HOSTILE_BAD_EMIT, json!(null), "");
    assert_outcome(&run, "completed", 0);
    let records = run.records_of("hostile");
    assert_eq!(records[0], &before("bad-emit"));
    assert_eq!(records[1], &json!({"multi": "line"}));
    let refused = records[2]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 5);
    for attempt in refused {
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains("not a single valid JSON value"),
            "{attempt}"
        );
    }
}

#[test]
fn forbidden_headers_and_crlf_injection_are_refused() {
    let site = site(300, Duration::ZERO);
    let manifest = site_manifest(&site, "");
    let run = attack(
        &site,
        guests::HOSTILE_FORBIDDEN_HEADERS,
        json!({ "url": site.url("/echo") }),
        &manifest,
    );
    // Every request refused: completed, but nothing fetched (exit 3).
    assert_outcome(&run, "completed", 3);
    let records = run.records_of("hostile");
    assert_eq!(records.len(), 8, "{records:?}");
    for record in &records[1..] {
        assert_eq!(record["fetch"]["error"], "invalid-request", "{record}");
        let wasi = record["wasi-http"]["error"].as_str().unwrap_or_default();
        assert!(
            wasi.contains("Forbidden") || wasi.contains("InvalidSyntax"),
            "{record}"
        );
    }
    // Nothing reached the echo endpoint.
    assert_eq!(site.counters().requests(), GOOD_PAGES);
}

#[test]
fn a_panic_after_emitting_keeps_the_records() {
    let site = site(300, Duration::ZERO);
    let run = attack(&site, guests::HOSTILE_PANIC_AFTER_EMIT, json!(null), "");
    assert_outcome(&run, "trapped", 1);
    assert_eq!(
        run.records_of("hostile"),
        [&json!({"n": 0}), &json!({"n": 1}), &json!({"n": 2})]
    );
    // The guest's panic message reached the log.
    assert!(
        run.stderr.contains("the plugin panics after 3 records"),
        "{}",
        run.stderr
    );
}

#[test]
fn files_environment_and_sockets_are_out_of_reach() {
    let site = site(300, Duration::ZERO);
    let run = attack(
        &site,
        guests::HOSTILE_ESCAPE,
        json!({ "port": site.addr().port() }),
        "",
    );
    assert_outcome(&run, "completed", 0);
    let records = run.records_of("hostile");
    assert_eq!(records[0], &before("escape"));
    let seen = records[1];
    for key in [
        "read /etc/passwd",
        "read ./Cargo.toml",
        "list /",
        "write /tmp/x",
        "tcp",
    ] {
        assert!(seen[key]["error"].is_string(), "{key}: {}", seen[key]);
    }
    assert_eq!(seen["env"], json!([]));
    assert_eq!(seen["args"], json!(["hostile"]));
    assert_eq!(site.counters().requests(), GOOD_PAGES);
}

#[test]
fn a_decompression_bomb_is_cut_off_at_the_size_limit() {
    let site = site(300, Duration::ZERO);
    let manifest = site_manifest(&site, "max_response_size = \"1MiB\"\n");
    // 64 MiB of zeros in about 64 KiB of gzip.
    let (_, records) = probe(&site, &[site.url("/gzip-bomb/64")], &manifest);
    assert_eq!(records[0]["error"], "too-large", "{}", records[0]);
    assert!(
        records[0]["message"]
            .as_str()
            .unwrap()
            .contains("decodes to more than")
    );
    // wasi:http does not decode: the guest gets the compressed bytes.
    assert_eq!(records[1]["status"], 200, "{}", records[1]);
}
