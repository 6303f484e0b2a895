//! Records as JSON Lines, to stdout or a file, flushed record by record.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use crawlbox_runtime::RecordSink;

/// Writes each record as one line and flushes it before the plugin goes on,
/// so a crash, a limit or Ctrl-C loses nothing already emitted.
pub struct JsonLines {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
    records: AtomicU64,
}

impl JsonLines {
    /// To `path`, or to stdout when `None`.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let out: Box<dyn Write + Send> = match path {
            Some(path) => Box::new(
                File::create(path)
                    .with_context(|| format!("cannot create the output file {}", path.display()))?,
            ),
            None => Box::new(io::stdout()),
        };
        Ok(Self {
            out: Mutex::new(BufWriter::with_capacity(64 * 1024, out)),
            records: AtomicU64::new(0),
        })
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

impl RecordSink for JsonLines {
    fn write(&self, _plugin: &str, record: &str) -> io::Result<()> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        out.write_all(record.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        self.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
