//! Hostile output: what a plugin writes (log, stdout, errors, items,
//! follows, names) cannot forge the host's output or another plugin's
//! records, and what the host holds for it is bounded. Items 5-9 and the
//! `.wasm` check of item 10 of the attack report (issue 12); as in
//! `sandbox.rs`, each plugin attack runs beside a well-behaved crawler in
//! one process.

use std::time::{Duration, Instant};

use crawlbox_demo_site::Site;
use crawlbox_guest_artifacts as guests;
use serde_json::{Value, json};

use crate::support::{
    GOOD_PAGES, Run, crawlbox, crawlbox_watched, grant, hostile_jobs, site, tempfile,
};

/// What the attackers try to print on a line of its own.
const FORGED: &str = "crawlbox: good completed in 0.01s";

/// Runs `plugin` as "hostile" beside the good crawler, and checks the
/// crawler got all its pages and the host printed its summary.
fn beside_good(site: &Site, plugin: &str, input: Value) -> Run {
    let jobs = hostile_jobs(
        &tempfile("jobs"),
        site,
        plugin,
        &input,
        "name = \"hostile\"\n",
    );
    let run = crawlbox(&["run", "--jobs", jobs.both.to_str().unwrap()]);
    let good = run.records_of("good");
    assert_eq!(good.len() as u64, GOOD_PAGES, "{}", run.stderr);
    assert!(good.iter().all(|r| r["status"] == 200), "{good:?}");
    assert!(run.stderr.contains("connections opened"), "{}", run.stderr);
    run
}

/// No line of stderr is a forged host line: the only line that starts like
/// the good plugin's summary is the summary, and no raw control character
/// (ESC, CR, C1, Unicode line separators) reached stderr at all.
fn assert_no_forged_lines(run: &Run) {
    let summaries = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("crawlbox: good"))
        .count();
    assert_eq!(summaries, 1, "{}", run.stderr);
    for bad in ['\u{1b}', '\r', '\u{85}', '\u{9b}', '\u{2028}', '\u{7}'] {
        assert!(
            !run.stderr.contains(bad),
            "a raw {bad:?} reached stderr:\n{}",
            run.stderr
        );
    }
}

