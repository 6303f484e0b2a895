//! stderr: logs, and a live progress line when stderr is a terminal.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crawlbox_crawl::CrawlProgress;
use crawlbox_net::{Client, Session};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::output::PluginSink;

/// The progress bar currently on screen, if any: log lines are printed above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Logs to stderr, filtered by `filter` (RUST_LOG syntax; the RUST_LOG
/// variable wins when set).
pub fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(filter),
    }
    .map_err(|e| anyhow::anyhow!("invalid --log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Console)
        .with_ansi(io::stderr().is_terminal())
        .without_time()
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

struct Console;

impl<'a> MakeWriter<'a> for Console {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// One log event, written whole when dropped (above the progress bar).
struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let write = || {
            let _ = io::stderr().write_all(&self.0);
        };
        match BAR.lock().ok().and_then(|bar| bar.clone()) {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// The live progress line. Dropping it clears the line.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts a progress line over `runs` (and a crawl's pages, from
    /// `crawl`) when stderr is a terminal and `quiet` is off.
    pub fn start(
        quiet: bool,
        label: &str,
        runs: Vec<(Session, Arc<PluginSink>)>,
        client: &Client,
        crawl: Option<Arc<CrawlProgress>>,
    ) -> Option<Progress> {
        if quiet || !io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
                .expect("valid template"),
        );
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        *BAR.lock().expect("bar lock") = Some(bar.clone());
        let (client, shown) = (client.clone(), bar.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let (mut finished, mut errors, mut in_flight, mut records) = (0, 0, 0, 0);
                for (session, sink) in &runs {
                    let s = session.stats().snapshot();
                    finished += s.finished();
                    errors += s.error_count();
                    in_flight += s.in_flight;
                    records += sink.records();
                }
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let rate = finished as f64 / secs;
                let pages = crawl.as_ref().map_or_else(String::new, |crawl| {
                    let queued = crawl
                        .queued()
                        .map_or_else(String::new, |q| format!(", {q} queued"));
                    format!(
                        "{} pages ({:.0}/s{queued}) · ",
                        crawl.pages(),
                        crawl.pages() as f64 / secs
                    )
                });
                shown.set_message(format!(
                    "{pages}{finished} requests ({rate:.0}/s) · {records} records · {errors} errors · \
                     {in_flight} in flight · {} connections",
                    client.connections_open(),
                ));
            }
        });
        Some(Progress { bar, task })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        self.bar.finish_and_clear();
        if let Ok(mut bar) = BAR.lock() {
            *bar = None;
        }
    }
}
