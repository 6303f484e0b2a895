//! Where a plugin's output goes: records to a [`RecordSink`], stdout and
//! stderr to the log.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Receives a run's records. Each record is one value of compact JSON with
/// no newline in it: one line of JSON Lines.
pub trait RecordSink: Send + Sync + 'static {
    /// Writes one record of `plugin`. Implementations should make the record
    /// durable (flush) before returning, so nothing emitted is lost if the
    /// run is cut short. An error ends the run.
    fn write(&self, plugin: &str, record: &str) -> io::Result<()>;
}

/// Longest line logged from a guest's stdout or stderr; longer ones are split.
const MAX_LINE: usize = 4096;

/// A guest's stdout or stderr, split into lines, up to a budget of bytes;
/// beyond it output is discarded, with one warning. Lines go to the log
/// (target `plugin`), or, for a command's stdout, to the record sink.
#[derive(Clone)]
pub(crate) struct GuestLog {
    state: Arc<Mutex<LineState>>,
}

struct LineState {
    plugin: Arc<str>,
    stream: &'static str,
    line: Vec<u8>,
    written: u64,
    budget: u64,
    records: Option<Records>,
}

/// Where a command's stdout lines go.
pub(crate) struct Records {
    pub(crate) sink: Arc<dyn RecordSink>,
    /// Lines written, shared with the run's report.
    pub(crate) count: Arc<AtomicU64>,
    pub(crate) max: Option<u64>,
    /// The first write error, which ends the run as output-failed.
    pub(crate) failed: Arc<Mutex<Option<String>>>,
}

impl GuestLog {
    /// Lines of `stream` to the log, up to `budget` bytes.
    pub(crate) fn new(plugin: Arc<str>, stream: &'static str, budget: u64) -> Self {
        Self::with_target(plugin, stream, budget, None)
    }

    /// Lines of stdout to `records`, up to `budget` bytes.
    pub(crate) fn records(plugin: Arc<str>, budget: u64, records: Records) -> Self {
        Self::with_target(plugin, "stdout", budget, Some(records))
    }

    fn with_target(
        plugin: Arc<str>,
        stream: &'static str,
        budget: u64,
        records: Option<Records>,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(LineState {
                plugin,
                stream,
                line: Vec::new(),
                written: 0,
                budget,
                records,
            })),
        }
    }
}

impl LineState {
    fn write(&mut self, buf: &[u8]) {
        let before = self.written;
        self.written = self.written.saturating_add(buf.len() as u64);
        if before >= self.budget {
            return;
        }
        let allowed = usize::try_from(self.budget - before).unwrap_or(usize::MAX);
        let buf = &buf[..buf.len().min(allowed)];
        for &byte in buf {
            if byte == b'\n' {
                self.flush_line();
            } else {
                self.line.push(byte);
                if self.line.len() >= MAX_LINE {
                    self.flush_line();
                }
            }
        }
        if self.written >= self.budget {
            self.flush_line();
            tracing::warn!(
                target: "plugin",
                plugin = &*self.plugin,
                "{} exceeded its limit of {} bytes; further output is discarded",
                self.stream,
                self.budget
            );
        }
    }

    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let line = text.trim_end_matches('\r');
        match &self.records {
            None => {
                tracing::info!(target: "plugin", plugin = &*self.plugin, stream = self.stream, "{line}");
            }
            Some(records) => {
                let full = records
                    .max
                    .is_some_and(|max| records.count.load(Ordering::Relaxed) >= max);
                if !full {
                    match records.sink.write(&self.plugin, line) {
                        Ok(()) => {
                            records.count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let mut failed = records.failed.lock().expect("failed lock");
                            failed.get_or_insert_with(|| format!("writing a record failed: {e}"));
                        }
                    }
                }
            }
        }
        self.line.clear();
    }
}

impl Drop for LineState {
    fn drop(&mut self) {
        self.flush_line();
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.state.lock().expect("guest log lock").write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
