//! Tries to send a million requests to `{"url": ...}`, in batches of 1000.
//! Expected: `denied` once the run's request budget is spent.
use crawlbox_guest::{Plugin, Result, emit, fetch_all};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    url: String,
}

struct RequestFlood;

impl Plugin for RequestFlood {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before("request-flood")?;
        let (mut ok, mut denied, mut first_denial) = (0u64, 0u64, None);
        for _ in 0..1000 {
            for result in fetch_all((0..1000).map(|_| input.url.as_str())) {
                match result {
                    Ok(_) => ok += 1,
                    Err(err) if err.kind() == "denied" => {
                        denied += 1;
                        first_denial.get_or_insert_with(|| err.message().to_owned());
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            if denied > 0 {
                break;
            }
        }
        emit(&json!({"ok": ok, "denied": denied, "message": first_denial}))?;
        Ok(())
    }
}

crawlbox_guest::export_plugin!(RequestFlood);
