//! Writes a gigabyte to stdout. Expected: the host logs the first bytes,
//! discards the rest, and the run completes.
use std::io::Write;

use crawlbox_guest::{Plugin, Result, emit};
use serde_json::json;

struct StdoutFlood;

impl Plugin for StdoutFlood {
    fn run(_input: &str) -> Result<()> {
        hostile::before("stdout-flood")?;
        let line = [b'x'; 64 * 1024];
        let mut stdout = std::io::stdout();
        let mut wrote: u64 = 0;
        while wrote < 1 << 30 {
            stdout.write_all(&line)?;
            wrote += line.len() as u64;
        }
        stdout.flush()?;
        emit(&json!({"wrote": wrote}))?;
        Ok(())
    }
}

crawlbox_guest::export_plugin!(StdoutFlood);
