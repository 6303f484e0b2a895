//! `--metrics ADDR`: a Prometheus endpoint (`GET /metrics`, the text
//! exposition format 0.0.4) for long crawls and workers.
//!
//! Every scrape reads the client's traffic ([`crawlbox_net::traffic`]) and
//! the command's runs ([`Watch`]) afresh: nothing is kept for the endpoint
//! but what the report keeps anyway. Host labels are bounded: the first
//! [`MAX_HOSTS`](crawlbox_net::traffic::MAX_HOSTS) hosts are named, every
//! later one is `host="(other hosts)"`. docs/metrics.md lists each metric.
//!
//! When the runs end, the endpoint stays up until it has been scraped once
//! more (so the final figures reach Prometheus), for at most
//! [`LINGER`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use crawlbox_net::Client;
use crawlbox_net::traffic::{DURATION_BUCKETS, Distribution, TrafficSnapshot};
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use tokio::sync::Notify;

use crate::watch::{Figures, Watch};

/// The longest the endpoint waits, once the runs have ended, for a last
/// scrape.
pub const LINGER: Duration = Duration::from_secs(15);

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The endpoint, serving until dropped.
#[derive(Debug)]
pub struct Endpoint {
    scrapes: Arc<Scrapes>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Scrapes {
    served: AtomicU64,
    notify: Notify,
}

impl Endpoint {
    /// Listens on `addr` and serves the metrics of `client` and `watch`
    /// (on the current tokio runtime).
    pub fn start(addr: SocketAddr, client: Client, watch: Arc<Watch>) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .with_context(|| {
                format!("cannot listen on {addr} for --metrics (is the port taken? pick another)")
            })?;
        let addr = listener.local_addr()?;
        let scrapes = Arc::new(Scrapes::default());
        let serving = scrapes.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (client, watch, scrapes) = (client.clone(), watch.clone(), serving.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let response = respond(&request, &client, &watch, &scrapes);
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        tracing::info!(target: "crawlbox", "metrics at http://{addr}/metrics");
        Ok(Self { scrapes, task })
    }

