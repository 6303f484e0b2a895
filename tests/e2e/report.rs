//! `--report FILE.html` and `crawlbox report`: the page is loaded in
//! headless Chromium (Debian's `chromium`) with the network off, its DOM
//! checked against the run's stats, its console checked for errors, and a
//! screenshot saved under target/.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{crawl_spider, crawlbox, site, tempfile};

/// The sections every report has, in order.
const SECTIONS: [&str; 9] = [
    "summary",
    "timeline",
    "latency",
    "statuses",
    "bytes",
    "connections",
    "politeness",
    "robots",
    "plugins",
];

fn chromium() -> Command {
    let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "these tests render the report in Debian's headless Chromium: \
             apt-get install chromium (.ci/run does)",
        );
    let mut command = Command::new(path);
    let profile = tempfile("chromium-profile");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // The network off: every request the page could make goes to a
        // proxy that does not exist.
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The report's DOM as Chromium built it, and Chromium's log (its console
/// messages among it).
fn load(report: &Path) -> (String, String) {
    let out = chromium()
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Saves a screenshot of the report under target/; returns its path.
fn screenshot(report: &Path, name: &str) -> PathBuf {
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&png);
    let out = chromium()
        .arg(format!("--screenshot={}", png.display()))
        .args(["--window-size=1280,4000", "--hide-scrollbars"])
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {out:?}");
    png
}

/// The `data-value` of the element with `data-figure="name"`.
fn figure(dom: &str, name: &str) -> f64 {
    let at = dom
        .find(&format!("data-figure=\"{name}\""))
        .unwrap_or_else(|| panic!("no figure {name:?} in the report"));
    let start = dom[..at].rfind('<').expect("inside a tag");
    let end = at + dom[at..].find('>').expect("a whole tag");
    let tag = &dom[start..end];
    let value = tag
        .split("data-value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or_else(|| panic!("figure {name:?} has no data-value: {tag}"));
    value
        .parse()
        .unwrap_or_else(|e| panic!("figure {name:?}: {value:?} is not a number: {e}"))
}

/// Chromium's log lines that tell of a console error or a refused load.
fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Refused to")
                || l.contains("net::ERR_")
                || l.contains("Uncaught")
        })
        .collect()
}

fn stats_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sum(map: &Value) -> f64 {
    map.as_object()
        .map_or(0.0, |m| m.values().filter_map(Value::as_f64).sum())
}

#[test]
fn the_demo_report_renders_offline_in_chromium_with_the_runs_figures() {
    let report = tempfile("demo-report.html");
    let stats = tempfile("demo-stats.json");
    let run = crawlbox(&[
        "demo",
        "--quiet",
        "--pages",
        "120",
        "--max-pages",
        "120",
        "--report",
        report.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(!html.contains("<script"), "the report has no script");
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "the report loads nothing"
    );

    let (dom, log) = load(&report);
    assert!(
        console_errors(&log).is_empty(),
        "the page raised errors: {:?}",
        console_errors(&log)
    );
    for id in SECTIONS {
        assert!(
            dom.contains(&format!("<section id=\"{id}\"")),
            "no section {id:?}"
        );
    }
    // A run, not a crawl: no crawl section.
    assert!(!dom.contains("<section id=\"crawl\""));

    let s = stats_of(&stats);
    assert_eq!(s["records"], 120, "{s}");
    assert_eq!(figure(&dom, "requests"), s["requests"].as_f64().unwrap());
    assert_eq!(figure(&dom, "responses"), sum(&s["responses"]));
    assert_eq!(figure(&dom, "failures"), sum(&s["errors"]));
    assert_eq!(figure(&dom, "bytes"), s["bytes"].as_f64().unwrap());
    assert_eq!(
        figure(&dom, "connections"),
        s["connections_opened"].as_f64().unwrap()
    );
    assert_eq!(figure(&dom, "hosts"), 1.0);
    assert!(figure(&dom, "seconds") > 0.0);
    assert!(figure(&dom, "rate") > 0.0);
    assert!(dom.contains("data-plugin=\"example-crawler\""));
    // The stats carry the report: `crawlbox report` renders the same figures.
    let again = tempfile("demo-report-again.html");
    let rendered = crawlbox(&[
        "report",
        stats.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(rendered.code, 0, "{}", rendered.stderr);
    let (dom_again, _) = load(&again);
    for name in ["requests", "responses", "bytes", "connections", "hosts"] {
        assert_eq!(figure(&dom_again, name), figure(&dom, name), "{name}");
    }

    let png = screenshot(&report, "report-screenshot.png");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    // A blank 1280x4000 page compresses to a few KB; charts and tables do not.
    assert!(
        bytes.len() > 40_000,
        "the screenshot {} looks blank ({} bytes)",
        png.display(),
        bytes.len()
    );
}

#[test]
fn a_crawl_report_has_its_pages_the_delay_and_the_robots_decisions() {
    let site = site(200, std::time::Duration::ZERO);
    let report = tempfile("crawl-report.html");
    let stats = tempfile("crawl-stats.json");
    let run = crawl_spider(
        &site,
        &[
            "-q",
            "--max-pages",
            "40",
            "--per-host-delay",
            "5ms",
            "--report",
            report.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (dom, log) = load(&report);
    assert!(
        console_errors(&log).is_empty(),
        "{:?}",
        console_errors(&log)
    );
    assert!(dom.contains("<section id=\"crawl\""), "a crawl section");
    let s = stats_of(&stats);
    assert_eq!(s["pages"], 40);
    assert_eq!(figure(&dom, "pages"), 40.0);
    assert_eq!(
        figure(&dom, "items"),
        s["report"]["crawl"]["items"].as_f64().unwrap()
    );
    // robots.txt was fetched (a 404 on the test site: everything allowed),
    // and its decisions are per request.
    let host = &s["report"]["traffic"]["hosts"][0];
    assert_eq!(host["robots"]["allowed"], 40, "{host}");
    assert_eq!(host["requests"], s["requests"], "one host, one session");
    // The politeness section shows the configured delay and the gaps seen.
    let politeness = dom
        .split("<section id=\"politeness\"")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap();
    assert!(politeness.contains("5.00 ms"), "{politeness}");
    // 41 requests (robots.txt and 40 pages) to one host: 40 gaps between them.
    assert!(
        politeness.contains("<td class=\"n\">40</td>"),
        "{politeness}"
    );
    assert!(
        politeness.contains(&site.base_url().replace("http://", "")),
        "{politeness}"
    );
}

#[test]
fn crawlbox_report_explains_a_file_it_cannot_render() {
    let not_json = tempfile("not-stats.json");
    std::fs::write(&not_json, "records: 3\n").unwrap();
    let out = tempfile("never.html");
    let run = crawlbox(&[
        "report",
        not_json.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is not JSON"), "{}", run.stderr);
    let old = tempfile("old-stats.json");
    std::fs::write(&old, r#"{"requests": 3}"#).unwrap();
    let run = crawlbox(&["report", old.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no \"report\" section"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing written");
}
