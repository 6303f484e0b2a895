//! Records as JSON Lines, to stdout, a file or one file per plugin, flushed
//! record by record.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use crawlbox_runtime::RecordSink;

/// One output stream (stdout or a file), shared by the plugins writing to it.
pub struct Output {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
}

impl Output {
    /// To `path`, or to stdout when `None`.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Arc<Self>> {
        let out: Box<dyn Write + Send> = match path {
            Some(path) => Box::new(
                File::create(path)
                    .with_context(|| format!("cannot create the output file {}", path.display()))?,
            ),
            None => Box::new(io::stdout()),
        };
        Ok(Arc::new(Self {
            out: Mutex::new(BufWriter::with_capacity(64 * 1024, out)),
        }))
    }

    /// Appends to `path` (a crawl's output is never rewritten). A last line
    /// torn by a crash is cut off; returns the output and its complete lines.
    pub fn append(path: &Path) -> anyhow::Result<(Arc<Self>, u64)> {
        let (lines, valid) = match std::fs::read(path) {
            Ok(bytes) => {
                let valid = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let lines = bytes[..valid].iter().filter(|&&b| b == b'\n').count();
                (lines as u64, valid as u64)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, 0),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the output file {}", path.display()));
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the output file {}", path.display()))?;
        file.set_len(valid)
            .with_context(|| format!("cannot repair the output file {}", path.display()))?;
        let out = Arc::new(Self {
            out: Mutex::new(BufWriter::with_capacity(64 * 1024, Box::new(file))),
        });
        Ok((out, lines))
    }

    /// Writes `parts` as one line and flushes it.
    fn write_line(&self, parts: &[&str]) -> io::Result<()> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        for part in parts {
            out.write_all(part.as_bytes())?;
        }
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// One plugin's records: written to an [`Output`], flushed before the
/// plugin goes on (so a crash, a limit or Ctrl-C loses nothing already
/// emitted), and wrapped as `{"plugin": NAME, "record": …}` when several
/// plugins share the output.
pub struct PluginSink {
    out: Arc<Output>,
    /// `{"plugin":"NAME","record":` when tagging.
    prefix: Option<String>,
    records: AtomicU64,
}

impl PluginSink {
    pub fn new(out: Arc<Output>, tag: Option<&str>) -> Arc<Self> {
        let prefix =
            tag.map(|name| format!("{{\"plugin\":{},\"record\":", serde_json::Value::from(name)));
        Arc::new(Self {
            out,
            prefix,
            records: AtomicU64::new(0),
        })
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

impl RecordSink for PluginSink {
    fn write(&self, _plugin: &str, record: &str) -> io::Result<()> {
        match &self.prefix {
            Some(prefix) => self.out.write_line(&[prefix, record, "}"])?,
            None => self.out.write_line(&[record])?,
        }
        self.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
