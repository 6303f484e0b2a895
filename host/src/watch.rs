//! What a running command shows as it goes: its runs (their sessions and
//! record sinks), a crawl's progress, and how the runs that ended ended.
//! The metrics endpoint reads it at every scrape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crawlbox_crawl::CrawlProgress;
use crawlbox_net::Session;
use crawlbox_runtime::Outcome;

use crate::output::PluginSink;

/// The runs of one command. See the [module docs](self).
#[derive(Default)]
pub struct Watch {
    runs: Mutex<Vec<(Session, Arc<PluginSink>)>>,
    crawl: Mutex<Option<Arc<CrawlProgress>>>,
    ended: Mutex<BTreeMap<&'static str, u64>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("figures", &self.figures())
            .finish()
    }
}

/// The figures of [`Watch`] at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Requests in flight, over every run.
    pub in_flight: u64,
    /// Records written, over every run.
    pub records: u64,
    /// Pages the host extracted from, those that failed, and the seconds
    /// its threads spent on them.
    pub extracted: u64,
    pub extract_failures: u64,
    pub extract_seconds: f64,
    /// Runs started and not ended.
    pub running: u64,
    /// Runs ended, by outcome (`completed`, `cpu-limit`, ...).
    pub ended: BTreeMap<&'static str, u64>,
    /// A crawl's pages, failed pages, items, and pages queued (if known).
    pub crawl: Option<CrawlFigures>,
}

/// A crawl's figures as it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrawlFigures {
    pub pages: u64,
    pub failed_pages: u64,
    pub items: u64,
    pub queued: Option<u64>,
}

impl Watch {
    /// A run starts on `session`, writing into `sink`.
    pub fn run_started(&self, session: Session, sink: Arc<PluginSink>) {
        self.runs.lock().expect("watch lock").push((session, sink));
    }

    /// The command's crawl counts its pages into `progress`.
    pub fn crawl(&self, progress: Arc<CrawlProgress>) {
        *self.crawl.lock().expect("watch lock") = Some(progress);
    }

    /// A run ended with `outcome`.
    pub fn run_ended(&self, outcome: &Outcome) {
        *self
            .ended
            .lock()
            .expect("watch lock")
            .entry(outcome.kind())
            .or_default() += 1;
    }

    /// Reads every figure.
    pub fn figures(&self) -> Figures {
        let mut figures = Figures::default();
        let runs = self.runs.lock().expect("watch lock");
        for (session, sink) in runs.iter() {
            let s = session.stats().snapshot();
            figures.in_flight += s.in_flight;
            figures.records += sink.records();
            figures.extracted += s.extracted;
            figures.extract_failures += s.extract_failures;
            figures.extract_seconds += s.extract_time.as_secs_f64();
        }
        figures.ended = self.ended.lock().expect("watch lock").clone();
        let ended: u64 = figures.ended.values().sum();
        figures.running = (runs.len() as u64).saturating_sub(ended);
        figures.crawl = self
            .crawl
            .lock()
            .expect("watch lock")
            .as_ref()
            .map(|p| CrawlFigures {
                pages: p.pages(),
                failed_pages: p.failed_pages(),
                items: p.items(),
                queued: p.queued(),
            });
        figures
    }
}
