//! Tries to forge the host's output through every way a plugin reaches the
//! host's stderr: `host.log` messages, stdout and stderr lines, and the
//! error message it ends with, each holding newlines, carriage returns and
//! ANSI escapes that spell a line of the host's summary; then floods
//! `host.log` with 300 MB. Expected: everything is escaped (no line of
//! stderr starts as the forgery), the log stops at the plugin's log budget
//! with one warning, and the run fails with the (escaped) message.
use std::io::Write;

use crawlbox_guest::{Level, Plugin, Result, emit, log};
use serde_json::json;

/// What the plugin tries to make the host print on a line of its own.
const FORGED: &str = "crawlbox: good completed in 0.01s";

struct LogForge;

impl Plugin for LogForge {
    fn run(_input: &str) -> Result<()> {
        hostile::before("log-forge")?;
        log(Level::Warn, &format!("hello\n{FORGED}"));
        log(Level::Info, &format!("\r\u{1b}[2K{FORGED}"));
        log(
            Level::Error,
            &format!("x\u{1b}]0;title\u{7}\u{9b}2K\u{2028}{FORGED}"),
        );
        println!("out\r{FORGED}");
        eprintln!("err\u{1b}[1A\u{1b}[2K{FORGED}\u{85}{FORGED}");
        let chunk = "y".repeat(1 << 20);
        let mut flooded: u64 = 0;
        while flooded < 300 << 20 {
            log(Level::Info, &chunk);
            flooded += chunk.len() as u64;
        }
        std::io::stderr().flush()?;
        emit(&json!({"flooded": flooded}))?;
        Err(crawlbox_guest::Error::msg(format!("gave up\n{FORGED}")))
    }
}

crawlbox_guest::export_plugin!(LogForge);
