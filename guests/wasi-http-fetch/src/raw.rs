//! The same fetches without a client library: raw `wasi:http` calls and one
//! `poll` over every pending request, to show what the interface itself
//! costs per request (about 20 calls: fields, request, scheme, authority,
//! path, handle, subscribe, get, status, consume, stream, subscribe, read,
//! finish, and the drops).

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, OutgoingRequest, Scheme,
};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, StreamError};

/// The most read in one call.
const READ_SIZE: u64 = 64 * 1024;

enum State {
    Waiting(FutureIncomingResponse),
    Reading {
        stream: InputStream,
        body: IncomingBody,
        response: IncomingResponse,
        status: u16,
        bytes: usize,
    },
}

struct Pending {
    index: usize,
    /// A child of the future or the stream in `state`: dropped first.
    pollable: Pollable,
    state: State,
}

/// Fetches every URL with at most `concurrency` in flight; calls `done` with
/// each URL's index and its status and body size, in completion order.
pub fn fetch_all(
    urls: &[String],
    concurrency: usize,
    mut done: impl FnMut(usize, Result<(u16, usize), String>) -> crawlbox_guest::Result<()>,
) -> crawlbox_guest::Result<()> {
    let mut next = 0;
    let mut pending: Vec<Pending> = Vec::with_capacity(concurrency);
    while next < urls.len() || !pending.is_empty() {
        while pending.len() < concurrency.max(1) && next < urls.len() {
            match start(&urls[next]) {
                Ok(future) => pending.push(Pending {
                    index: next,
                    pollable: future.subscribe(),
                    state: State::Waiting(future),
                }),
                Err(e) => done(next, Err(e))?,
            }
            next += 1;
        }
        if pending.is_empty() {
            continue;
        }
        let mut ready: Vec<usize> = {
            let list: Vec<&Pollable> = pending.iter().map(|p| &p.pollable).collect();
            poll(&list).into_iter().map(|i| i as usize).collect()
        };
        // Highest first, so that swap_remove leaves the others in place.
        ready.sort_unstable_by(|a, b| b.cmp(a));
        for i in ready {
            if let Some(result) = advance(&mut pending[i]) {
                let finished = pending.swap_remove(i);
                let index = finished.index;
                close(finished);
                done(index, result)?;
            }
        }
    }
    Ok(())
}

/// Sends a GET for `url`.
fn start(url: &str) -> Result<FutureIncomingResponse, String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&scheme))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(path)))
        .map_err(|()| format!("invalid URL {url}"))?;
    outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))
}

/// Moves a ready request on; its result once it is complete.
fn advance(p: &mut Pending) -> Option<Result<(u16, usize), String>> {
    if let State::Waiting(future) = &p.state {
        let response = match future.get()? {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => return Some(Err(format!("{code:?}"))),
            Err(()) => return Some(Err("the response was taken twice".into())),
        };
        let status = response.status();
        let Ok(body) = response.consume() else {
            return Some(Err("the body was taken twice".into()));
        };
        let Ok(stream) = body.stream() else {
            return Some(Err("the body stream was taken twice".into()));
        };
        // The old pollable (a child of the future) goes before the future.
        p.pollable = stream.subscribe();
        p.state = State::Reading {
            stream,
            body,
            response,
            status,
            bytes: 0,
        };
    }
    let State::Reading {
        stream,
        status,
        bytes,
        ..
    } = &mut p.state
    else {
        unreachable!("a response was just turned into a body")
    };
    loop {
        match stream.read(READ_SIZE) {
            Ok(chunk) if chunk.is_empty() => return None,
            Ok(chunk) => *bytes += chunk.len(),
            Err(StreamError::Closed) => return Some(Ok((*status, *bytes))),
            Err(StreamError::LastOperationFailed(e)) => {
                return Some(Err(e.to_debug_string()));
            }
        }
    }
}

/// Drops a finished request's resources, children first.
fn close(p: Pending) {
    let Pending {
        pollable, state, ..
    } = p;
    drop(pollable);
    match state {
        State::Waiting(future) => drop(future),
        State::Reading {
            stream,
            body,
            response,
            ..
        } => {
            drop(stream);
            drop(IncomingBody::finish(body));
            drop(response);
        }
    }
}
