//! Emits three records, then panics. Expected: a trap; the three records kept.
use crawlbox_guest::{Plugin, Result, emit};
use serde_json::json;

struct PanicAfterEmit;

impl Plugin for PanicAfterEmit {
    fn run(_input: &str) -> Result<()> {
        for n in 0..3 {
            emit(&json!({"n": n}))?;
        }
        panic!("the plugin panics after 3 records");
    }
}

crawlbox_guest::export_plugin!(PanicAfterEmit);
