//! What the instances of one run share, so that the run's limits hold
//! however many instances serve it (a crawl parses on several spider
//! instances at once, on threads of their own): the records written and
//! their bytes, the CPU time used, and the log budget.
//!
//! Memory and tables are each instance's own: every instance may grow to
//! [`Limits::memory`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::output::{PluginLog, escape_untrusted};
use crate::{Limits, RunSpec};

/// A run's shared budgets. Cheap to clone: clones share them.
#[derive(Clone)]
pub(crate) struct RunShared {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    written: Mutex<Written>,
    cpu_ticks: AtomicU64,
    /// Host CPU time done for the plugin (HTML extraction), in ns.
    host_cpu_ns: AtomicU64,
    log: PluginLog,
}

/// A record limit that would be passed, with its value.
enum Over {
    Records(u64),
    Bytes(u64),
}

#[derive(Default)]
struct Written {
    records: u64,
    bytes: u64,
}

impl RunShared {
    pub(crate) fn new(spec: &RunSpec) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: spec.limits.clone(),
                written: Mutex::new(Written::default()),
                cpu_ticks: AtomicU64::new(0),
                host_cpu_ns: AtomicU64::new(0),
                // One log budget for stdout, stderr and host.log together.
                log: PluginLog::new(spec.plugin.name.clone(), spec.limits.log_bytes),
            }),
        }
    }

    /// The run's log.
    pub(crate) fn log(&self) -> &PluginLog {
        &self.inner.log
    }

    /// Records written so far (items and `emit`s).
    pub(crate) fn records(&self) -> u64 {
        self.written().records
    }

    fn written(&self) -> std::sync::MutexGuard<'_, Written> {
        // A panic while holding it leaves plain counters behind.
        self.inner
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The run's limits, as given: the one copy every instance reads.
    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// `host.emit`: refuses a record of `len` bytes past the run's limits
    /// (the guest gets the message); `write` validates and writes it (and
    /// says how many bytes it wrote), all under one lock so that instances
    /// emitting at once stay within the limits.
    pub(crate) fn emit<E>(
        &self,
        len: u64,
        write: impl FnOnce() -> Result<Result<u64, String>, E>,
    ) -> Result<Result<(), String>, E> {
        let mut written = self.written();
        match self.over(&written, len) {
            Some(Over::Records(max)) => {
                return Ok(Err(format!("the run's limit of {max} records is reached")));
            }
            Some(Over::Bytes(max)) => {
                return Ok(Err(format!(
                    "the run's limit of {max} bytes of records is reached"
                )));
            }
            None => {}
        }
        match write()? {
            Ok(bytes) => {
                written.records += 1;
                written.bytes += bytes;
                Ok(Ok(()))
            }
            Err(why) => Ok(Err(why)),
        }
    }

    /// Keeps the items of the page at `url` that fit in the run's record
    /// limits and charges them; `Some(why)` when some did not fit.
    pub(crate) fn fit_items(&self, url: &str, items: &mut Vec<String>) -> Option<String> {
        let mut written = self.written();
        let mut fit = 0;
        let mut why = None;
        for item in items.iter() {
            let bytes = item.len() as u64;
            if let Some(over) = self.over(&written, bytes) {
                why = Some(match over {
                    Over::Records(max) => format!(
                        "the crawl reached its limit of {max} records (--max-records, \
                         limits.max_records)"
                    ),
                    Over::Bytes(max) => format!(
                        "the crawl reached its limit of {max} bytes of records (--max-output, \
                         limits.max_output)"
                    ),
                });
                break;
            }
            written.records += 1;
            written.bytes += bytes;
            fit += 1;
        }
        let dropped = items.len() - fit;
        items.truncate(fit);
        why.map(|why| {
            format!(
                "{why}: it stopped at {}, whose last {dropped} items were dropped",
                escape_untrusted(url)
            )
        })
    }

    /// Which record limit one more record of `bytes` would pass, if any.
    fn over(&self, written: &Written, bytes: u64) -> Option<Over> {
        let limits = &self.inner.limits;
        if let Some(max) = limits.max_records
            && written.records >= max
        {
            return Some(Over::Records(max));
        }
        match limits.max_output_bytes {
            Some(max) if written.bytes.saturating_add(bytes) > max => Some(Over::Bytes(max)),
            _ => None,
        }
    }

    /// Charges one epoch tick of CPU time; the run's total, in ticks, host
    /// work done for the plugin included.
    pub(crate) fn charge_cpu_tick(&self) -> u64 {
        let ticks = self.inner.cpu_ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let tick_ns = u64::try_from(crate::engine::EPOCH_TICK.as_nanos()).unwrap_or(u64::MAX);
        ticks + self.inner.host_cpu_ns.load(Ordering::Relaxed) / tick_ns.max(1)
    }

    /// Charges host CPU time spent for the plugin (parsing its pages) to the
    /// run's CPU budget, which the next epoch tick checks.
    pub(crate) fn charge_host_cpu(&self, spent: std::time::Duration) {
        let ns = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        if ns > 0 {
            self.inner.host_cpu_ns.fetch_add(ns, Ordering::Relaxed);
        }
    }
}
