//! What the client's traffic looked like, host by host, in bounded memory:
//! the figures behind `crawlbox --report` and `--metrics`.
//!
//! [`Stats`](crate::Stats) counts one session's requests; [`Traffic`]
//! counts the whole client's (every session, robots.txt fetches and
//! replayed responses included) per host, as they go:
//!
//! * requests sent, responses by status, failures by kind, body bytes,
//!   connections opened;
//! * latency (sending to the end of the body) and the gap between two
//!   requests sent to one host (the politeness actually achieved), each
//!   as a histogram from which percentiles are read;
//! * the requests of each host over time, by status class, in
//!   [`TIMELINE_BUCKETS`] buckets that widen (two merged into one) as the
//!   crawl goes on;
//! * robots.txt decisions.
//!
//! Memory is bounded whatever the crawl's length and breadth: the first
//! [`MAX_HOSTS`] hosts have their own figures, every later one is counted
//! under [`OTHER_HOSTS`], and each host's figures have a fixed size (about
//! 60 KB). A crawl of ten million requests keeps no event.
//!
//! The client keeps it when [`ClientConfig::traffic`](crate::ClientConfig::traffic)
//! is on (crawlbox turns it on for `--report`, `--metrics` and `--stats`);
//! off, none of this is done.
//!
//! [`Client::traffic`](crate::Client::traffic) reads a
//! [`TrafficSnapshot`] at any time; it is plain data (serde), so it can be
//! written with the stats and rendered later.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::ErrorKind;
use crate::pool::HostKey;

/// Hosts with figures of their own; the others share [`OTHER_HOSTS`].
pub const MAX_HOSTS: usize = 50;

/// The name under which hosts past the first [`MAX_HOSTS`] are counted.
pub const OTHER_HOSTS: &str = "(other hosts)";

/// Buckets in a host's timeline. When the crawl outlasts them, pairs are
/// merged and each bucket covers twice the time.
pub const TIMELINE_BUCKETS: usize = 240;

/// The time a timeline bucket covers at first.
pub const TIMELINE_START_WIDTH: Duration = Duration::from_millis(10);

/// The upper bounds of the duration buckets of a [`Distribution`] (and of
/// the Prometheus histograms): 1 ms, doubling, to 65.5 s.
pub const DURATION_BUCKETS: [Duration; 17] = {
    let mut bounds = [Duration::ZERO; 17];
    let mut i = 0;
    while i < bounds.len() {
        bounds[i] = Duration::from_millis(1 << i);
        i += 1;
    }
    bounds
};

/// The status classes of a timeline bucket, in order.
pub const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "failed"];

/// What became of the robots.txt check of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RobotsDecision {
    /// The site's rules allow it (or the site has none).
    Allowed,
    /// The site's rules forbid it: refused (`denied-by-robots`).
    Disallowed,
    /// The site's robots.txt could not be had: the request failed.
    Failed,
}

/// The client's traffic, per host. See the [module docs](self).
#[derive(Debug)]
pub struct Traffic {
    started: Instant,
    started_at: SystemTime,
    hosts: RwLock<HashMap<HostKey, Arc<HostTraffic>>>,
    /// The hosts in the order they were first seen (their figures'
    /// order in a snapshot before sorting).
    order: Mutex<Vec<Arc<HostTraffic>>>,
    other: Arc<HostTraffic>,
}

impl Default for Traffic {
    fn default() -> Self {
        let started = Instant::now();
        Self {
            started,
            started_at: SystemTime::now(),
            hosts: RwLock::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
            other: Arc::new(HostTraffic::new(OTHER_HOSTS.to_owned(), started)),
        }
    }
}

impl Traffic {
    /// The figures of `key`'s host (those of [`OTHER_HOSTS`] past
    /// [`MAX_HOSTS`] hosts).
    pub(crate) fn host(&self, key: &HostKey) -> Arc<HostTraffic> {
        if let Some(host) = self.hosts.read().expect("traffic lock").get(key) {
            return host.clone();
        }
        let mut hosts = self.hosts.write().expect("traffic lock");
        if let Some(host) = hosts.get(key) {
            return host.clone();
        }
        if hosts.len() >= MAX_HOSTS {
            return self.other.clone();
        }
        let host = Arc::new(HostTraffic::new(key.to_string(), self.started));
        hosts.insert(key.clone(), host.clone());
        self.order.lock().expect("traffic lock").push(host.clone());
        host
    }

