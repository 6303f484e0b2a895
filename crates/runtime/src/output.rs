//! Where a plugin's output goes: records to a [`RecordSink`], stdout and
//! stderr to the log.
//!
//! Everything a plugin can put on the host's stderr (its stdout and stderr
//! lines, `host.log` messages, the error messages it returns or traps with)
//! is the plugin's text, not the host's: it goes through
//! [`escape_untrusted`] first, so that a plugin cannot end a line, move the
//! cursor or recolour the terminal, and so cannot print a line that reads
//! like the host's own (`crawlbox: good completed in 0.01s`). And all of it
//! that goes to the log shares one budget of bytes ([`PluginLog`]), so a
//! plugin cannot flood the host's stderr either.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::state::record_line;
/// Receives a run's records. Each record is one value of compact JSON with
/// no newline in it: one line of JSON Lines.
pub trait RecordSink: Send + Sync + 'static {
    /// Writes one record of `plugin`. Implementations should make the record
    /// durable (flush) before returning, so nothing emitted is lost if the
    /// run is cut short. An error ends the run.
    fn write(&self, plugin: &str, record: &str) -> io::Result<()>;
}

/// Whether `c` must not reach a terminal as it is: control characters (C0,
/// including tab, newline, carriage return and ESC; DEL; C1, including the
/// 8-bit CSI), the Unicode line and paragraph separators, and the
/// bidirectional controls that reorder what a line shows ("Trojan Source").
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `text` holds a character [`escape_untrusted`] would escape.
pub fn has_control_characters(text: &str) -> bool {
    text.chars().any(needs_escape)
}

/// Text from a plugin, made safe to print on the host's stderr: `\n`, `\r`
/// and `\t` become those two-character escapes, every other character that
/// could end a line or drive the terminal (see above) becomes `\u{XX}`.
/// Text with none of them is returned as it is (no copy). Backslashes are
/// left alone: a plugin printing a literal `\n` forges nothing, since it
/// cannot start a new line with it.
///
/// Use it for every string a guest chose that reaches stderr: log lines,
/// error messages it returned, trap messages (which carry the guest's own
/// function names), URLs it asked for.
pub fn escape_untrusted(text: &str) -> Cow<'_, str> {
    if !has_control_characters(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    escape_into(&mut out, text, usize::MAX);
    Cow::Owned(out)
}

/// Appends `text` escaped (as [`escape_untrusted`]) to `out`, at most `max`
/// bytes of it; returns whether all of `text` fit. Never splits an escape.
fn escape_into(out: &mut String, text: &str, max: usize) -> bool {
    let start = out.len();
    let mut escape = String::new();
    for c in text.chars() {
        let piece: &str = if needs_escape(c) {
            escape.clear();
            match c {
                '\n' => escape.push_str("\\n"),
                '\r' => escape.push_str("\\r"),
                '\t' => escape.push_str("\\t"),
                c => {
                    let _ = write!(escape, "\\u{{{:x}}}", u32::from(c));
                }
            }
            &escape
        } else {
            let len = c.len_utf8();
            if out.len() - start + len > max {
                return false;
            }
            out.push(c);
            continue;
        };
        if out.len() - start + piece.len() > max {
            return false;
        }
        out.push_str(piece);
    }
    true
}

/// Bytes every logged line or message costs on top of its (escaped) text:
/// about what the log adds around it (level, target, the plugin's name), so
/// that a flood of empty messages is bounded too.
pub(crate) const LINE_COST: u64 = 32;

/// Longest line logged from a guest's stdout or stderr; longer ones are split.
const MAX_LINE: usize = 4096;

/// Longest stdout line of a command that can be a record. A command's
/// record is a line, so the host holds a line until its newline comes: this
/// bounds that memory (outside the plugin's memory limit). A longer line is
/// not a record: it is cut off, counted and logged (as far as the log's
/// budget allows), and the rest of it discarded up to the next newline.
pub const MAX_RECORD_LINE: usize = 16 << 20;

