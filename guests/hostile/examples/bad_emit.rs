//! Emits text that is not one JSON value. Expected: each is refused with an
//! error and nothing is written; valid records around them are kept.
use crawlbox_guest::{Plugin, Result, emit, emit_json};
use serde_json::json;

struct BadEmit;

impl Plugin for BadEmit {
    fn run(_input: &str) -> Result<()> {
        hostile::before("bad-emit")?;
        let mut refused = Vec::new();
        for bad in ["{not json", "1 2", "", "{\"a\": 1}\n{\"b\": 2}", "\u{0}"] {
            match emit_json(bad) {
                Ok(()) => refused.push(json!({"input": bad, "accepted": true})),
                Err(err) => refused.push(json!({"input": bad, "error": err.to_string()})),
            }
        }
        // Valid JSON spread over lines is fine: it is re-serialised on one line.
        emit_json("{\n  \"multi\": \"line\"\n}")?;
        emit(&json!({"refused": refused}))?;
        Ok(())
    }
}

crawlbox_guest::export_plugin!(BadEmit);