#[test]
fn hostile_output_log_messages_are_escaped_and_bounded() {
    let site = site(300, Duration::ZERO);
    let run = beside_good(&site, guests::HOSTILE_LOG_FORGE, json!(null));
    assert!(
        run.stderr.contains("crawlbox: good completed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("crawlbox: hostile failed"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 1);
    assert_no_forged_lines(&run);
    // Each attempt is there, escaped, on the plugin's own line.
    for escaped in [
        format!("hello\\n{FORGED}"),
        format!("\\r\\u{{1b}}[2K{FORGED}"),
        format!("\\u{{9b}}2K\\u{{2028}}{FORGED}"),
        format!("out\\r{FORGED}"),
        format!("err\\u{{1b}}[1A\\u{{1b}}[2K{FORGED}\\u{{85}}{FORGED}"),
        // The error the plugin returned, in its summary.
        format!("the plugin returned an error: gave up\\n{FORGED}"),
    ] {
        assert!(
            run.stderr.contains(&escaped),
            "missing {escaped:?}:\n{}",
            &run.stderr[..run.stderr.len().min(20_000)]
        );
    }
    // 300 MB of host.log stopped at the plugin's 1 MiB of log output.
    assert!(
        run.stderr
            .contains("host.log exceeded its limit of 1048576 bytes"),
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(4000)..]
    );
    assert!(
        run.stderr.len() < 3 << 20,
        "stderr is {} bytes",
        run.stderr.len()
    );
    assert_eq!(
        run.records_of("hostile"),
        [
            &json!({"before": "log-forge"}),
            &json!({"flooded": 300u64 << 20})
        ]
    );
}

#[test]
fn hostile_output_command_stdout_cannot_forge_records() {
    let site = site(300, Duration::ZERO);
    let run = beside_good(&site, guests::HOSTILE_FORGE_STDOUT, json!(null));
    assert!(
        run.stderr.contains("crawlbox: hostile completed"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Every line of stdout is one JSON object of two keys, the plugin that
    // produced it and its record.
    for record in &run.records {
        let object = record.as_object().unwrap();
        assert_eq!(object.len(), 2, "{record}");
        assert!(object.contains_key("record"), "{record}");
        let plugin = object["plugin"].as_str().unwrap();
        assert!(plugin == "good" || plugin == "hostile", "{record}");
    }
    // The good plugin's records are exactly its pages: none forged.
    assert_eq!(run.records_of("good").len() as u64, GOOD_PAGES);
    assert_eq!(
        run.records_of("hostile"),
        [
            &json!({"before": "forge-stdout"}),
            &json!({"plugin": "good", "record": {"status": 200}}),
            &json!([1, 2]),
            &json!({"after": "forge-stdout"}),
        ]
    );
    // The lines that were not records were logged as output, and counted.
    assert!(
        run.stderr.contains(r#"1,"plugin":"good""#),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("8 stdout lines were not records"),
        "{}",
        run.stderr
    );
    assert_no_forged_lines(&run);
}

#[test]
fn hostile_output_names_that_are_paths_are_refused() {
    let site = site(10, Duration::ZERO);
    let root = tempfile("names");
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("a/b");
    std::fs::create_dir_all(&dir).unwrap();
    let out_dir = dir.join("out");
    let escaped = dir.join("../../x.jsonl");

    // A jobs file's name.
    let jobs = hostile_jobs(&dir, &site, guests::HOSTILE_FORGE_STDOUT, &json!(null), "").both;
    let text = std::fs::read_to_string(&jobs).unwrap() + "name = \"../../x\"\n";
    std::fs::write(&jobs, text).unwrap();
    let run = crawlbox(&[
        "run",
        "--jobs",
        jobs.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for needed in [
        jobs.to_str().unwrap(),
        "\"../../x\"",
        "path separator",
        "a name is a plain file name",
    ] {
        assert!(run.stderr.contains(needed), "{needed}: {}", run.stderr);
    }
    assert!(!escaped.exists(), "{} was created", escaped.display());
    assert!(!out_dir.exists(), "nothing ran, nothing was created");

    // A manifest's name (a plugin author's), here with a newline.
    hostile_jobs(
        &dir,
        &site,
        guests::HOSTILE_FORGE_STDOUT,
        &json!(null),
        "name = \"x\\ncrawlbox: good completed\"\n",
    );
    let run = crawlbox(&[
        "run",
        "--jobs",
        jobs.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let manifest = dir.join("hostile.toml");
    assert!(
        run.stderr.contains(manifest.to_str().unwrap()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("control character"), "{}", run.stderr);
    assert!(!out_dir.exists());
    std::fs::remove_dir_all(&root).unwrap();
}

/// `crawlbox crawl` of the hostile spider with `attack`, its pages on the
/// site's `/small`, with `extra` arguments; also the peak RSS and the time.
fn crawl_hostile(site: &Site, attack: Value, extra: &[&str]) -> (Run, u64, Duration) {
    let mut input = attack;
    input["url"] = json!(site.url("/small"));
    let input = input.to_string();
    let grant = grant(site);
    let mut args = vec!["crawl", guests::HOSTILE_SPIDER, "--input", &input];
    args.extend(extra);
    args.extend(grant.iter().map(String::as_str));
    let started = Instant::now();
    let (run, peak) = crawlbox_watched(&args);
    (run, peak, started.elapsed())
}

/// Bytes of a file, 0 if it is missing.
fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn hostile_output_spider_items_stop_at_the_record_limits() {
    let site = site(10, Duration::ZERO);
    let state = tempfile("items-state");
    let _ = std::fs::remove_dir_all(&state);
    let (run, _, _) = crawl_hostile(
        &site,
        json!({"attack": "items"}),
        &[
            "--max-records",
            "10",
            "--max-output",
            "100KiB",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("crawlbox: hostile-spider output-limit"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("reached its limit of 10 records (--max-records"),
        "{}",
        run.stderr
    );
    // 3000 items of 10 KB yielded: exactly the 10 that fit were written.
    let items = std::fs::read_to_string(state.join("items.jsonl")).unwrap();
    assert_eq!(items.lines().count(), 10, "{}", run.stderr);
    assert!(items.len() <= 100 << 10);

    // The byte limit alone stops it too.
    let (run, _, _) = crawl_hostile(
        &site,
        json!({"attack": "items"}),
        &["--max-output", "50KiB"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("reached its limit of 51200 bytes of records (--max-output"),
        "{}",
        run.stderr
    );
    let bytes: usize = run.records.iter().map(|r| r.to_string().len()).sum();
    assert!(bytes <= 50 << 10, "{bytes} bytes written");
    assert_eq!(run.records.len(), 5);
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn hostile_output_spider_follow_floods_keep_the_host_small() {
    let site = site(10, Duration::ZERO);
    let state = tempfile("follows-state");
    let _ = std::fs::remove_dir_all(&state);
    let (run, peak, took) = crawl_hostile(
        &site,
        json!({"attack": "follows"}),
        &["--max-pages", "10", "--state", state.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pages = std::fs::read_to_string(state.join("items.jsonl")).unwrap();
    assert_eq!(pages.lines().count(), 10, "{}", run.stderr);
    // 200,000 follows a page: 10,000 looked at, the rest dropped unseen.
    assert!(
        run.stderr
            .contains("yielded 200000 follows, over the limit of 10000 a page"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "dropped follows    1999991 (over the per-page cap: 1900000, beyond --max-pages: 99991)"
        ),
        "{}",
        run.stderr
    );
    assert!(peak < 500 << 20, "peak RSS {} MB", peak >> 20);
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // The journal: the 10 requests fetched and their pages.
    let journal = size(&state.join("journal.jsonl"));
    assert!(journal < 16 << 10, "journal is {journal} bytes");
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn hostile_output_spider_meta_is_bounded() {
    let site = site(10, Duration::ZERO);
    let state = tempfile("meta-state");
    let _ = std::fs::remove_dir_all(&state);
    let (run, peak, _) = crawl_hostile(
        &site,
        json!({"attack": "meta"}),
        &["--state", state.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("its meta is 1048576 bytes, over the limit of 65536 (--max-meta-size)"),
        "{}",
        run.stderr
    );
    // One line about it, and the count in the summary.
    assert_eq!(
        run.stderr.matches("--max-meta-size").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("dropped follows    100 (meta too large: 100)"),
        "{}",
        run.stderr
    );
    assert!(peak < 500 << 20, "peak RSS {} MB", peak >> 20);
    let journal = size(&state.join("journal.jsonl"));
    assert!(journal < 16 << 10, "journal is {journal} bytes");
    // A smaller cap is a setting.
    let (run, _, _) = crawl_hostile(
        &site,
        json!({"attack": "meta", "bytes": 100, "count": 3}),
        &["--max-meta-size", "99"],
    );
    assert!(
        run.stderr
            .contains("its meta is 100 bytes, over the limit of 99"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn hostile_output_a_file_that_is_not_wasm_is_refused_at_once() {
    // A 2 GiB (sparse) text file and an endless device: refused after 8 bytes.
    let big = tempfile("big.wasm");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&big).unwrap();
        file.write_all(b"this is not wasm\n").unwrap();
        file.set_len(2 << 30).unwrap();
    }
    for path in [big.to_str().unwrap(), "/dev/zero"] {
        for command in ["run", "compile"] {
            let started = Instant::now();
            let run = crawlbox(&[command, path]);
            assert_eq!(run.code, 2, "{}", run.stderr);
            assert!(
                run.stderr
                    .contains(&format!("{path} is not a WebAssembly component")),
                "{}",
                run.stderr
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{command} {path} took {:?}",
                started.elapsed()
            );
        }
    }
    std::fs::remove_file(&big).unwrap();
}

/// The Redis worker applies the per-page and `meta` caps and the record
/// limits too (the queue's count and byte caps are Redis's to bound).
#[test]
fn hostile_output_a_redis_worker_bounds_follows_meta_and_items() {
    let redis = crate::redis_support::RedisServer::start();
    let url = redis.url();
    let site = site(10, Duration::ZERO);
    let (run, _, _) = crawl_hostile(
        &site,
        json!({"attack": "follows", "count": 20_000}),
        &[
            "--redis",
            &url,
            "--crawl",
            "follows",
            "--max-pages",
            "3",
            "--max-follows-per-page",
            "100",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("yielded 20000 follows, over the limit of 100 a page"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("dropped follows    59700 (over the per-page cap: 59700)"),
        "{}",
        run.stderr
    );

    let (run, _, _) = crawl_hostile(
        &site,
        json!({"attack": "meta", "count": 5}),
        &["--redis", &url, "--crawl", "meta"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("over the limit of 65536 (--max-meta-size)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("dropped follows    5 (meta too large: 5)"),
        "{}",
        run.stderr
    );

    let (run, _, _) = crawl_hostile(
        &site,
        json!({"attack": "items"}),
        &["--redis", &url, "--crawl", "items", "--max-records", "10"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("output-limit"), "{}", run.stderr);
    let export = crawlbox(&["export", "--redis", &url, "--crawl", "items"]);
    assert_eq!(export.records.len(), 10, "{}", export.stderr);
}

#[test]
fn a_follows_own_timeout_is_kept() {
    let site = site(10, Duration::ZERO);
    // The follow asks for 100 ms; the endpoint answers after 2 s, well
    // within the run's timeout: only the follow's own makes it fail.
    let (run, _, elapsed) = crawl_hostile(
        &site,
        json!({"attack": "slow-follow", "follow": site.url("/slow/2000"), "count": 100}),
        &[],
    );
    assert!(
        run.stderr.contains("/slow/2000") && run.stderr.contains("timeout"),
        "{}",
        run.stderr
    );
    assert_eq!(
        site.counters().requests_for("/slow/2000"),
        1,
        "{}",
        run.stderr
    );
    assert!(elapsed < Duration::from_millis(1800), "{elapsed:?}");
}