/// How loud a plugin's log message is (the WIT `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Emits one event of target `plugin` at a [`Severity`] known only at run
/// time (tracing's macros want a constant level).
macro_rules! plugin_event {
    ($severity:expr, $($rest:tt)+) => {
        match $severity {
            Severity::Trace => tracing::trace!(target: "plugin", $($rest)+),
            Severity::Debug => tracing::debug!(target: "plugin", $($rest)+),
            Severity::Info => tracing::info!(target: "plugin", $($rest)+),
            Severity::Warn => tracing::warn!(target: "plugin", $($rest)+),
            Severity::Error => tracing::error!(target: "plugin", $($rest)+),
        }
    };
}

/// Whether the log filter lets events of target `plugin` at `severity`
/// through: filtered-out messages cost the plugin nothing.
fn enabled(severity: Severity) -> bool {
    match severity {
        Severity::Trace => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
        Severity::Debug => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
        Severity::Info => tracing::enabled!(target: "plugin", tracing::Level::INFO),
        Severity::Warn => tracing::enabled!(target: "plugin", tracing::Level::WARN),
        Severity::Error => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
    }
}

/// One plugin run's log: everything the plugin writes to the host's log
/// (its stdout and stderr lines, its `host.log` messages, a command's
/// stdout lines that are not records) shares one budget of bytes
/// ([`Limits::log_bytes`](crate::Limits::log_bytes)). Each line costs its
/// escaped text plus [`LINE_COST`]; the line that does not fit is cut to what
/// is left, and past the budget everything is discarded, with one warning.
/// Cheap to clone: clones share the budget.
#[derive(Clone)]
pub(crate) struct PluginLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    plugin: Arc<str>,
    budget: u64,
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    used: u64,
    warned: bool,
}

impl PluginLog {
    /// The log of `plugin`, with a budget of `budget` bytes.
    pub(crate) fn new(plugin: Arc<str>, budget: u64) -> Self {
        Self {
            inner: Arc::new(LogInner {
                plugin,
                budget,
                state: Mutex::new(LogState::default()),
            }),
        }
    }

    /// The plugin's name.
    pub(crate) fn plugin(&self) -> &Arc<str> {
        &self.inner.plugin
    }

    /// Whether the budget is spent: output can be dropped unseen.
    pub(crate) fn is_spent(&self) -> bool {
        let state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        state.used >= self.inner.budget
    }

    /// A `host.log` message.
    pub(crate) fn message(&self, severity: Severity, text: &str) {
        self.write(severity, None, text);
    }

    /// A line of the plugin's `stream` (stdout or stderr), at info level.
    pub(crate) fn line(&self, stream: &'static str, text: &str) {
        self.write(Severity::Info, Some(stream), text);
    }

    fn write(&self, severity: Severity, stream: Option<&'static str>, text: &str) {
        if !enabled(severity) {
            return;
        }
        let plugin = &*self.inner.plugin;
        let source = stream.unwrap_or("host.log");
        let mut escaped = String::new();
        {
            let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            let left = self.inner.budget.saturating_sub(state.used);
            if left == 0 {
                return;
            }
            // Escaping at most what is left: a huge message is never copied whole.
            let room = usize::try_from(left.saturating_sub(LINE_COST)).unwrap_or(usize::MAX);
            let whole = escape_into(&mut escaped, text, room);
            state.used = if whole {
                state
                    .used
                    .saturating_add(escaped.len() as u64 + LINE_COST)
                    .min(self.inner.budget)
            } else {
                self.inner.budget
            };
            let spent = state.used >= self.inner.budget && !state.warned;
            if spent {
                state.warned = true;
            }
            drop(state);
            if !escaped.is_empty() || whole {
                match stream {
                    Some(stream) => plugin_event!(severity, plugin, stream, "{escaped}"),
                    None => plugin_event!(severity, plugin, "{escaped}"),
                }
            }
            if spent {
                tracing::warn!(
                    target: "plugin",
                    plugin,
                    "{source} exceeded its limit of {} bytes of log output (stdout, stderr and \
                     host.log messages share it: --max-log-output, limits.max_log_output); \
                     further output is discarded",
                    self.inner.budget
                );
            }
        }
    }
}

