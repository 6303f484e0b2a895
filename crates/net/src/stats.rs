use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::ErrorKind;

/// Counters of one [`Session`](crate::Session): what a run did on the network.
///
/// Updated as requests go; [`Stats::snapshot`] reads them at any time (the
/// progress line does, several times a second).
#[derive(Debug)]
pub struct Stats {
    requests: AtomicU64,
    retries: AtomicU64,
    in_flight: AtomicU64,
    bytes: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    responses: Mutex<BTreeMap<u16, u64>>,
    /// Responses to the host's own robots.txt fetches (in `responses` too).
    robots: AtomicU64,
    /// Time to the end of the response body, in microseconds.
    latency: Mutex<Histogram<u64>>,
    /// Pages the host extracted from, those that failed, and the time
    /// its extraction threads spent on them (ns).
    extracted: AtomicU64,
    extract_failed: AtomicU64,
    extract_ns: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: Default::default(),
            responses: Mutex::new(BTreeMap::new()),
            robots: AtomicU64::new(0),
            extracted: AtomicU64::new(0),
            extract_failed: AtomicU64::new(0),
            extract_ns: AtomicU64::new(0),
            // 1 µs to 1 hour at 3 significant digits; larger values saturate.
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            ),
        }
    }
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests sent (each redirect hop and each retry counts).
    pub requests: u64,
    /// Requests sent again after a retryable failure (counted in `requests` too).
    pub retries: u64,
    /// Requests sent whose response body has not ended yet.
    pub in_flight: u64,
    /// Responses received, by status code.
    pub responses: BTreeMap<u16, u64>,
    /// Of those, responses to robots.txt fetches the host made itself.
    pub robots_responses: u64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Failed requests, by kind. Kinds with no failures are left out.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Latency of completed responses.
    pub latency: LatencySummary,
    /// Pages the host extracted from for the plugin (requests with an
    /// extraction, and `html.parse` calls).
    pub extracted: u64,
    /// Of those, the ones whose extraction failed (too large, timed out,
    /// not HTML).
    pub extract_failures: u64,
    /// Time the host's extraction threads spent on them, charged to the
    /// plugin's CPU budget.
    pub extract_time: Duration,
}

impl StatsSnapshot {
    /// Responses plus errors: requests that have finished one way or another.
    pub fn finished(&self) -> u64 {
        self.responses.values().sum::<u64>() + self.error_count()
    }

    /// All errors, of any kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Whether the run asked for something and every request failed: not
    /// one response (of any status) came back but the robots.txt ones.
    pub fn nothing_fetched(&self) -> bool {
        self.error_count() > 0 && self.responses.values().sum::<u64>() <= self.robots_responses
    }
}

/// Latency percentiles, from sending a request to the end of its body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Responses measured.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Stats {
    /// Counts a request about to be sent, unless `budget` requests were
    /// already sent; returns whether it may go.
    pub(crate) fn try_start_request(&self, budget: Option<u64>) -> bool {
        let counted = self
            .requests
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                budget.is_none_or(|max| n < max).then_some(n + 1)
            })
            .is_ok();
        if counted {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        counted
    }

    /// Counts a page extracted (or not) in `took`.
    pub(crate) fn extracted(&self, ok: bool, took: Duration) {
        self.extracted.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.extract_failed.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.extract_ns.fetch_add(ns, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn robots_response(&self) {
        self.robots.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn response(&self, status: u16) {
        *self
            .responses
            .lock()
            .expect("stats lock")
            .entry(status)
            .or_default() += 1;
    }

    pub(crate) fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn latency(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency
            .lock()
            .expect("stats lock")
            .saturating_record(micros.max(1));
    }

    /// Counts a failed request. The client counts its own failures; callers
    /// use this for requests they refuse before reaching it.
    pub fn record_error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let errors = ErrorKind::ALL
            .iter()
            .filter_map(|&kind| {
                let n = self.errors[kind.index()].load(Ordering::Relaxed);
                (n > 0).then_some((kind, n))
            })
            .collect();
        let latency = {
            let h = self.latency.lock().expect("stats lock");
            let at = |q: f64| Duration::from_micros(h.value_at_quantile(q));
            LatencySummary {
                count: h.len(),
                p50: at(0.50),
                p95: at(0.95),
                p99: at(0.99),
                max: Duration::from_micros(h.max()),
            }
        };
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            robots_responses: self.robots.load(Ordering::Relaxed),
            responses: self.responses.lock().expect("stats lock").clone(),
            bytes: self.bytes.load(Ordering::Relaxed),
            extracted: self.extracted.load(Ordering::Relaxed),
            extract_failures: self.extract_failed.load(Ordering::Relaxed),
            extract_time: Duration::from_nanos(self.extract_ns.load(Ordering::Relaxed)),
            errors,
            latency,
        }
    }
}
