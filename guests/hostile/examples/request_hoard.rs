//! Makes the host hold more of its requests than it may: request bodies
//! the host keeps in its own memory, outside the plugin's memory limit,
//! until it sends them. Expected: past the session's budget for requests
//! not sent yet (`--max-buffered-responses`), a request fails as
//! `too-large` and the host's memory stays bounded.
//!
//! Input: `{"url": a URL that never answers, "mode": "queue" | "upload"}`.
//! * `queue`: pushes `bodies` requests (default 300), each with a body of
//!   1 MiB (the same 1 MiB of the plugin's memory, copied into the host by
//!   each push), on one `fetch-queue`, then takes results until
//!   `expect_refused` of them came back `too-large`. Emits
//!   `{"refused", "message"}`.
//! * `upload`: `POST`s through `wasi:http` a body that never ends, 4 KiB a
//!   write, until a write fails. Emits `{"written", "response"}`.
use crawlbox_guest::bindings::crawlbox::plugin::host::FetchQueue;
use crawlbox_guest::{FetchError, Plugin, Request, Result, bail, emit};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Input {
    url: String,
    mode: String,
    #[serde(default = "default_bodies")]
    bodies: usize,
    #[serde(default)]
    expect_refused: usize,
}

fn default_bodies() -> usize {
    300
}

struct RequestHoard;

impl Plugin for RequestHoard {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        hostile::before("request-hoard")?;
        match input.mode.as_str() {
            "queue" => queue(&input),
            "upload" => upload(&input.url),
            other => bail!("unknown mode {other:?}"),
        }
    }
}

fn queue(input: &Input) -> Result<()> {
    let request = Request::post(&input.url, vec![b'x'; 1 << 20]);
    let queue = FetchQueue::new();
    for _ in 0..input.bodies {
        queue
            .push(std::slice::from_ref(&request))
            .map_err(crawlbox_guest::Error::msg)?;
    }
    let (mut refused, mut message) = (0, String::new());
    while refused < input.expect_refused {
        for (_, result) in queue.next(1024) {
            match result {
                Err(FetchError::TooLarge(m)) => {
                    refused += 1;
                    message = m;
                }
                other => bail!("a request held by the host ended otherwise: {other:?}"),
            }
        }
    }
    emit(&json!({ "refused": refused, "message": message }))?;
    // Dropping the queue cancels the requests it still holds.
    Ok(())
}

fn upload(url: &str) -> Result<()> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let set = request
        .set_method(&Method::Post)
        .and(request.set_scheme(Some(&Scheme::Http)))
        .and(request.set_authority(Some(authority)))
        .and(request.set_path_with_query(Some(path)));
    set.map_err(|()| crawlbox_guest::Error::msg("the request was refused"))?;
    let body = request.body().expect("the body, once");
    let response = outgoing_handler::handle(request, None)
        .map_err(|e| crawlbox_guest::Error::msg(format!("{e:?}")))?;
    let stream = body.write().expect("the body's stream, once");
    let chunk = [b'x'; 4096];
    let mut written = 0u64;
    while stream.blocking_write_and_flush(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
    response.subscribe().block();
    let response = format!(
        "{:?}",
        response.get().map(|r| r.map(|r| r.map(|r| r.status())))
    );
    emit(&json!({ "written": written, "response": response }))?;
    Ok(())
}

crawlbox_guest::export_plugin!(RequestHoard);