/// A guest's stdout or stderr, split into lines. Lines go to the
/// [`PluginLog`], or, for a command's stdout, to the record sink.
#[derive(Clone)]
pub(crate) struct GuestLog {
    state: Arc<Mutex<LineState>>,
}

struct LineState {
    stream: &'static str,
    line: Vec<u8>,
    /// The line went past its longest length: the rest of it, up to the next
    /// newline, is discarded.
    overlong: bool,
    log: PluginLog,
    records: Option<RecordLines>,
}

/// A command's stdout as records: one JSON value a line.
struct RecordLines {
    records: Records,
    /// Bytes written to stdout, against `budget` (the run's record bytes).
    written: u64,
    budget: u64,
    /// Lines that were not one JSON value, and so not records.
    invalid: u64,
    /// Lines dropped past the record-count limit.
    over_limit: u64,
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
    /// Lines of `stream` to `log`.
    pub(crate) fn new(log: &PluginLog, stream: &'static str) -> Self {
        Self::with_target(log, stream, None)
    }

    /// Lines of stdout to `records`, up to `budget` bytes of stdout; lines
    /// that are not records go to `log`.
    pub(crate) fn records(log: &PluginLog, budget: u64, records: Records) -> Self {
        let lines = RecordLines {
            records,
            written: 0,
            budget,
            invalid: 0,
            over_limit: 0,
        };
        Self::with_target(log, "stdout", Some(lines))
    }

    fn with_target(log: &PluginLog, stream: &'static str, records: Option<RecordLines>) -> Self {
        Self {
            state: Arc::new(Mutex::new(LineState {
                stream,
                line: Vec::new(),
                overlong: false,
                log: log.clone(),
                records,
            })),
        }
    }
}

impl LineState {
    fn write(&mut self, buf: &[u8]) {
        let buf = match &mut self.records {
            Some(lines) => {
                let before = lines.written;
                lines.written = lines.written.saturating_add(buf.len() as u64);
                if before >= lines.budget {
                    return;
                }
                let allowed = usize::try_from(lines.budget - before).unwrap_or(usize::MAX);
                let cut = &buf[..buf.len().min(allowed)];
                if lines.written >= lines.budget {
                    tracing::warn!(
                        target: "plugin",
                        plugin = &**self.log.plugin(),
                        "stdout exceeded the run's limit of {} bytes of records \
                         (--max-output, limits.max_output); further output is discarded",
                        lines.budget
                    );
                }
                cut
            }
            // Nothing more can be logged: do not even split it into lines.
            None if self.log.is_spent() => return,
            None => buf,
        };
        let max_line = if self.records.is_some() {
            MAX_RECORD_LINE
        } else {
            MAX_LINE
        };
        let mut rest = buf;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    self.push(&rest[..newline], max_line);
                    self.flush_line();
                    self.overlong = false;
                    rest = &rest[newline + 1..];
                }
                None => {
                    self.push(rest, max_line);
                    rest = &[];
                }
            }
        }
        if self.records.as_ref().is_some_and(|l| l.written >= l.budget) {
            self.flush_line();
        }
    }

    /// Adds bytes of the current line, up to `max_line`: a log line past it
    /// is split, a record line past it is not a record.
    fn push(&mut self, mut bytes: &[u8], max_line: usize) {
        while !bytes.is_empty() {
            if self.overlong {
                return;
            }
            let room = max_line - self.line.len();
            let take = bytes.len().min(room);
            self.line.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.line.len() >= max_line {
                if self.records.is_some() {
                    self.overlong = true;
                }
                self.flush_line();
            }
        }
    }

    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let line = text.trim_end_matches('\r');
        match &mut self.records {
            None => self.log.line(self.stream, line),
            Some(lines) => {
                if self.overlong {
                    lines.invalid += 1;
                    tracing::warn!(
                        target: "plugin",
                        plugin = &**self.log.plugin(),
                        "a stdout line longer than {MAX_RECORD_LINE} bytes is not a record: \
                         it is discarded up to its end"
                    );
                } else {
                    Self::record(&self.log, lines, line);
                }
            }
        }
        self.line.clear();
    }

    /// A command's stdout line: a record if it is one JSON value (validated
    /// and re-serialised as `emit` does, so that it can be wrapped as
    /// `{"plugin": NAME, "record": LINE}` without changing what the wrapper
    /// says), else the plugin's output, logged (escaped) and counted.
    fn record(log: &PluginLog, lines: &mut RecordLines, line: &str) {
        let records = &lines.records;
        // Blank lines separate records; they are none.
        if line.trim().is_empty() {
            return;
        }
        let json = match record_line(line.to_owned()) {
            Ok(json) => json,
            Err(why) => {
                lines.invalid += 1;
                if lines.invalid == 1 {
                    tracing::warn!(
                        target: "plugin",
                        plugin = &**log.plugin(),
                        "a stdout line is no record ({why}): a command's stdout line is a \
                         record only if it is one JSON value; such lines are logged as the \
                         plugin's output instead (this warning is shown once)"
                    );
                }
                log.line("stdout", line);
                return;
            }
        };
        if records
            .max
            .is_some_and(|max| records.count.load(Ordering::Relaxed) >= max)
        {
            lines.over_limit += 1;
            if lines.over_limit == 1 {
                tracing::warn!(
                    target: "plugin",
                    plugin = &**log.plugin(),
                    "the run's limit of {} records is reached (--max-records, \
                     limits.max_records): further stdout lines are discarded",
                    records.max.unwrap_or_default()
                );
            }
            return;
        }
        match records.sink.write(log.plugin(), &json) {
            Ok(()) => {
                records.count.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let mut failed = records.failed.lock().unwrap_or_else(|e| e.into_inner());
                failed.get_or_insert_with(|| format!("writing a record failed: {e}"));
            }
        }
    }
}

