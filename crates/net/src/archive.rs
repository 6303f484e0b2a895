//! Record and replay: every exchange of a run written as WARC, or answered
//! from a recording with no network at all ([`Archive`]).
//!
//! Both sit at the bottom of the client, where one request (one hop) goes
//! out: a `fetch`'s redirects are exchanges of their own, and so is each
//! site's robots.txt, and `wasi:http` requests take the same path. So a
//! replay follows the same redirects, decodes the same gzip bodies and
//! obeys the same robots.txt as the recorded run, through the same policy:
//! the allowlist, the request budget and the extraction still apply; only
//! the network (and the politeness delays and connection caps that protect
//! it) is left out.
//!
//! A recording holds the bodies as they came over the wire, before content
//! decoding. While it is written, each response's body is held twice (once
//! for the plugin, once for the record) until it has arrived.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use crate::warc::{Exchange, Recording, WarcWriter};

/// What a client does with the exchanges it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archive {
    /// Write every request and response into this folder as WARC 1.1
    /// (`crate::warc`), as it went over the wire.
    Record(PathBuf),
    /// Answer every request from the WARC files in this folder, with no
    /// network. A request that was not recorded fails with
    /// [`ErrorKind::NotRecorded`](crate::ErrorKind::NotRecorded), unless
    /// `fallback`: then it goes out.
    Replay {
        /// The recording.
        dir: PathBuf,
        /// Fetch what was not recorded.
        fallback: bool,
    },
}

/// An [`Archive`] opened.
#[derive(Debug)]
pub(crate) enum Archiving {
    Recording(Arc<WarcWriter>),
    Replaying {
        recording: Recording,
        dir: PathBuf,
        fallback: bool,
    },
}

impl Archiving {
    /// Creates the folder to record into, or indexes the recording.
    pub(crate) fn open(archive: &Archive) -> Result<Self, String> {
        match archive {
            Archive::Record(dir) => WarcWriter::create(dir, crate::DEFAULT_USER_AGENT)
                .map(|writer| Archiving::Recording(Arc::new(writer)))
                .map_err(|e| format!("cannot record into {}: {e}", dir.display())),
            Archive::Replay { dir, fallback } => Recording::open(dir)
                .map(|recording| Archiving::Replaying {
                    recording,
                    dir: dir.clone(),
                    fallback: *fallback,
                })
                .map_err(|e| e.to_string()),
        }
    }
}

/// One exchange being recorded: the request as sent and the response head,
/// while its body arrives. Written when the body is complete.
#[derive(Debug)]
pub(crate) struct Tape {
    pub(crate) writer: Arc<WarcWriter>,
    pub(crate) method: Method,
    pub(crate) request_headers: HeaderMap,
    pub(crate) request_body: Bytes,
    pub(crate) version: Version,
    pub(crate) status: StatusCode,
    pub(crate) response_headers: HeaderMap,
    pub(crate) date: SystemTime,
    pub(crate) body: BytesMut,
}

impl Tape {
    /// Writes the exchange, now that `url`'s body is complete. A failed
    /// write is logged: the run goes on without that record.
    pub(crate) fn write(self, url: &str) {
        let exchange = Exchange {
            url,
            method: &self.method,
            request_headers: &self.request_headers,
            request_body: &self.request_body,
            version: self.version,
            status: self.status,
            response_headers: &self.response_headers,
            body: &self.body,
            peer: None,
            date: self.date,
        };
        if let Err(e) = self.writer.write(&exchange) {
            tracing::warn!(target: "crawlbox", "cannot record {url}: {e}");
        }
    }
}