    /// Reads every host's figures: hosts by requests sent, most first,
    /// [`OTHER_HOSTS`] last (if any host was counted there).
    pub fn snapshot(&self) -> TrafficSnapshot {
        let elapsed = self.started.elapsed();
        let mut hosts: Vec<Arc<HostTraffic>> = self.order.lock().expect("traffic lock").clone();
        hosts.push(self.other.clone());
        let counts: Vec<(String, HostCounts)> = hosts
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    h.counts.lock().expect("traffic lock").clone(),
                )
            })
            .collect();
        let width = counts
            .iter()
            .map(|(_, c)| c.timeline.width)
            .max()
            .unwrap_or(TIMELINE_START_WIDTH);
        let buckets = ((elapsed.as_nanos() / width.as_nanos()) as usize + 1).min(TIMELINE_BUCKETS);
        let mut hosts: Vec<HostSnapshot> = counts
            .into_iter()
            .filter(|(name, c)| name != OTHER_HOSTS || c.sent > 0 || c.connections > 0)
            .map(|(name, c)| c.snapshot(name, width, buckets))
            .collect();
        hosts.sort_by(|a, b| {
            (a.host == OTHER_HOSTS)
                .cmp(&(b.host == OTHER_HOSTS))
                .then(b.requests.cmp(&a.requests))
                .then(a.host.cmp(&b.host))
        });
        TrafficSnapshot {
            started_unix_seconds: self
                .started_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            elapsed_seconds: elapsed.as_secs_f64(),
            timeline_width_seconds: width.as_secs_f64(),
            hosts,
        }
    }
}

/// The figures of one host (or of [`OTHER_HOSTS`]).
#[derive(Debug)]
pub(crate) struct HostTraffic {
    name: String,
    started: Instant,
    counts: Mutex<HostCounts>,
}

#[derive(Debug, Clone)]
struct HostCounts {
    sent: u64,
    statuses: BTreeMap<u16, u64>,
    /// Requests sent that got no response.
    unanswered: u64,
    errors: BTreeMap<ErrorKind, u64>,
    bytes: u64,
    connections: u64,
    robots: RobotsDecisions,
    /// Microseconds from sending to the end of the body.
    latency: Histogram<u64>,
    /// Microseconds between two requests sent.
    gaps: Histogram<u64>,
    last_sent: Option<Instant>,
    timeline: Timeline,
}

/// Requests over time by status class, in buckets that widen.
#[derive(Debug, Clone)]
struct Timeline {
    width: Duration,
    buckets: Vec<[u64; STATUS_CLASSES.len()]>,
}