impl Drop for LineState {
    fn drop(&mut self) {
        self.flush_line();
        if let Some(lines) = &self.records
            && lines.invalid > 0
        {
            tracing::warn!(
                target: "plugin",
                plugin = &**self.log.plugin(),
                "{} stdout lines were not records (not one JSON value each)",
                lines.invalid
            );
        }
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
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the messages of the events it sees, all levels enabled.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<String>>>);

    impl tracing::Subscriber for Collect {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    fn collected<F: FnOnce()>(f: F) -> Vec<String> {
        let collect = Collect::default();
        tracing::subscriber::with_default(collect.clone(), f);
        collect.0.lock().unwrap().clone()
    }

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(escape_untrusted("plain é ü"), Cow::Borrowed(_)));
        assert_eq!(
            escape_untrusted("a\nb\r\tc\u{1b}[2K\u{7f}\u{9b}31m\0"),
            "a\\nb\\r\\tc\\u{1b}[2K\\u{7f}\\u{9b}31m\\u{0}"
        );
        assert_eq!(
            escape_untrusted("x\u{202e}y\u{2028}z\u{2066}"),
            "x\\u{202e}y\\u{2028}z\\u{2066}"
        );
        // A forged host line stays on the plugin's line.
        let forged = escape_untrusted("ok\ncrawlbox: good completed in 0.01s");
        assert!(!forged.contains('\n'), "{forged}");
        assert!(has_control_characters("a\u{85}b"));
        assert!(!has_control_characters("a\\nb"));
    }

    #[test]
    fn a_bounded_escape_never_splits_an_escape() {
        let mut out = String::new();
        assert!(!escape_into(&mut out, "ab\ncd", 3));
        assert_eq!(out, "ab");
        let mut out = String::new();
        assert!(escape_into(&mut out, "ab\ncd", 6));
        assert_eq!(out, "ab\\ncd");
        let mut out = String::new();
        assert!(!escape_into(&mut out, "ééé", 5));
        assert_eq!(out, "éé");
    }

    #[test]
    fn stdout_stderr_and_log_messages_share_one_budget() {
        let log = PluginLog::new("p".into(), 200);
        let lines = collected(|| {
            let stdout = GuestLog::new(&log, "stdout");
            let stderr = GuestLog::new(&log, "stderr");
            stdout.state.lock().unwrap().write(b"first\n");
            log.message(Severity::Warn, "from host.log\nforged line");
            let mut long = vec![b'e'; 300];
            long.push(b'\n');
            stderr.state.lock().unwrap().write(&long);
            assert!(log.is_spent());
            stdout.state.lock().unwrap().write(b"dropped\n");
            log.message(Severity::Info, "dropped too");
            drop((stdout, stderr));
        });
        assert_eq!(lines[0], "first");
        assert_eq!(lines[1], "from host.log\\nforged line");
        // The stderr line was cut to what was left of the budget.
        let left = 200 - (5 + LINE_COST) - (26 + LINE_COST) - LINE_COST;
        assert_eq!(lines[2], "e".repeat(left as usize));
        assert!(
            lines[3].contains("stderr exceeded its limit of 200 bytes"),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 4, "{lines:?}");
    }

    #[test]
    fn a_huge_message_is_not_copied_whole() {
        let log = PluginLog::new("p".into(), 1000);
        let lines = collected(|| log.message(Severity::Info, &"\n".repeat(10 << 20)));
        assert!(lines[0].len() <= 1000, "{}", lines[0].len());
        assert!(lines[1].contains("host.log exceeded"), "{lines:?}");
    }

    #[derive(Default)]
    struct Sink(Mutex<Vec<String>>);

    impl RecordSink for Sink {
        fn write(&self, _plugin: &str, record: &str) -> io::Result<()> {
            self.0.lock().unwrap().push(record.to_owned());
            Ok(())
        }
    }

    fn command_stdout(output: &[u8], max: Option<u64>) -> (Vec<String>, Vec<String>) {
        let sink = Arc::new(Sink::default());
        let log = PluginLog::new("cmd".into(), 1 << 20);
        let records = Records {
            sink: sink.clone(),
            count: Arc::new(AtomicU64::new(0)),
            max,
            failed: Arc::new(Mutex::new(None)),
        };
        let lines = collected(|| {
            let stdout = GuestLog::records(&log, u64::MAX, records);
            // In pieces, as a guest writes.
            for chunk in output.chunks(1000) {
                stdout.state.lock().unwrap().write(chunk);
            }
            drop(stdout);
        });
        let written = sink.0.lock().unwrap().clone();
        (written, lines)
    }

    #[test]
    fn a_command_line_is_a_record_only_if_it_is_one_json_value() {
        let long = format!("{{\"text\":\"{}\"}}", "x".repeat(10_000));
        let output = format!(
            "1,\"plugin\":\"good\"\n{{\"ok\":1}}\n[1,\r2]\n{{\"a\":1}}{{\"b\":2}}\n\
             \u{1b}[2Kcrawlbox: good completed in 0.01s\r\n  \n{long}\n\"x\"}}"
        );
        let (written, lines) = command_stdout(output.as_bytes(), None);
        assert_eq!(written, ["{\"ok\":1}", "[1,2]", &long]);
        let logged: Vec<&String> = lines.iter().filter(|l| !l.contains("not")).collect();
        assert_eq!(
            logged,
            [
                "1,\"plugin\":\"good\"",
                "{\"a\":1}{\"b\":2}",
                "\\u{1b}[2Kcrawlbox: good completed in 0.01s",
                "\"x\"}"
            ],
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("4 stdout lines were not records")),
            "{lines:?}"
        );
    }

    #[test]
    fn an_endless_command_line_is_not_held_whole() {
        let mut output = vec![b'['; MAX_RECORD_LINE + 10];
        output.extend_from_slice(b"\n{\"after\":true}\n");
        let (written, lines) = command_stdout(&output, None);
        assert_eq!(written, ["{\"after\":true}"]);
        assert!(
            lines.iter().any(|l| l.contains("is not a record")),
            "{lines:?}"
        );
    }

    #[test]
    fn command_records_stop_at_the_record_limit() {
        let (written, lines) = command_stdout(b"1\n2\n3\n4\n", Some(2));
        assert_eq!(written, ["1", "2"]);
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("limit of 2 records"))
                .count(),
            1
        );
    }
}
