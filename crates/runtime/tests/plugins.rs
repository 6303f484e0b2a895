//! Real guests (built from `guests/`) against a local site, in-process.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_guest_artifacts::{EXAMPLE_CRAWLER, WASI_HTTP_FETCH};
use crawlbox_net::{Client, ClientConfig, SessionConfig};
use crawlbox_runtime::{
    Input, Limits, LoadError, Outcome, Plugin, RecordSink, RunReport, RunSpec, Runtime,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Records(Mutex<Vec<Value>>);

impl RecordSink for Records {
    fn write(&self, _plugin: &str, record: &str) -> std::io::Result<()> {
        assert!(!record.contains('\n'));
        self.0
            .lock()
            .unwrap()
            .push(serde_json::from_str(record).unwrap());
        Ok(())
    }
}

impl Records {
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn runtime(config: ClientConfig) -> Runtime {
    Runtime::new(Client::new(config).unwrap()).unwrap()
}

fn load(runtime: &Runtime, path: &str) -> Plugin {
    let name = std::path::Path::new(path)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap();
    runtime.load(name, &std::fs::read(path).unwrap()).unwrap()
}

async fn run(runtime: &Runtime, plugin: &Plugin, input: Value) -> (RunReport, Vec<Value>) {
    let records = Arc::new(Records::default());
    let report = runtime
        .run(RunSpec {
            plugin: plugin.clone(),
            input: Input::json(input.to_string()),
            limits: Limits::default(),
            session: runtime.client().session(SessionConfig::unrestricted()),
            sink: records.clone(),
            cancel: CancellationToken::new(),
        })
        .await;
    (report, records.take())
}

#[tokio::test]
async fn example_crawler_crawls_the_site_breadth_first() {
    let site = Site::start(SiteConfig::default()).unwrap();
    let runtime = runtime(ClientConfig::default());
    let crawler = load(&runtime, EXAMPLE_CRAWLER);
    let input = json!({ "start": [site.url("/page/0")], "max_pages": 50, "batch": 16 });
    let (report, records) = run(&runtime, &crawler, input).await;

    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.records, 50);
    assert_eq!(records.len(), 50);
    let mut urls: Vec<&str> = records.iter().map(|r| r["url"].as_str().unwrap()).collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), 50, "every page once");
    for record in &records {
        assert_eq!(record["status"], 200);
        let url = record["url"].as_str().unwrap();
        let n = url.rsplit('/').next().unwrap();
        assert_eq!(record["title"], format!("Page {n}"));
        // Its same-host links, each once, as the host extracted them: the
        // pages it links to and itself (its `#top` link); not the
        // off-site and `mailto:` ones.
        let n: usize = n.parse().unwrap();
        let mut expected = crawlbox_demo_site::links_of(n, SiteConfig::default().pages);
        expected.push(n);
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(record["links"], expected.len(), "{record}");
    }
    assert_eq!(records[0]["url"], site.url("/page/0"));
    // 50 pages and the site's robots.txt (a 404: everything allowed).
    assert_eq!(report.stats.requests, 51);
    assert_eq!(site.counters().requests(), 50);
    assert_eq!(site.counters().requests_for("/robots.txt"), 1);
}

#[tokio::test]
async fn wasi_http_guest_is_pooled_and_capped() {
    let site = Site::start(SiteConfig::default()).unwrap();
    let runtime = runtime(ClientConfig {
        concurrency: 8,
        ..Default::default()
    });
    let fetcher = load(&runtime, WASI_HTTP_FETCH);
    let input =
        json!({ "base": site.base_url(), "path": "/page/{i}", "n": 300, "concurrency": 32 });
    let (report, records) = run(&runtime, &fetcher, input).await;

    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(records.len(), 300);
    assert!(
        records
            .iter()
            .all(|r| r["status"] == 200 && r["bytes"].as_u64() > Some(300))
    );
    assert!(site.counters().peak_in_flight() <= 8);
    assert!(
        site.counters().connections() <= 8,
        "{} connections for 300 requests",
        site.counters().connections()
    );
    assert_eq!(report.stats.responses.get(&200), Some(&300));
}

#[tokio::test]
async fn both_guest_paths_share_one_cap() {
    let site = Site::start(SiteConfig::default()).unwrap();
    let runtime = runtime(ClientConfig {
        concurrency: 4,
        ..Default::default()
    });
    let crawler = load(&runtime, EXAMPLE_CRAWLER);
    let fetcher = load(&runtime, WASI_HTTP_FETCH);
    let crawl = run(
        &runtime,
        &crawler,
        json!({ "start": [site.url("/page/0")], "max_pages": 200, "batch": 32 }),
    );
    let fetch = run(
        &runtime,
        &fetcher,
        json!({ "base": site.base_url(), "path": "/page/{i}", "n": 200, "concurrency": 32 }),
    );
    let ((a, _), (b, _)) = tokio::join!(crawl, fetch);
    assert_eq!(a.outcome, Outcome::Completed);
    assert_eq!(b.outcome, Outcome::Completed);
    assert_eq!(site.counters().requests(), 400);
    assert!(
        site.counters().peak_in_flight() <= 4,
        "peak {}",
        site.counters().peak_in_flight()
    );
    assert!(site.counters().connections() <= 4);
}

#[tokio::test]
async fn a_guest_error_is_reported_with_its_message() {
    let runtime = runtime(ClientConfig::default());
    let crawler = load(&runtime, EXAMPLE_CRAWLER);
    let (report, records) = run(&runtime, &crawler, json!({ "nope": 1 })).await;
    match report.outcome {
        Outcome::Failed(message) => assert!(message.contains("invalid input"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(records.is_empty());
}

#[tokio::test]
async fn fetch_errors_reach_the_guest_and_the_run_goes_on() {
    let site = Site::start(SiteConfig::default()).unwrap();
    let runtime = runtime(ClientConfig::default());
    let fetcher = load(&runtime, WASI_HTTP_FETCH);
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let urls = [
        site.url("/small"),
        format!("http://127.0.0.1:{dead_port}/"),
        site.url("/small"),
    ];
    let (report, records) = run(
        &runtime,
        &fetcher,
        json!({ "urls": urls, "concurrency": 1 }),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(records.len(), 3);
    let errors: Vec<_> = records
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]["error"].as_str().unwrap().contains("onnection"),
        "{}",
        errors[0]
    );
}

#[test]
fn loading_rejects_what_is_not_a_plugin() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let runtime = runtime(ClientConfig::default());
    let err = runtime.load("junk", b"hello world").unwrap_err();
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err}");
    let core_module = b"\0asm\x01\0\0\0";
    let err = runtime.load("core", core_module).unwrap_err();
    assert!(matches!(err, LoadError::CoreModule { .. }), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"));
    let truncated = &std::fs::read(EXAMPLE_CRAWLER).unwrap()[..1000];
    let err = runtime.load("truncated", truncated).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
}
