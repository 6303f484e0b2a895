//! Tries to read files, the environment and the arguments, and to open a
//! socket. Expected: nothing there, every attempt fails.
use crawlbox_guest::{Plugin, Result, emit};
use serde_json::json;

struct Escape;

impl Plugin for Escape {
    fn run(input: &str) -> Result<()> {
        hostile::before("escape")?;
        let port: u16 = serde_json::from_str::<serde_json::Value>(input)?["port"]
            .as_u64()
            .unwrap_or(80) as u16;
        let outcome = |r: std::io::Result<String>| match r {
            Ok(text) => json!({"ok": text.chars().take(64).collect::<String>()}),
            Err(e) => json!({"error": e.to_string()}),
        };
        emit(&json!({
            "read /etc/passwd": outcome(std::fs::read_to_string("/etc/passwd")),
            "read ./Cargo.toml": outcome(std::fs::read_to_string("Cargo.toml")),
            "list /": outcome(std::fs::read_dir("/").map(|d| d.count().to_string())),
            "write /tmp/x": outcome(std::fs::write("/tmp/crawlbox-escape", "x").map(|()| "written".into())),
            "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "args": std::env::args().collect::<Vec<_>>(),
            "tcp": outcome(std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| "connected".into())),
        }))?;
        Ok(())
    }
}

crawlbox_guest::export_plugin!(Escape);
