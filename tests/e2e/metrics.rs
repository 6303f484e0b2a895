//! `--metrics ADDR`: the endpoint's text is checked by `promtool check
//! metrics`, and a real Prometheus server scrapes a `crawlbox worker` and
//! answers, through its HTTP API, the request count the worker reports.
//! (Debian's `prometheus` package: .ci/run installs it.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::redis_support::RedisServer;
use crate::support::{cache_dir, crawl_spider, grant, site, tempfile};

fn tool(name: &str) -> Command {
    let path = format!("/usr/bin/{name}");
    assert!(
        Path::new(&path).exists(),
        "these tests use Debian's {name}: apt-get install prometheus (.ci/run does)"
    );
    Command::new(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` from 127.0.0.1:port: the status and body, or None if
/// nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The sum of a metric's samples in Prometheus text.
fn total(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn stats_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn spawn_crawlbox(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crawlbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("CRAWLBOX_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start crawlbox")
}

fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        assert!(
            started.elapsed() < limit,
            "crawlbox did not end in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_metrics_pass_promtool_and_end_with_the_runs_figures() {
    let port = free_port();
    let stats = tempfile("metrics-demo-stats.json");
    let addr = format!("127.0.0.1:{port}");
    let child = spawn_crawlbox(&[
        "demo",
        "-q",
        "--metrics",
        &addr,
        "--stats",
        stats.to_str().unwrap(),
    ]);
    // Scrape until the process is gone: it waits for a scrape after its
    // runs ended, so the last text holds the final figures.
    let mut last = None;
    let started = Instant::now();
    let mut child = Some(child);
    while let Some(running) = child.as_mut() {
        if let Some((status, body)) = get(port, "/metrics") {
            assert_eq!(status, 200, "{body}");
            last = Some(body);
        }
        if running.try_wait().unwrap().is_some() {
            let (code, stderr) = finish(child.take().unwrap(), Duration::from_secs(1));
            assert_eq!(code, 0, "{stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo does not end"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let text = last.expect("the endpoint answered");
    let s = stats_of(&stats);
    assert_eq!(
        total(&text, "crawlbox_requests_total"),
        s["requests"].as_f64().unwrap(),
        "{text}"
    );
    assert_eq!(
        total(&text, "crawlbox_records_total"),
        s["records"].as_f64().unwrap()
    );
    assert_eq!(
        total(&text, "crawlbox_response_bytes_total"),
        s["bytes"].as_f64().unwrap()
    );
    assert_eq!(
        total(&text, "crawlbox_request_duration_seconds_count"),
        total(&text, "crawlbox_requests_total"),
        "every response body ended"
    );
    assert_eq!(
        total(&text, "crawlbox_plugin_runs_total"),
        1.0,
        "one run ended: {text}"
    );
    assert!(text.contains("crawlbox_plugin_runs_total{outcome=\"completed\"} 1"));
    assert_eq!(total(&text, "crawlbox_requests_in_flight"), 0.0);

    // promtool reads it from stdin and says nothing is wrong.
    let mut check = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Anything but GET /metrics is refused.
    let again = spawn_crawlbox(&["demo", "-q", "--metrics", &addr, "--pages", "5"]);
    let started = Instant::now();
    let answered = loop {
        if let Some(answer) = get(port, "/nothing") {
            break answer;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(answered.0, 404);
    while get(port, "/metrics").is_some() {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(finish(again, Duration::from_secs(30)).0, 0);
}

#[test]
fn a_taken_metrics_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = finish(
        spawn_crawlbox(&["demo", "-q", "--metrics", &addr]),
        Duration::from_secs(30),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} for --metrics")),
        "{stderr}"
    );
}

/// Percent-encodes a PromQL query for a URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asks Prometheus at `port` for the single value of `query`.
fn query(port: u16, query: &str) -> Option<f64> {
    let (status, body) = get(port, &format!("/api/v1/query?query={}", encode(query)))?;
    if status != 200 {
        return None;
    }
    let answer: Value = serde_json::from_str(&body).ok()?;
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

#[test]
fn prometheus_scrapes_a_worker_and_gets_the_request_count_it_reports() {
    let redis = RedisServer::start();
    let url = redis.url();
    let site = site(300, Duration::from_millis(1));
    let seed = crawl_spider(
        &site,
        &["--redis", &url, "--crawl", "metrics", "--seed-only"],
    );
    assert_eq!(seed.code, 0, "{}", seed.stderr);

    let (metrics_port, prometheus_port) = (free_port(), free_port());
    let dir = tempfile("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n\
             scrape_configs:\n  - job_name: crawlbox\n    static_configs:\n\
             \x20     - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let mut prometheus = tool("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Kill(&mut prometheus);
    let started = Instant::now();
    while get(prometheus_port, "/-/ready").is_none_or(|(status, _)| status != 200) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus is not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let stats = tempfile("metrics-worker-stats.json");
    let grant = grant(&site);
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut args = vec![
        "worker",
        "--redis",
        &url,
        "--crawl",
        "metrics",
        "-q",
        "--per-host-delay",
        "5ms",
        "--metrics",
        &metrics,
        "--stats",
    ];
    let stats_arg = stats.to_str().unwrap();
    args.push(stats_arg);
    args.extend(grant.iter().map(String::as_str));
    let (code, stderr) = finish(spawn_crawlbox(&args), Duration::from_secs(120));
    assert_eq!(code, 0, "{stderr}");
    let s = stats_of(&stats);
    assert_eq!(s["pages"], 300, "{s}");
    let requests = s["requests"].as_f64().unwrap();

    // The worker waited for a scrape of its final figures before it ended;
    // once gone, its series are stale, so ask for the largest value seen.
    let started = Instant::now();
    let seen = loop {
        let seen = query(
            prometheus_port,
            "sum(max_over_time(crawlbox_requests_total{job=\"crawlbox\"}[10m]))",
        );
        if seen == Some(requests) || started.elapsed() > Duration::from_secs(20) {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        seen,
        Some(requests),
        "Prometheus has what the worker reports"
    );
    let pages = query(
        prometheus_port,
        "sum(max_over_time(crawlbox_crawl_pages_total[10m]))",
    );
    assert_eq!(pages, Some(300.0));
    assert!(
        query(
            prometheus_port,
            "max_over_time(crawlbox_frontier_queued[10m])"
        )
        .is_some(),
        "the frontier's size is exported"
    );
}
