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
    crawlbox_watched(args).0
}

/// Runs `crawlbox` with `args` as [`crawlbox`] does, and also returns the
/// process's peak resident memory (VmHWM, in bytes), read from /proc while
/// it runs.
pub fn crawlbox_watched(args: &[&str]) -> (Run, u64) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("CRAWLBOX_CACHE_DIR", cache_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run crawlbox");
    // Drain both pipes on threads, so a chatty process never blocks.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes)
                .expect("read a pipe of crawlbox");
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib * 1024);
        }
        if let Some(status) = child.try_wait().expect("wait for crawlbox") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8(stdout.join().expect("stdout")).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    let records = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("stdout line {line:?} is not JSON ({e}); stderr:\n{stderr}")
            })
        })
        .collect();
    let run = Run {
        code: status.code().expect("exited, not killed"),
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
    (run, peak)
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
    crawl_with(crawlbox_guest_artifacts::EXAMPLE_SPIDER, site, extra)
}

/// The example spiders, one per language: (language, component).
pub const SPIDERS: [(&str, &str); 3] = [
    ("rust", crawlbox_guest_artifacts::EXAMPLE_SPIDER),
    ("python", crawlbox_guest_artifacts::PYTHON_SPIDER),
    ("js", crawlbox_guest_artifacts::JS_SPIDER),
];

/// [`crawl_spider`] with another spider.
pub fn crawl_with(spider: &str, site: &Site, extra: &[&str]) -> Run {
    let input = serde_json::json!({ "start": [site.url("/page/0")] }).to_string();
    let grant = grant(site);
    let mut args = vec!["crawl", spider, "--input", &input];
    args.extend(extra);
    args.extend(grant.iter().map(String::as_str));
    crawlbox(&args)
}

/// Input for the example crawler, starting at the site's page 0.
/// The `links` of an example's record for page `n` of a demo site of
/// `pages`: its same-host links, each once, the page itself (its `#top`
/// link) included. The examples have the host extract them.
pub fn same_host_links(record: &Value, pages: usize) -> u64 {
    let url = record["url"].as_str().expect("a url");
    let n: usize = url
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a page URL");
    let mut links = crawlbox_demo_site::links_of(n, pages);
    links.push(n);
    links.sort_unstable();
    links.dedup();
    links.len() as u64
}

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

/// Pages the well-behaved crawler fetches beside every hostile plugin.
pub const GOOD_PAGES: u64 = 50;

/// The jobs files of a hostile-plugin test: the example crawler as "good"
/// (granted the site, [`GOOD_PAGES`] pages from page 0) beside a hostile
/// plugin, in one process.
pub struct HostileJobs {
    /// Both jobs: `crawlbox run --jobs` this.
    pub both: PathBuf,
    /// The good crawler alone, for its time alone.
    pub good_alone: PathBuf,
}

/// Writes, into `dir`, `good.toml`, `hostile.toml` (the whole manifest
/// text `hostile_manifest`, its `name` included), `jobs.toml` (both jobs:
/// good first, then `plugin` with `input`) and `good-alone.toml`.
pub fn hostile_jobs(
    dir: &std::path::Path,
    site: &Site,
    plugin: &str,
    input: &Value,
    hostile_manifest: &str,
) -> HostileJobs {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("good.toml"),
        format!(
            "name = \"good\"\n[network]\nallowed_hosts = [\"{}\"]\nallowed_networks = [\"127.0.0.1\"]\n",
            site.base_url()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("hostile.toml"), hostile_manifest).unwrap();
    let good_input =
        serde_json::json!({ "start": [site.url("/page/0")], "max_pages": GOOD_PAGES, "batch": 8 });
    let good = format!(
        "[[job]]\nplugin = {:?}\nmanifest = \"good.toml\"\ninput_json = '{good_input}'\n",
        crawlbox_guest_artifacts::EXAMPLE_CRAWLER
    );
    let hostile = format!(
        "[[job]]\nplugin = {plugin:?}\nmanifest = \"hostile.toml\"\ninput_json = '{input}'\n"
    );
    let jobs = HostileJobs {
        both: dir.join("jobs.toml"),
        good_alone: dir.join("good-alone.toml"),
    };
    std::fs::write(&jobs.both, format!("{good}\n{hostile}")).unwrap();
    std::fs::write(&jobs.good_alone, good).unwrap();
    jobs
}