impl Timeline {
    fn count(&mut self, at: Duration, class: usize) {
        let mut index = (at.as_nanos() / self.width.as_nanos()) as usize;
        while index >= TIMELINE_BUCKETS {
            // Merge pairs: each bucket now covers twice the time.
            let merged: Vec<_> = self
                .buckets
                .chunks(2)
                .map(|pair| {
                    let mut sum = pair[0];
                    if let Some(second) = pair.get(1) {
                        for (s, n) in sum.iter_mut().zip(second) {
                            *s += n;
                        }
                    }
                    sum
                })
                .collect();
            self.buckets = merged;
            self.width *= 2;
            index /= 2;
        }
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, [0; STATUS_CLASSES.len()]);
        }
        self.buckets[index][class] += 1;
    }

    /// The buckets at `width` (a power-of-two multiple of this one's),
    /// `len` of them.
    fn at_width(&self, width: Duration, len: usize) -> Vec<[u64; STATUS_CLASSES.len()]> {
        let factor = (width.as_nanos() / self.width.as_nanos()).max(1) as usize;
        let mut out = vec![[0; STATUS_CLASSES.len()]; len];
        for (i, bucket) in self.buckets.iter().enumerate() {
            if let Some(slot) = out.get_mut(i / factor) {
                for (s, n) in slot.iter_mut().zip(bucket) {
                    *s += n;
                }
            }
        }
        out
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 1 hour at 2 significant digits (about 24 KB); larger values saturate.
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl HostTraffic {
    fn new(name: String, started: Instant) -> Self {
        Self {
            name,
            started,
            counts: Mutex::new(HostCounts {
                sent: 0,
                statuses: BTreeMap::new(),
                unanswered: 0,
                errors: BTreeMap::new(),
                bytes: 0,
                connections: 0,
                robots: RobotsDecisions::default(),
                latency: histogram(),
                gaps: histogram(),
                last_sent: None,
                timeline: Timeline {
                    width: TIMELINE_START_WIDTH,
                    buckets: Vec::new(),
                },
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut HostCounts) -> R) -> R {
        f(&mut self.counts.lock().expect("traffic lock"))
    }

    /// A request is sent (or replayed) now.
    pub(crate) fn sent(&self) {
        let now = Instant::now();
        self.with(|c| {
            c.sent += 1;
            if let Some(last) = c.last_sent.replace(now) {
                c.gaps.saturating_record(micros(now.duration_since(last)));
            }
        });
    }

    /// Its response headers arrived with `status`.
    pub(crate) fn answered(&self, status: u16) {
        let at = self.started.elapsed();
        self.with(|c| {
            *c.statuses.entry(status).or_default() += 1;
            let class = match status {
                0..300 => 0,
                300..400 => 1,
                400..500 => 2,
                _ => 3,
            };
            c.timeline.count(at, class);
        });
    }

    /// A request sent failed before its response arrived.
    pub(crate) fn unanswered(&self, kind: ErrorKind) {
        let at = self.started.elapsed();
        self.with(|c| {
            c.unanswered += 1;
            *c.errors.entry(kind).or_default() += 1;
            c.timeline.count(at, STATUS_CLASSES.len() - 1);
        });
    }

    /// A response body ended after `latency` with `bytes`, or failed with
    /// `error` after `bytes`.
    pub(crate) fn body_ended(&self, bytes: u64, ended: Result<Duration, ErrorKind>) {
        self.with(|c| {
            c.bytes += bytes;
            match ended {
                Ok(latency) => c.latency.saturating_record(micros(latency)),
                Err(kind) => *c.errors.entry(kind).or_default() += 1,
            }
        });
    }

    /// A response body was dropped unread after `bytes`.
    pub(crate) fn body_dropped(&self, bytes: u64) {
        self.with(|c| c.bytes += bytes);
    }

    /// A connection to the host was opened.
    pub(crate) fn connection_opened(&self) {
        self.with(|c| c.connections += 1);
    }

    /// A request's robots.txt check came out as `decision`.
    pub(crate) fn robots(&self, decision: RobotsDecision) {
        self.with(|c| match decision {
            RobotsDecision::Allowed => c.robots.allowed += 1,
            RobotsDecision::Disallowed => c.robots.disallowed += 1,
            RobotsDecision::Failed => c.robots.failed += 1,
        });
    }
}

impl HostCounts {
    fn snapshot(self, host: String, width: Duration, buckets: usize) -> HostSnapshot {
        HostSnapshot {
            host,
            requests: self.sent,
            statuses: self.statuses,
            unanswered: self.unanswered,
            errors: self
                .errors
                .into_iter()
                .map(|(kind, n)| (kind.as_str().to_owned(), n))
                .collect(),
            bytes: self.bytes,
            connections: self.connections,
            robots: self.robots,
            latency: Distribution::of(&self.latency),
            gaps: Distribution::of(&self.gaps),
            timeline: self.timeline.at_width(width, buckets),
        }
    }
}

/// The client's traffic at one moment (see [`Traffic`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficSnapshot {
    /// When the client was made, in seconds since the Unix epoch.
    pub started_unix_seconds: f64,
    /// Seconds since then.
    pub elapsed_seconds: f64,
    /// The time each bucket of the hosts' timelines covers.
    pub timeline_width_seconds: f64,
    /// Every host, most requests first; [`OTHER_HOSTS`] last.
    pub hosts: Vec<HostSnapshot>,
}

impl TrafficSnapshot {
    /// Requests sent, to every host.
    pub fn requests(&self) -> u64 {
        self.hosts.iter().map(|h| h.requests).sum()
    }
}

/// One host's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostSnapshot {
    /// `scheme://host:port`, or [`OTHER_HOSTS`].
    pub host: String,
    /// Requests sent (each redirect hop and retry; robots.txt fetches and
    /// replayed responses too).
    pub requests: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests sent that got no response (their kinds are in `errors`).
    pub unanswered: u64,
    /// Failures by kind: requests unanswered, and bodies that failed.
    pub errors: BTreeMap<String, u64>,
    /// Response body bytes received.
    pub bytes: u64,
    /// Connections opened.
    pub connections: u64,
    /// Robots.txt decisions on its requests.
    pub robots: RobotsDecisions,
    /// Seconds from sending a request to the end of its body.
    pub latency: Distribution,
    /// Seconds between two requests sent to it, one after the other.
    pub gaps: Distribution,
    /// Requests by status class ([`STATUS_CLASSES`]) over time, in buckets
    /// of [`TrafficSnapshot::timeline_width_seconds`] from the client's start.
    pub timeline: Vec<[u64; STATUS_CLASSES.len()]>,
}

/// Robots.txt decisions on a host's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotsDecisions {
    /// Allowed by the site's rules (or the site has none).
    pub allowed: u64,
    /// Refused by them.
    pub disallowed: u64,
    /// Failed: the site's robots.txt could not be had.
    pub failed: u64,
}

