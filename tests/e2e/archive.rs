//! Record and replay: a run written as WARC 1.1 with `--record DIR`, read
//! by the archivists' own tool (`warcio index`/`check`), and run again
//! offline with `--replay DIR`: the same items, and not one request to the
//! site. Through both guest paths (`crawlbox:plugin/host` and `wasi:http`),
//! `run`, `crawl` and `parse`, redirects, gzip and HTTP/2 included.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_guest_artifacts::{EXAMPLE_CRAWLER, EXAMPLE_SPIDER, HOSTILE_PROBE, WASI_HTTP_FETCH};
use serde_json::Value;

use crate::support::{crawlbox, grant, site, tempfile};

/// The warcio crawlbox's recordings are checked with: a user's
/// `pip install warcio`, pinned.
const WARCIO: &str = "1.7.5";

/// `warcio`, installed once into a venv under the target directory.
fn warcio() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let target = Path::new(EXAMPLE_CRAWLER).ancestors().nth(4).unwrap();
        let venv = target.join(format!("guest-tools/warcio-{WARCIO}"));
        let exe = venv.join("bin/warcio");
        if !venv.join(".installed").exists() {
            let _ = std::fs::remove_dir_all(&venv);
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap()
                .success();
            assert!(ok, "python3 -m venv (needs python3-venv)");
            let ok = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("warcio=={WARCIO}"))
                .status()
                .unwrap()
                .success();
            assert!(ok, "pip install warcio=={WARCIO}");
            std::fs::write(venv.join(".installed"), WARCIO).unwrap();
        }
        exe
    })
}

/// The WARC files in `dir`.
fn warcs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
        .collect();
    files.sort();
    files
}

/// `warcio check -v` passes every record's digests, and `warcio index`
/// lists the records; returns the index's entries.
fn checked_by_warcio(dir: &Path) -> Vec<Value> {
    let files = warcs(dir);
    assert!(!files.is_empty(), "no WARC file in {}", dir.display());
    let check = Command::new(warcio())
        .args(["check", "-v"])
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "warcio check failed:\n{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!report.contains("digest failed"), "{report}");
    let index = Command::new(warcio())
        .args([
            "index",
            "-f",
            "warc-type,warc-target-uri,http:status,offset",
        ])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        index.status.success(),
        "{}",
        String::from_utf8_lossy(&index.stderr)
    );
    let entries: Vec<Value> = String::from_utf8(index.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let digests = report.matches("digest pass").count();
    assert_eq!(
        digests,
        entries.len(),
        "every record's digest checked:\n{report}"
    );
    entries
}

fn sorted(mut records: Vec<Value>) -> Vec<Value> {
    records.sort_by_key(|r| r.to_string());
    records
}

