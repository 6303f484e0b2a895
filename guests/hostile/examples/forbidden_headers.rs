//! Sets headers only the host may set, and tries CRLF injection, on both
//! guest paths. Expected: every attempt refused, nothing sent.
use crawlbox_guest::{Plugin, Request, Result, emit, fetch};
use serde::Deserialize;
use serde_json::json;
use wasip2::http::types::Fields;

#[derive(Deserialize)]
struct Input {
    url: String,
}

const ATTEMPTS: &[(&str, &str)] = &[
    ("Host", "evil.example"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "upgrade"),
    ("Upgrade", "websocket"),
    ("Proxy-Authorization", "Basic eDp5"),
    ("X-Injected", "a\r\nX-Smuggled: yes"),
    ("X-Bad\r\nName", "v"),
];

struct ForbiddenHeaders;

impl Plugin for ForbiddenHeaders {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before("forbidden-headers")?;
        for (name, value) in ATTEMPTS {
            let via_fetch = match fetch(Request::get(&input.url).header(*name, *value)) {
                Ok(resp) => json!({"status": resp.status}),
                Err(err) => json!({"error": err.kind(), "message": err.message()}),
            };
            // Raw wasi:http fields, below any guest library's own checks.
            let via_wasi = match Fields::from_list(&[(name.to_string(), value.as_bytes().to_vec())])
            {
                Ok(_) => json!({"accepted": true}),
                Err(err) => json!({"error": format!("{err:?}")}),
            };
            emit(&json!({"header": name, "fetch": via_fetch, "wasi-http": via_wasi}))?;
        }
        Ok(())
    }
}

crawlbox_guest::export_plugin!(ForbiddenHeaders);
