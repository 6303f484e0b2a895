//! Helpers: run the binary, start sites, scratch files.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use serde_json::Value;

/// What a `crawlbox` process did.
pub struct Run {
    pub code: i32,
    /// stdout, parsed as JSON Lines.
    pub records: Vec<Value>,
    pub stderr: String,
}

impl Run {
    /// The records of plugin `name` in a multi-plugin run (unwrapped).
    pub fn records_of(&self, name: &str) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| r["plugin"] == name)
            .map(|r| &r["record"])
            .collect()
    }
}

/// Runs `crawlbox` with `args`; asserts it did not panic.
pub fn crawlbox(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("CRAWLBOX_CACHE_DIR", cache_dir())
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
    // The host's own panics (a plugin's are logged as `plugin:` lines).
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.starts_with("thread '") && l.contains("panicked")),
        "crawlbox panicked:\n{}",
        run.stderr
    );
    run
}

/// The compile cache the tests share (not the user's).
pub fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("crawlbox-e2e-compile-cache")
}

/// A site of `pages` pages, each answering after `page_delay`.
pub fn site(pages: usize, page_delay: Duration) -> Site {
    Site::start(SiteConfig {
        pages,
        page_delay,
        ..SiteConfig::default()
    })
    .expect("start the test site")
}

/// The flags that let a plugin reach `site` (on loopback).
pub fn grant(site: &Site) -> [String; 4] {
    [
        "--allow-host".into(),
        site.base_url(),
        "--allow-network".into(),
        "127.0.0.1".into(),
    ]
}

/// `crawlbox crawl` of the example spider from the site's page 0, with the
/// site granted and `extra` arguments (limits, `--redis`, ...).
pub fn crawl_spider(site: &Site, extra: &[&str]) -> Run {
    let input = serde_json::json!({ "start": [site.url("/page/0")] }).to_string();
    let grant = grant(site);
    let mut args = vec![
        "crawl",
        crawlbox_guest_artifacts::EXAMPLE_SPIDER,
        "--input",
        &input,
    ];
    args.extend(extra);
    args.extend(grant.iter().map(String::as_str));
    crawlbox(&args)
}

/// Input for the example crawler, starting at the site's page 0.
pub fn crawl_input(site: &Site, max_pages: usize, batch: usize) -> String {
    serde_json::json!({ "start": [site.url("/page/0")], "max_pages": max_pages, "batch": batch })
        .to_string()
}

/// A fresh path in a per-test temporary directory.
pub fn tempfile(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crawlbox-e2e-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