#[test]
fn a_recorded_crawl_replays_offline_with_the_same_items() {
    let pages = 80;
    let site = site(pages, Duration::ZERO);
    let grant = grant(&site);
    let dir = tempfile("recorded-crawl");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let input = serde_json::json!({ "start": [site.url("/page/0")] }).to_string();
    let crawl = |extra: &[&str]| {
        let mut args = vec!["crawl", EXAMPLE_SPIDER, "--input", &input];
        args.extend(extra);
        args.extend(grant.iter().map(String::as_str));
        crawlbox(&args)
    };
    let recorded = crawl(&["--record", dir_arg]);
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    assert_eq!(recorded.records.len(), pages);
    let fetched = site.counters().requests();
    assert_eq!(fetched, pages as u64, "every page once (robots.txt apart)");

    // An independent reader: every page's request and response, and the
    // robots.txt the run obeyed, each digest right.
    let index = checked_by_warcio(&dir);
    let of_type = |kind: &str| index.iter().filter(|e| e["warc-type"] == kind).count();
    assert_eq!(of_type("warcinfo"), 1);
    assert_eq!(of_type("request"), pages + 1);
    assert_eq!(of_type("response"), pages + 1);
    let robots = site.url("/robots.txt");
    assert!(
        index
            .iter()
            .any(|e| e["warc-target-uri"] == robots.as_str() && e["http:status"] == "404"),
        "{index:?}"
    );

    // Offline: the same items, and the site sees nothing.
    let replayed = crawl(&["--replay", dir_arg]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(site.counters().requests(), fetched, "the replay went out");
    let page = recorded.records[0]["url"].as_str().unwrap().to_owned();
    assert_eq!(sorted(replayed.records), sorted(recorded.records));
    // ... with the site gone too.
    drop(site);
    let replayed = crawl(&["--replay", dir_arg, "-q"]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(replayed.records.len(), pages);

    // `crawlbox parse` replays one page as well.
    let parsed = Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args(["parse", EXAMPLE_SPIDER, &page, "--input", &input, "--json"])
        .args(["--replay", dir_arg, "--allow-network", "127.0.0.1"])
        .env("CRAWLBOX_CACHE_DIR", crate::support::cache_dir())
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let parsed: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(parsed["status"], 200);
    assert_eq!(parsed["items"][0]["url"], page.as_str());
}

/// A scraper through `crawlbox:plugin/host` and one through `wasi:http`,
/// each recorded and replayed: the same records, no request to the site;
/// and what was not recorded fails as `not-recorded`, unless
/// `--replay-fallback` lets it go out.
#[test]
fn both_guest_paths_replay_and_what_was_not_recorded_fails_as_such() {
    let site = site(60, Duration::ZERO);
    let grant = grant(&site);
    let dir = tempfile("recorded-run");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    // The whole site: which pages a crawler that takes them as they complete
    // finds first depends on timing, but all of them are all of them.
    let crawler_input =
        serde_json::json!({ "start": [site.url("/page/0")], "max_pages": 100 }).to_string();
    let urls: Vec<String> = (0..10).map(|i| site.url(&format!("/page/{i}"))).collect();
    let wasi_input = serde_json::json!({ "urls": urls }).to_string();
    let run = |plugin: &str, input: &str, extra: &[&str]| {
        let mut args = vec!["run", plugin, "--input", input];
        args.extend(extra);
        args.extend(grant.iter().map(String::as_str));
        crawlbox(&args)
    };
    let crawler = run(EXAMPLE_CRAWLER, &crawler_input, &["--record", dir_arg]);
    assert_eq!(crawler.code, 0, "{}", crawler.stderr);
    let wasi = run(WASI_HTTP_FETCH, &wasi_input, &["--record", dir_arg]);
    assert_eq!(wasi.code, 0, "{}", wasi.stderr);
    assert_eq!(warcs(&dir).len(), 2, "one file per run");
    checked_by_warcio(&dir);
    let fetched = site.counters().requests();

    let crawler_again = run(EXAMPLE_CRAWLER, &crawler_input, &["--replay", dir_arg]);
    assert_eq!(crawler_again.code, 0, "{}", crawler_again.stderr);
    let wasi_again = run(WASI_HTTP_FETCH, &wasi_input, &["--replay", dir_arg]);
    assert_eq!(wasi_again.code, 0, "{}", wasi_again.stderr);
    assert_eq!(site.counters().requests(), fetched, "the replays went out");
    // The crawler takes pages as they complete: the same set of records.
    assert_eq!(sorted(crawler_again.records), sorted(crawler.records));
    assert_eq!(sorted(wasi_again.records), sorted(wasi.records));

    // A page the recording does not have: its own error kind, on both paths.
    let missing = site.url("/deep/5");
    let input = serde_json::json!({ "start": [missing], "max_pages": 1 }).to_string();
    let offline = run(EXAMPLE_CRAWLER, &input, &["--replay", dir_arg]);
    assert_eq!(offline.records.len(), 1, "{}", offline.stderr);
    assert_eq!(
        offline.records[0]["error"], "not-recorded",
        "{:?}",
        offline.records
    );
    assert!(
        offline.records[0]["message"]
            .as_str()
            .unwrap()
            .contains("--replay-fallback"),
        "{:?}",
        offline.records
    );
    assert_eq!(site.counters().requests(), fetched);
    let input = serde_json::json!({ "urls": [missing] }).to_string();
    let offline = run(WASI_HTTP_FETCH, &input, &["--replay", dir_arg]);
    let record = &offline.records[0];
    assert!(record.to_string().contains("not-recorded"), "{record}");
    assert_eq!(site.counters().requests(), fetched);
    // With the fallback it goes out, once.
    let input = serde_json::json!({ "start": [missing], "max_pages": 1 }).to_string();
    let online = run(
        EXAMPLE_CRAWLER,
        &input,
        &["--replay", dir_arg, "--replay-fallback"],
    );
    assert_eq!(online.code, 0, "{}", online.stderr);
    assert_eq!(online.records[0]["status"], 200, "{:?}", online.records);
    assert_eq!(site.counters().requests_for("/deep/5"), 1);
    // A folder with no recording is one clear error.
    let empty = tempfile("no-recording");
    std::fs::create_dir_all(&empty).unwrap();
    let none = run(
        EXAMPLE_CRAWLER,
        &input,
        &["--replay", empty.to_str().unwrap()],
    );
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("--record"), "{}", none.stderr);
}

/// Recorded through redirects, a gzip body and HTTP/2 over TLS: the WARC
/// holds each hop and the body as it came (still gzip'd, the h2 response
/// marked so), and the replay gives the plugin exactly what the live run
/// gave it.
#[test]
fn redirects_gzip_and_http2_replay_as_they_were_recorded() {
    let (site, ca) = Site::start_tls(SiteConfig {
        pages: 10,
        ..SiteConfig::default()
    })
    .unwrap();
    let base = format!("https://127.0.0.1:{}", site.addr().port());
    let ca_file = tempfile("replay-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let dir = tempfile("recorded-tls");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let urls = [
        format!("{base}/redirect/3"),
        format!("{base}/gzip"),
        format!("{base}/page/1"),
    ];
    // Each URL through `fetch` (which follows redirects and decodes) and
    // through wasi:http (which does neither).
    let input = serde_json::json!({ "urls": urls }).to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            HOSTILE_PROBE,
            "--input",
            &input,
            "--allow-host",
            &base,
            "--allow-network",
            "127.0.0.1",
            "--ca-cert",
            ca_file.to_str().unwrap(),
        ];
        args.extend(extra);
        crawlbox(&args)
    };
    let live = run(&["--record", dir_arg]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert!(
        site.counters().http2_requests() > 0,
        "the site spoke HTTP/2"
    );
    let gzip_bytes = live
        .records
        .iter()
        .find(|r| r["path"] == "fetch" && r["url"].as_str().unwrap().ends_with("/gzip"))
        .unwrap()["bytes"]
        .clone();
    let fetched = site.counters().requests();
    let index = checked_by_warcio(&dir);
    let responses: HashSet<String> = index
        .iter()
        .filter(|e| e["warc-type"] == "response")
        .map(|e| {
            let uri = e["warc-target-uri"].as_str().unwrap();
            format!(
                "{} {}",
                e["http:status"].as_str().unwrap(),
                &uri[base.len()..]
            )
        })
        .collect();
    // Each redirect hop, its target, the gzip body, the page, robots.txt.
    for hop in [
        "302 /redirect/3",
        "302 /redirect/2",
        "302 /redirect/1",
        "200 /redirect/0",
        "200 /gzip",
        "200 /page/1",
        "404 /robots.txt",
    ] {
        assert!(responses.contains(hop), "no {hop} in {responses:?}");
    }
    // The gzip body is kept as it came over the wire: still gzip'd, and
    // warcio decodes it to what the plugin was given.
    let gzip_offset = index
        .iter()
        .find(|e| {
            e["warc-type"] == "response"
                && e["warc-target-uri"].as_str().unwrap().ends_with("/gzip")
        })
        .unwrap()["offset"]
        .as_str()
        .unwrap()
        .to_owned();
    let extract = |what: &str| {
        let out = Command::new(warcio())
            .args(["extract", what])
            .arg(&warcs(&dir)[0])
            .arg(&gzip_offset)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let headers = String::from_utf8(extract("--headers"))
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert!(headers.contains("warc-protocol: h2"), "{headers}");
    assert_eq!(
        extract("--payload").len() as u64,
        gzip_bytes.as_u64().unwrap()
    );

    let replayed = run(&["--replay", dir_arg]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(site.counters().requests(), fetched, "the replay went out");
    // Record for record: statuses, redirects followed, the gzip body
    // decoded to the same length.
    assert_eq!(replayed.records, live.records);
    assert!(gzip_bytes.as_u64().unwrap() > 0);
}