    /// Waits, the runs having ended, for one more scrape (at most [`LINGER`]).
    pub async fn linger(&self) {
        let before = self.scrapes.served.load(Ordering::SeqCst);
        let scraped = async {
            loop {
                let notified = self.scrapes.notify.notified();
                if self.scrapes.served.load(Ordering::SeqCst) > before {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(LINGER, scraped).await.is_err() {
            tracing::debug!(target: "crawlbox", "no last scrape of the metrics within {LINGER:?}");
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(
    request: &Request<hyper::body::Incoming>,
    client: &Client,
    watch: &Watch,
    scrapes: &Scrapes,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            let text = render(
                &client.traffic(),
                client.connections_open(),
                &watch.figures(),
            );
            // Counted once the figures are read: a run that ended before
            // this scrape is in it.
            scrapes.served.fetch_add(1, Ordering::SeqCst);
            scrapes.notify.notify_waiters();
            reply(StatusCode::OK, CONTENT_TYPE, text)
        }
        (_, "/metrics") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET /metrics\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "crawlbox serves its metrics at /metrics\n".into(),
        ),
    }
}

/// The metrics as Prometheus text: the traffic of every host, the open
/// connections, and the command's runs.
pub fn render(traffic: &TrafficSnapshot, connections_open: u64, figures: &Figures) -> String {
    let mut families = Families::default();
    let hosts = &traffic.hosts;

    let requests = families.counter(
        "crawlbox_requests_total",
        "Requests finished, by host and response status (`failed`: no response came).",
    );
    for h in hosts {
        for (status, n) in &h.statuses {
            requests.push(counter(
                &[("host", &h.host), ("status", &status.to_string())],
                *n,
            ));
        }
        if h.unanswered > 0 {
            requests.push(counter(
                &[("host", &h.host), ("status", "failed")],
                h.unanswered,
            ));
        }
    }
    let errors = families.counter(
        "crawlbox_request_errors_total",
        "Failed requests and response bodies, by host and kind.",
    );
    for h in hosts {
        for (kind, n) in &h.errors {
            errors.push(counter(&[("host", &h.host), ("kind", kind)], *n));
        }
    }
    let latency = families.histogram(
        "crawlbox_request_duration_seconds",
        "Time from sending a request to the end of its response body, by host.",
    );
    for h in hosts {
        latency.push(histogram(&h.host, &h.latency));
    }
    let gaps = families.histogram(
        "crawlbox_request_gap_seconds",
        "Time between two requests sent to one host, one after the other (politeness).",
    );
    for h in hosts {
        gaps.push(histogram(&h.host, &h.gaps));
    }
    let bytes = families.counter(
        "crawlbox_response_bytes_total",
        "Response body bytes received, by host.",
    );
    for h in hosts {
        bytes.push(counter(&[("host", &h.host)], h.bytes));
    }
    let opened = families.counter(
        "crawlbox_connections_opened_total",
        "Connections opened, by host.",
    );
    for h in hosts {
        opened.push(counter(&[("host", &h.host)], h.connections));
    }
    let robots = families.counter(
        "crawlbox_robots_decisions_total",
        "robots.txt decisions on requests, by host and decision (allowed, disallowed, failed).",
    );
    for h in hosts {
        for (decision, n) in [
            ("allowed", h.robots.allowed),
            ("disallowed", h.robots.disallowed),
            ("failed", h.robots.failed),
        ] {
            if n > 0 {
                robots.push(counter(&[("host", &h.host), ("decision", decision)], n));
            }
        }
    }
    families.gauge_of(
        "crawlbox_connections_open",
        "Connections open now, idle ones included.",
        connections_open as f64,
    );
    families.gauge_of(
        "crawlbox_requests_in_flight",
        "Requests sent whose response body has not ended yet.",
        figures.in_flight as f64,
    );
    families.counter_of(
        "crawlbox_records_total",
        "Records written by the plugins (a crawl's items among them).",
        figures.records,
    );
    families.counter_of(
        "crawlbox_extracted_pages_total",
        "Pages the host extracted from for the plugins.",
        figures.extracted,
    );
    families.counter_of(
        "crawlbox_extract_failures_total",
        "Of those, pages whose extraction failed.",
        figures.extract_failures,
    );
    families.counter_f64(
        "crawlbox_extract_seconds_total",
        "Time the host's extraction threads spent for the plugins.",
        figures.extract_seconds,
    );
    families.gauge_of(
        "crawlbox_plugins_running",
        "Plugin runs started and not ended.",
        figures.running as f64,
    );
    let runs = families.counter(
        "crawlbox_plugin_runs_total",
        "Plugin runs ended, by outcome (completed, failed, trapped, memory-limit, cpu-limit, \
         wall-limit, output-limit, output-failed, host-failed, interrupted).",
    );
    for (outcome, n) in &figures.ended {
        runs.push(counter(&[("outcome", outcome)], *n));
    }
    if let Some(crawl) = &figures.crawl {
        let pages = families.counter(
            "crawlbox_crawl_pages_total",
            "Pages committed by this process's crawl, by result (ok, failed).",
        );
        pages.push(counter(
            &[("result", "ok")],
            crawl.pages.saturating_sub(crawl.failed_pages),
        ));
        pages.push(counter(&[("result", "failed")], crawl.failed_pages));
        families.counter_of(
            "crawlbox_crawl_items_committed_total",
            "Items committed by this process's crawl.",
            crawl.items,
        );
        if let Some(queued) = crawl.queued {
            families.gauge_of(
                "crawlbox_frontier_queued",
                "Pages waiting in the crawl's frontier (the shared one, for a worker).",
                queued as f64,
            );
        }
    }
    families.gauge_of(
        "crawlbox_start_time_seconds",
        "When the client started, in seconds since the Unix epoch.",
        traffic.started_unix_seconds,
    );
    families.render()
}

/// The families of one scrape, in order.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

impl Families {
    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> &mut Vec<Metric> {
        let mut family = MetricFamily::default();
        family.set_name(name.to_owned());
        family.set_help(help.to_owned());
        family.set_field_type(kind);
        self.0.push(family);
        self.0.last_mut().expect("just pushed").mut_metric()
    }

    fn counter(&mut self, name: &str, help: &str) -> &mut Vec<Metric> {
        self.family(name, help, MetricType::COUNTER)
    }

    fn histogram(&mut self, name: &str, help: &str) -> &mut Vec<Metric> {
        self.family(name, help, MetricType::HISTOGRAM)
    }

    fn counter_of(&mut self, name: &str, help: &str, value: u64) {
        self.counter_f64(name, help, value as f64);
    }

    fn counter_f64(&mut self, name: &str, help: &str, value: f64) {
        let mut c = Counter::default();
        c.set_value(value);
        let mut metric = Metric::default();
        metric.set_counter(c);
        self.counter(name, help).push(metric);
    }

    fn gauge_of(&mut self, name: &str, help: &str, value: f64) {
        let mut g = Gauge::default();
        g.set_value(value);
        self.family(name, help, MetricType::GAUGE)
            .push(Metric::from_gauge(g));
    }

    fn render(mut self) -> String {
        // A family without samples is left out (the encoder refuses it).
        self.0.retain(|f| !f.get_metric().is_empty());
        prometheus::TextEncoder::new()
            .encode_to_string(&self.0)
            .unwrap_or_else(|e| format!("# crawlbox could not encode its metrics: {e}\n"))
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect()
}

fn counter(pairs: &[(&str, &str)], value: u64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut metric = Metric::from_label(labels(pairs));
    metric.set_counter(c);
    metric
}

fn histogram(host: &str, d: &Distribution) -> Metric {
    let mut h = Histogram::default();
    h.set_sample_count(d.count);
    h.set_sample_sum(d.sum);
    h.set_bucket(
        DURATION_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, bound)| {
                let mut b = Bucket::default();
                b.set_upper_bound(bound.as_secs_f64());
                b.set_cumulative_count(d.cumulative.get(i).copied().unwrap_or(d.count));
                b
            })
            .collect(),
    );
    let mut metric = Metric::from_label(labels(&[("host", host)]));
    metric.set_histogram(h);
    metric
}

#[cfg(test)]
mod tests {
    use super::*;
    use crawlbox_net::traffic::HostSnapshot;

    #[test]
    fn hosts_statuses_and_failures_are_labelled() {
        let traffic = TrafficSnapshot {
            hosts: vec![HostSnapshot {
                host: "http://a.example:80".into(),
                requests: 5,
                statuses: [(200, 3), (404, 1)].into(),
                unanswered: 1,
                errors: [("timeout".to_owned(), 1)].into(),
                latency: Distribution {
                    count: 4,
                    sum: 0.01,
                    cumulative: vec![4; 17],
                    ..Distribution::default()
                },
                ..HostSnapshot::default()
            }],
            ..TrafficSnapshot::default()
        };
        let text = render(&traffic, 2, &Figures::default());
        for line in [
            r#"crawlbox_requests_total{host="http://a.example:80",status="200"} 3"#,
            r#"crawlbox_requests_total{host="http://a.example:80",status="404"} 1"#,
            r#"crawlbox_requests_total{host="http://a.example:80",status="failed"} 1"#,
            r#"crawlbox_request_errors_total{host="http://a.example:80",kind="timeout"} 1"#,
            r#"crawlbox_request_duration_seconds_bucket{host="http://a.example:80",le="0.001"} 4"#,
            r#"crawlbox_request_duration_seconds_count{host="http://a.example:80"} 4"#,
            "crawlbox_connections_open 2",
            "# TYPE crawlbox_requests_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Nothing crawled: no crawl family.
        assert!(!text.contains("crawlbox_crawl_pages_total"));
    }
}
