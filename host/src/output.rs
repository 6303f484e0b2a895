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

/// Whether `record` can be wrapped as `{"plugin": NAME, "record": RECORD}`
/// and still mean that: one JSON value, on one line. Every way a record
/// reaches a sink checks this already (`emit`, a command's stdout lines,
/// spider items, all through the runtime's `record_line`); the wrapper
/// checks it again, since a record that were not one value (`1,"plugin":
/// "good"`) would make a line that JSON parsers attribute to another
/// plugin (the last duplicate key wins).
fn wraps_cleanly(record: &str) -> bool {
    !record.contains(['\n', '\r']) && serde_json::from_str::<serde::de::IgnoredAny>(record).is_ok()
}

impl RecordSink for PluginSink {
    fn write(&self, _plugin: &str, record: &str) -> io::Result<()> {
        match &self.prefix {
            Some(prefix) => {
                if !wraps_cleanly(record) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a record that is not one JSON value on one line reached the output \
                         (a crawlbox bug): it was not written",
                    ));
                }
                self.out.write_line(&[prefix, record, "}"])?
            }
            None => self.out.write_line(&[record])?,
        }
        self.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_record_always_belongs_to_its_plugin() {
        for record in [
            r#"{"a":1}"#,
            "[1, 2]",
            "\"s\"",
            "  7  ",
            r#"{"plugin":"good"}"#,
        ] {
            assert!(wraps_cleanly(record), "{record}");
            let line = format!("{{\"plugin\":\"hostile\",\"record\":{record}}}");
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value["plugin"], "hostile", "{line}");
            assert_eq!(value.as_object().unwrap().len(), 2, "{line}");
        }
        for forged in [
            r#"1,"plugin":"good""#,
            r#"1} {"plugin":"good","record":1"#,
            "{\"a\":1}\n{\"b\":2}",
            "[1,\r2]",
            "",
        ] {
            assert!(!wraps_cleanly(forged), "{forged}");
        }
    }
}