/// A distribution of durations, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Values measured.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Values at most each of [`DURATION_BUCKETS`] (cumulative, as
    /// Prometheus has them); `count` is the `+Inf` bucket.
    pub cumulative: Vec<u64>,
}

impl Distribution {
    fn of(h: &Histogram<u64>) -> Self {
        let secs = |us: u64| us as f64 / 1e6;
        if h.is_empty() {
            return Self {
                cumulative: vec![0; DURATION_BUCKETS.len()],
                ..Self::default()
            };
        }
        Self {
            count: h.len(),
            sum: h.mean() * h.len() as f64 / 1e6,
            min: secs(h.min()),
            p50: secs(h.value_at_quantile(0.50)),
            p90: secs(h.value_at_quantile(0.90)),
            p99: secs(h.value_at_quantile(0.99)),
            max: secs(h.max()),
            cumulative: DURATION_BUCKETS
                .iter()
                .map(|bound| h.count_between(0, micros(*bound)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(host: &str) -> HostKey {
        HostKey {
            tls: false,
            host: host.into(),
            port: 80,
        }
    }

    #[test]
    fn hosts_past_the_cap_are_counted_together() {
        let traffic = Traffic::default();
        for i in 0..MAX_HOSTS + 30 {
            let host = traffic.host(&key(&format!("h{i}.example")));
            host.sent();
            host.answered(200);
        }
        traffic.host(&key("h0.example")).sent();
        let snap = traffic.snapshot();
        assert_eq!(snap.hosts.len(), MAX_HOSTS + 1);
        assert_eq!(snap.requests(), MAX_HOSTS as u64 + 31);
        let other = snap.hosts.last().expect("other hosts");
        assert_eq!(other.host, OTHER_HOSTS);
        assert_eq!(other.requests, 30);
        assert_eq!(other.statuses[&200], 30);
        assert_eq!(snap.hosts[0].host, "http://h0.example:80");
        assert_eq!(snap.hosts[0].requests, 2);
    }

    #[test]
    fn the_timeline_widens_and_keeps_every_request() {
        let mut t = Timeline {
            width: TIMELINE_START_WIDTH,
            buckets: Vec::new(),
        };
        for ms in 0..10_000u64 {
            t.count(Duration::from_millis(ms), (ms % 5) as usize);
        }
        assert!(t.buckets.len() <= TIMELINE_BUCKETS);
        assert_eq!(t.width, Duration::from_millis(80));
        let total: u64 = t.buckets.iter().flatten().sum();
        assert_eq!(total, 10_000);
        // Read at a wider width, nothing is lost either.
        let wide = t.at_width(Duration::from_millis(160), 63);
        assert_eq!(wide.iter().flatten().sum::<u64>(), 10_000);
        assert_eq!(wide[0], [32, 32, 32, 32, 32]);
    }

    #[test]
    fn distributions_read_percentiles_and_buckets() {
        let mut h = histogram();
        for ms in 1..=100u64 {
            h.record(ms * 1000).expect("in range");
        }
        let d = Distribution::of(&h);
        assert_eq!(d.count, 100);
        assert!((d.p50 - 0.050).abs() < 0.001, "{d:?}");
        assert!((d.min - 0.001).abs() < 1e-6);
        assert!((d.max - 0.100).abs() < 0.001);
        assert!((d.sum - 5.05).abs() < 0.05, "{d:?}");
        // le 1 ms: 1; le 2 ms: 2; le 64 ms: 64; le 128 ms: all.
        assert_eq!(d.cumulative[0], 1);
        assert_eq!(d.cumulative[1], 2);
        assert_eq!(d.cumulative[6], 64);
        assert_eq!(d.cumulative[7], 100);
        assert_eq!(Distribution::of(&histogram()).cumulative.len(), 17);
    }

    #[test]
    fn gaps_are_between_requests_to_one_host() {
        let traffic = Traffic::default();
        let a = traffic.host(&key("a.example"));
        a.sent();
        std::thread::sleep(Duration::from_millis(20));
        a.sent();
        traffic.host(&key("b.example")).sent();
        let snap = traffic.snapshot();
        let a = snap.hosts.iter().find(|h| h.host.contains("a.example"));
        let gaps = &a.expect("host a").gaps;
        assert_eq!(gaps.count, 1);
        assert!(gaps.min >= 0.019, "{gaps:?}");
        let b = snap.hosts.iter().find(|h| h.host.contains("b.example"));
        assert_eq!(b.expect("host b").gaps.count, 0);
    }
}
