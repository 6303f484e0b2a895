//! Recording HTTP exchanges as WARC 1.1, and replaying them.
//!
//! [`WarcWriter`] writes every request and response the host makes (one
//! [`Exchange`] per hop: a redirect is an exchange of its own) to WARC files
//! that any WARC tool reads (`warcio`, pywb, replayweb.page, …);
//! [`Recording`] indexes a directory of WARC files, ours or another tool's,
//! and answers a request from it.
//!
//! # What is written
//!
//! The directory holds files named
//! `crawlbox-<UTC yyyymmddhhmmss>-<pid>-<serial, 5 digits>.warc.gz`. Each
//! starts with a `warcinfo` record (software, format, conformsTo), and each
//! exchange adds a `request` record and then a `response` record, every
//! record its own gzip member ("record-at-time compression", WARC 1.1
//! annex D), so that a reader can seek to any record. A file past
//! [`MAX_FILE_BYTES`] is closed and the next one (serial + 1) opened.
//!
//! A record is the `WARC/1.1` line, its header fields (`WARC-Type`,
//! `WARC-Record-ID`, `WARC-Date` with microseconds, `WARC-Target-URI`,
//! `WARC-IP-Address` when known, `WARC-Warcinfo-ID`, `Content-Type:
//! application/http;msgtype=request|response`, `WARC-Concurrent-To` on the
//! request naming its response, `WARC-Block-Digest`, on the response
//! `WARC-Payload-Digest`, and `Content-Length`), a blank line, the block and
//! two CRLFs. Digests are `sha1:` and base 32, as every WARC tool writes
//! them.
//!
//! The block is the HTTP message as HTTP/1.1 puts it on the wire: request
//! line in origin form (`GET /path?query HTTP/1.1`), header fields (a `Host`
//! from the URL when the request had none, as for HTTP/2), a blank line and
//! the body. An HTTP/2 response is written with an `HTTP/1.1` status line
//! and the record gets `WARC-Protocol: h2` (the WARC 1.1 extension field
//! browsertrix and warcio write); HTTP/1.0 keeps `HTTP/1.0`. The body is as
//! transferred: still content-encoded (`Content-Encoding: gzip` stays, and so
//! does `Content-Length`), so the payload digest is that of the entity body
//! a crawler of the same URL would compare. hyper has already removed the
//! chunked framing, so `Transfer-Encoding` is left out (see
//! [`WarcWriter::write`]).
//!
//! # What is read
//!
//! [`Recording::open`] reads every `*.warc.gz` and `*.warc` in a directory,
//! in name order, gzip'd or not (told by the content, not the name), WARC/1.0
//! or 1.1. It indexes `response` records with an `http:` or `https:` target
//! by (method, target URI): the method is that of the `request` record
//! linked to the response by `WARC-Concurrent-To` (in either direction),
//! `GET` when there is none. A later record for the same key replaces an
//! earlier one. Only where each record lies is kept in memory; [`Recording::get`]
//! reads it from disk again. Other record types (`warcinfo`, `revisit`,
//! `metadata`, `resource`, `continuation`, …) and segmented records are
//! skipped. A body another tool recorded still chunked is de-chunked and its
//! `Transfer-Encoding: chunked` removed.
//!
//! What one record can make the reader allocate is bounded: a header block
//! (WARC's or HTTP's) of at most [`MAX_HEADER_BYTES`], and a block of its
//! `Content-Length`, which indexing has checked is really there in the file.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use data_encoding::BASE32;
use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};

/// Size past which [`WarcWriter`] closes a file and starts the next one:
/// 1 GiB, the size the WARC 1.1 spec (annex C) suggests. A file ends with the
/// exchange that took it past this, so it can be larger by one exchange.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The largest header block, WARC's or HTTP's, that [`Recording`] reads for
/// one record: 256 KiB. Real ones are a few KiB; this bounds what a corrupt
/// or hostile file can make the reader allocate.
pub const MAX_HEADER_BYTES: usize = 256 << 10;

/// `conformsTo` of the `warcinfo` record: the WARC 1.1 specification.
const WARC_1_1_SPEC: &str =
    "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/";

/// gzip level of the records written: zlib's default, a fair trade of speed
/// and size for HTML.
const GZIP_LEVEL: u32 = 6;

/// Buffer for reading WARC files, compressed and not.
const READ_BUFFER_BYTES: usize = 64 << 10;

/// The first two bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Ends every record, after its block.
const RECORD_END: &[u8] = b"\r\n\r\n";

/// One HTTP exchange as it went over the wire: one hop, so a redirect is an
/// exchange of its own.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The absolute target URI of this hop.
    pub url: &'a str,
    /// The request method.
    pub method: &'a Method,
    /// The request header fields as sent. When there is no `Host`, one is
    /// written from the URL's authority.
    pub request_headers: &'a HeaderMap,
    /// The request body as sent.
    pub request_body: &'a [u8],
    /// The HTTP version of the response (`HTTP_2` for h2).
    pub version: Version,
    /// The response status.
    pub status: StatusCode,
    /// The response header fields as received.
    pub response_headers: &'a HeaderMap,
    /// The response body as received: de-chunked (by hyper) but not
    /// content-decoded, so still gzip'd under `Content-Encoding: gzip`.
    pub body: &'a [u8],
    /// The address of the server (or proxy) connected to, when known.
    pub peer: Option<IpAddr>,
    /// When the request was sent.
    pub date: SystemTime,
}

/// Writes [`Exchange`]s to WARC files in a directory (see the
/// [module docs](self)). Shared by every task: records are compressed by the
/// calling thread and appended under a lock, whole.
#[derive(Debug)]
pub struct WarcWriter {
    dir: PathBuf,
    software: String,
    state: Mutex<WriterState>,
}

/// The file being written.
#[derive(Debug)]
struct WriterState {
    /// Opened for appending.
    file: File,
    /// Bytes in `file`: all whole records.
    written: u64,
    /// Serial number in `file`'s name.
    serial: u32,
    /// Record ID of `file`'s `warcinfo` record, named by every record in it;
    /// a new `Arc` per file.
    warcinfo_id: Arc<str>,
    /// Every file written, `file` last.
    files: Vec<PathBuf>,
}

impl WarcWriter {
    /// Creates `dir` (and its parents) if need be and starts the first file
    /// there with its `warcinfo` record, naming `software` (e.g.
    /// `crawlbox/0.1.0`).
    pub fn create(dir: &Path, software: &str) -> io::Result<Self> {
        fs::create_dir_all(dir).map_err(|e| with_path(e, "cannot create WARC directory", dir))?;
        let software = one_line(software);
        let state = open_file(dir, &software, 0)?;
        Ok(Self {
            dir: dir.to_owned(),
            software,
            state: Mutex::new(state),
        })
    }

    /// Appends `exchange` as a `request` and a `response` record.
    ///
    /// `Transfer-Encoding` is left out of both messages: hyper hands over
    /// bodies without their chunked framing, and a record that said
    /// `chunked` over a plain body would make readers (warcio, pywb)
    /// mis-parse it. `Content-Encoding` and `Content-Length` are kept as
    /// they were sent and received.
    ///
    /// Both records are compressed before the lock is taken, then written
    /// with one `write_all`; a failed write is cut off again, so the file
    /// keeps only whole records.
    pub fn write(&self, exchange: &Exchange<'_>) -> io::Result<()> {
        let request_head = request_head(exchange);
        let response_head = response_head(exchange);
        let date = humantime::format_rfc3339_micros(exchange.date).to_string();
        let url = one_line(exchange.url);
        let ip = exchange.peer.map(|ip| ip.to_string());
        let protocol = match exchange.version {
            Version::HTTP_2 => Some("h2"),
            Version::HTTP_3 => Some("h3"),
            _ => None,
        };
        let payload_digest = sha1_digest(&[exchange.body]);
        loop {
            let warcinfo_id = Arc::clone(&self.lock().warcinfo_id);
            let request_id = record_id();
            let response_id = record_id();
            let mut common = vec![
                ("WARC-Date", date.as_str()),
                ("WARC-Target-URI", url.as_str()),
            ];
            if let Some(ip) = &ip {
                common.push(("WARC-IP-Address", ip.as_str()));
            }
            if let Some(protocol) = protocol {
                common.push(("WARC-Protocol", protocol));
            }
            common.push(("WARC-Warcinfo-ID", &*warcinfo_id));

            let mut request_fields = vec![
                ("WARC-Type", "request"),
                ("WARC-Record-ID", request_id.as_str()),
            ];
            request_fields.extend_from_slice(&common);
            request_fields.push(("Content-Type", "application/http;msgtype=request"));
            request_fields.push(("WARC-Concurrent-To", response_id.as_str()));
            let mut response_fields = vec![
                ("WARC-Type", "response"),
                ("WARC-Record-ID", response_id.as_str()),
            ];
            response_fields.extend_from_slice(&common);
            response_fields.push(("Content-Type", "application/http;msgtype=response"));
            response_fields.push(("WARC-Payload-Digest", payload_digest.as_str()));

            let mut bytes =
                Vec::with_capacity(2048 + exchange.request_body.len() + exchange.body.len());
            append_record(
                &mut bytes,
                &request_fields,
                &[request_head.as_slice(), exchange.request_body],
            )?;
            append_record(
                &mut bytes,
                &response_fields,
                &[response_head.as_slice(), exchange.body],
            )?;

            let mut state = self.lock();
            if !Arc::ptr_eq(&state.warcinfo_id, &warcinfo_id) {
                // Another write started a new file meanwhile: these records
                // name the old file's warcinfo. Build them again (once a GiB).
                continue;
            }
            return self.append(&mut state, &bytes);
        }
    }

    /// The files written so far, the one being written last.
    pub fn files(&self) -> Vec<PathBuf> {
        self.lock().files.clone()
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock leaves whole records in the file
        // (a failed write is cut off), so the state is still good.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `bytes` (whole records) to the current file, then starts the
    /// next file if this one is full.
    fn append(&self, state: &mut WriterState, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = state.file.write_all(bytes) {
            let path = state.files.last().cloned().unwrap_or_default();
            if let Err(cut) = state.file.set_len(state.written) {
                tracing::warn!(
                    path = %path.display(),
                    "cannot cut off a partly written WARC record: {cut}"
                );
            }
            return Err(with_path(e, "cannot write WARC file", &path));
        }
        state.written += bytes.len() as u64;
        if state.written >= MAX_FILE_BYTES {
            match open_file(&self.dir, &self.software, state.serial + 1) {
                Ok(mut next) => {
                    let mut files = std::mem::take(&mut state.files);
                    files.append(&mut next.files);
                    next.files = files;
                    *state = next;
                }
                // The exchange is recorded: keep appending to this file and
                // try again after the next exchange.
                Err(e) => tracing::warn!("cannot start the next WARC file: {e}"),
            }
        }
        Ok(())
    }
}

/// Opens a new file in `dir`, the first free serial from `serial` on, and
/// writes its `warcinfo` record. Its `files` holds just the new file.
fn open_file(dir: &Path, software: &str, mut serial: u32) -> io::Result<WriterState> {
    let now = SystemTime::now();
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let pid = std::process::id();
    loop {
        let name = format!("crawlbox-{stamp}-{pid}-{serial:05}.warc.gz");
        let path = dir.join(&name);
        let mut file = match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                serial = serial.checked_add(1).ok_or_else(|| {
                    io::Error::other(format!("no free WARC file name left in {}", dir.display()))
                })?;
                continue;
            }
            Err(e) => return Err(with_path(e, "cannot create WARC file", &path)),
        };
        let id = record_id();
        let date = humantime::format_rfc3339_micros(now).to_string();
        let block = format!(
            "software: {software}\r\nformat: WARC File Format 1.1\r\nconformsTo: {WARC_1_1_SPEC}\r\n"
        );
        let mut bytes = Vec::with_capacity(1024);
        append_record(
            &mut bytes,
            &[
                ("WARC-Type", "warcinfo"),
                ("WARC-Record-ID", &id),
                ("WARC-Date", &date),
                ("WARC-Filename", &name),
                ("Content-Type", "application/warc-fields"),
            ],
            &[block.as_bytes()],
        )?;
        file.write_all(&bytes)
            .map_err(|e| with_path(e, "cannot write WARC file", &path))?;
        return Ok(WriterState {
            file,
            written: bytes.len() as u64,
            serial,
            warcinfo_id: id.into(),
            files: vec![path],
        });
    }
}

/// Appends one record, as a gzip member of its own, to `out`: the version
/// line, `fields`, the block digest and length, and the block made of the
/// `block` parts.
fn append_record(out: &mut Vec<u8>, fields: &[(&str, &str)], block: &[&[u8]]) -> io::Result<()> {
    let length: usize = block.iter().map(|part| part.len()).sum();
    let mut head = String::with_capacity(1024);
    head.push_str("WARC/1.1\r\n");
    for (name, value) in fields {
        // `write!` to a String cannot fail.
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(
        head,
        "WARC-Block-Digest: {}\r\nContent-Length: {length}\r\n\r\n",
        sha1_digest(block)
    );
    let mut gzip = GzEncoder::new(out, Compression::new(GZIP_LEVEL));
    gzip.write_all(head.as_bytes())?;
    for part in block {
        gzip.write_all(part)?;
    }
    gzip.write_all(RECORD_END)?;
    gzip.finish()?;
    Ok(())
}

/// The request line and header fields of a request block, with the blank
/// line that ends them.
fn request_head(exchange: &Exchange<'_>) -> Vec<u8> {
    let (authority, target) = split_url(exchange.url);
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(exchange.method.as_str().as_bytes());
    head.push(b' ');
    if !target.starts_with('/') {
        head.push(b'/');
    }
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    if !exchange.request_headers.contains_key(header::HOST) && !authority.is_empty() {
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(one_line(authority).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    push_fields(&mut head, exchange.request_headers);
    head
}

/// The status line and header fields of a response block, with the blank
/// line that ends them.
fn response_head(exchange: &Exchange<'_>) -> Vec<u8> {
    let version = match exchange.version {
        Version::HTTP_09 | Version::HTTP_10 => "HTTP/1.0",
        // HTTP/2 and 3 have no status line of their own; readers expect
        // HTTP/1.1's (`WARC-Protocol` tells the real one).
        _ => "HTTP/1.1",
    };
    let mut head = Vec::with_capacity(1024);
    let status = exchange.status;
    let reason = status.canonical_reason().unwrap_or("");
    head.extend_from_slice(format!("{version} {} {reason}\r\n", status.as_u16()).as_bytes());
    push_fields(&mut head, exchange.response_headers);
    head
}

/// Appends `headers` but `Transfer-Encoding` (see [`WarcWriter::write`]) as
/// `name: value` lines, then the blank line.
fn push_fields(head: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
}

/// The authority (without user info) and the path and query of an absolute
/// URL. The path may be empty or start with `?`; the fragment is dropped.
fn split_url(url: &str) -> (&str, &str) {
    let url = url.split_once('#').map_or(url, |(url, _)| url);
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (authority, target)
}

/// A fresh `<urn:uuid:…>` (a random, version 4 UUID).
fn record_id() -> String {
    let mut uuid = fastrand::u128(..);
    uuid = (uuid & !(0xf << 76)) | (0x4 << 76); // version 4
    uuid = (uuid & !(0x3 << 62)) | (0x2 << 62); // variant RFC 4122
    format!(
        "<urn:uuid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}>",
        uuid >> 96,
        (uuid >> 80) & 0xffff,
        (uuid >> 64) & 0xffff,
        (uuid >> 48) & 0xffff,
        uuid & 0xffff_ffff_ffff
    )
}

/// `sha1:<base 32>` of the concatenated `parts`.
fn sha1_digest(parts: &[&[u8]]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    for part in parts {
        sha1.update(part);
    }
    format!("sha1:{}", BASE32.encode(&sha1.digest().bytes()))
}

/// `value` with any CR or LF made a space, fit for a header field.
fn one_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Why a WARC recording cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WarcError {
    /// The directory does not exist or holds no WARC file.
    #[error(
        "no WARC recording to replay in {}: {reason}; record one first with --record DIR",
        dir.display()
    )]
    NoRecording {
        /// The directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read WARC file {}: {source}", path.display())]
    Io {
        /// The file (or directory).
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A file is not valid WARC.
    #[error(
        "WARC file {} is malformed at byte {offset}: {what} \
         (record it again with --record DIR, or move the file out of the directory)",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts (for a gzip'd file, its gzip member).
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// A recorded response, as [`Recording::get`] reads it back.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The status.
    pub status: StatusCode,
    /// The HTTP version (`HTTP_2` for a record with `WARC-Protocol: h2`).
    pub version: Version,
    /// The header fields, without `Transfer-Encoding: chunked`.
    pub headers: HeaderMap,
    /// The body exactly as recorded: still content-encoded, but de-chunked.
    pub body: Bytes,
}

/// A directory of WARC files indexed for replay (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct Recording {
    files: Vec<WarcFile>,
    /// Where the response for each method and target URI (without fragment)
    /// lies.
    index: HashMap<Method, HashMap<String, Location>>,
    len: usize,
}

#[derive(Debug)]
struct WarcFile {
    path: PathBuf,
    /// Made of gzip members, one record each.
    gzip: bool,
}

/// Where a record lies.
#[derive(Debug, Clone, Copy)]
struct Location {
    /// Index in [`Recording::files`].
    file: usize,
    /// Where the record (gzip'd: its member) starts in the file.
    offset: u64,
    /// Bytes of the record (gzip'd: of the member) in the file.
    stored_len: u64,
    /// Bytes of the record uncompressed.
    record_len: u64,
}

impl Recording {
    /// Indexes every `*.warc.gz` and `*.warc` file in `dir`.
    pub fn open(dir: &Path) -> Result<Self, WarcError> {
        let no_recording = |reason: String| WarcError::NoRecording {
            dir: dir.to_owned(),
            reason,
        };
        let entries = fs::read_dir(dir).map_err(|e| no_recording(e.to_string()))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| WarcError::Io {
                path: dir.to_owned(),
                source,
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            if (name.ends_with(".warc.gz") || name.ends_with(".warc")) && path.is_file() {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(no_recording("it holds no *.warc.gz or *.warc file".into()));
        }
        paths.sort();

        let mut linker = Linker::default();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let gzip = index_file(&path, files.len(), &mut linker)?;
            files.push(WarcFile { path, gzip });
        }
        let index = linker.finish();
        let len = index.values().map(HashMap::len).sum();
        tracing::debug!(dir = %dir.display(), files = files.len(), responses = len, "WARC recording indexed");
        Ok(Self { files, index, len })
    }

    /// How many (method, URI) pairs have a response.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no response was found.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The response recorded for `method` and `url` (an absolute URI; a
    /// fragment is ignored), read from disk; `None` if there is none.
    pub fn get(&self, method: &Method, url: &str) -> Option<Result<Recorded, WarcError>> {
        let location = *self.index.get(method)?.get(index_key(url))?;
        Some(self.read(location))
    }

    fn read(&self, location: Location) -> Result<Recorded, WarcError> {
        let file = &self.files[location.file];
        let malformed = |what: String| WarcError::Malformed {
            path: file.path.clone(),
            offset: location.offset,
            what,
        };
        let io_error = |source| WarcError::Io {
            path: file.path.clone(),
            source,
        };
        let changed = || malformed("the file changed since the recording was opened".into());

        let mut f = File::open(&file.path).map_err(io_error)?;
        f.seek(SeekFrom::Start(location.offset)).map_err(io_error)?;
        let mut stored = Vec::with_capacity(to_usize(location.stored_len).map_err(malformed)?);
        f.take(location.stored_len)
            .read_to_end(&mut stored)
            .map_err(io_error)?;
        if stored.len() as u64 != location.stored_len {
            return Err(changed());
        }
        let record = if file.gzip {
            let mut record = Vec::with_capacity(to_usize(location.record_len).map_err(malformed)?);
            GzDecoder::new(stored.as_slice())
                .take(location.record_len)
                .read_to_end(&mut record)
                .map_err(|e| malformed(read_problem(&e)))?;
            record
        } else {
            stored
        };
        if record.len() as u64 != location.record_len {
            return Err(changed());
        }
        parse_response(Bytes::from(record)).map_err(malformed)
    }
}

/// The index key of a URI: without its fragment, which is never sent.
fn index_key(url: &str) -> &str {
    url.split_once('#').map_or(url, |(url, _)| url)
}

/// Collects the records of every file, then pairs responses with requests.
#[derive(Default)]
struct Linker {
    /// Every response, in file order.
    responses: Vec<IndexedResponse>,
    /// The method of each request record, by its record ID.
    method_by_request: HashMap<String, Method>,
    /// The method of each request record, by the record ID it names in
    /// `WARC-Concurrent-To` (its response's).
    method_by_response: HashMap<String, Method>,
}

struct IndexedResponse {
    url: String,
    id: Option<String>,
    concurrent_to: Vec<String>,
    location: Location,
}

impl Linker {
    fn add(&mut self, record: IndexedRecord, location: Location) {
        match record.kind {
            Kind::Request(method) => {
                for id in &record.concurrent_to {
                    self.method_by_response.insert(id.clone(), method.clone());
                }
                if let Some(id) = record.id {
                    self.method_by_request.insert(id, method);
                }
            }
            Kind::Response(url) => self.responses.push(IndexedResponse {
                url,
                id: record.id,
                concurrent_to: record.concurrent_to,
                location,
            }),
            Kind::Other => {}
        }
    }

    fn finish(self) -> HashMap<Method, HashMap<String, Location>> {
        let mut index: HashMap<Method, HashMap<String, Location>> = HashMap::new();
        for response in self.responses {
            let method = response
                .id
                .as_ref()
                .and_then(|id| self.method_by_response.get(id))
                .or_else(|| {
                    response
                        .concurrent_to
                        .iter()
                        .find_map(|id| self.method_by_request.get(id))
                })
                .cloned()
                .unwrap_or(Method::GET);
            let key = index_key(&response.url).to_owned();
            index
                .entry(method)
                .or_default()
                .insert(key, response.location);
        }
        index
    }
}

/// What indexing keeps of a record.
struct IndexedRecord {
    kind: Kind,
    id: Option<String>,
    concurrent_to: Vec<String>,
    /// Bytes of the record, uncompressed, from its version line to the end
    /// of its block.
    len: u64,
}

enum Kind {
    /// An HTTP request, with its method.
    Request(Method),
    /// An HTTP response, with its target URI.
    Response(String),
    /// Anything else.
    Other,
}

/// A [`BufRead`] that counts the bytes taken from it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.count += amount as u64;
    }
}

/// Indexes the records of the file at `path`, the `file`th of the recording,
/// into `linker`. Returns whether it is gzip'd.
///
/// The file is streamed, never held whole: a gzip'd one member after
/// another, each decoded by a [`GzDecoder`] that stops at the member's end,
/// so the bytes it took tell where the next member starts.
fn index_file(path: &Path, file: usize, linker: &mut Linker) -> Result<bool, WarcError> {
    let io_error = |source| WarcError::Io {
        path: path.to_owned(),
        source,
    };
    let malformed = |offset, what| WarcError::Malformed {
        path: path.to_owned(),
        offset,
        what,
    };
    let f = File::open(path).map_err(io_error)?;
    let mut reader = Counted {
        inner: BufReader::with_capacity(READ_BUFFER_BYTES, f),
        count: 0,
    };
    let gzip = reader
        .fill_buf()
        .map_err(io_error)?
        .starts_with(&GZIP_MAGIC);
    loop {
        if gzip {
            let offset = reader.count;
            if reader.fill_buf().map_err(io_error)?.is_empty() {
                break;
            }
            let mut member =
                BufReader::with_capacity(READ_BUFFER_BYTES, GzDecoder::new(&mut reader));
            let skipped =
                skip_line_breaks(&mut member).map_err(|e| malformed(offset, read_problem(&e)))?;
            let record = index_record(&mut member).map_err(|what| malformed(offset, what))?;
            only_whitespace_left(&mut member).map_err(|what| malformed(offset, what))?;
            drop(member);
            if let Some(record) = record {
                let location = Location {
                    file,
                    offset,
                    stored_len: reader.count - offset,
                    record_len: skipped + record.len,
                };
                linker.add(record, location);
            }
        } else {
            skip_line_breaks(&mut reader).map_err(io_error)?;
            let offset = reader.count;
            let Some(record) = index_record(&mut reader).map_err(|what| malformed(offset, what))?
            else {
                break;
            };
            let location = Location {
                file,
                offset,
                stored_len: record.len,
                record_len: record.len,
            };
            linker.add(record, location);
        }
    }
    Ok(gzip)
}

/// Reads one record from `reader`, through the end of its block; `None` at
/// the end of the input.
fn index_record(reader: &mut impl BufRead) -> Result<Option<IndexedRecord>, String> {
    let Some(head) = read_head(reader, false)? else {
        return Ok(None);
    };
    let warc = WarcHead::parse(&head)?;
    let length = warc.content_length()?;
    let mut block = reader.take(length);

    let kind_name = warc.get("WARC-Type").unwrap_or_default();
    let uri = warc.target_uri().unwrap_or_default();
    let http_uri = ["http://", "https://"].iter().any(|scheme| {
        uri.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    let is_request = kind_name.eq_ignore_ascii_case("request");
    let is_response = kind_name.eq_ignore_ascii_case("response");
    let mut kind = Kind::Other;
    let mut first_line = Vec::new();
    if http_uri && (is_request || is_response) && warc.get("WARC-Segment-Number").is_none() {
        (&mut block)
            .take(MAX_HEADER_BYTES as u64)
            .read_until(b'\n', &mut first_line)
            .map_err(|e| read_problem(&e))?;
        if is_request {
            let method = first_line.split(|&b| b == b' ').next().unwrap_or_default();
            if let Ok(method) = Method::from_bytes(method) {
                kind = Kind::Request(method);
            }
        } else if first_line.starts_with(b"HTTP/") {
            kind = Kind::Response(uri.to_owned());
        }
    }
    let rest = io::copy(&mut block, &mut io::sink()).map_err(|e| read_problem(&e))?;
    let read = first_line.len() as u64 + rest;
    if read < length {
        return Err(format!(
            "the record's Content-Length is {length} bytes but its block ends after {read}: \
             the file is truncated"
        ));
    }
    Ok(Some(IndexedRecord {
        kind,
        id: warc.get("WARC-Record-ID").map(str::to_owned),
        concurrent_to: warc
            .get_all("WARC-Concurrent-To")
            .map(str::to_owned)
            .collect(),
        len: head.len() as u64 + length,
    }))
}

/// Reads the rest of a gzip member, which may hold only the blank lines
/// that end its record.
fn only_whitespace_left(member: &mut impl BufRead) -> Result<(), String> {
    loop {
        let buf = member.fill_buf().map_err(|e| read_problem(&e))?;
        if buf.is_empty() {
            return Ok(());
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            return Err(
                "this gzip member holds more than one record, so records cannot be \
                        read one at a time (`warcio recompress IN OUT` rewrites the file with \
                        a gzip member per record)"
                    .into(),
            );
        }
        let n = buf.len();
        member.consume(n);
    }
}

/// Skips CRs and LFs (between records); returns how many.
fn skip_line_breaks(reader: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0;
    loop {
        let buf = reader.fill_buf()?;
        let n = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let more = n == buf.len() && n > 0;
        reader.consume(n);
        skipped += n as u64;
        if !more {
            return Ok(skipped);
        }
    }
}

/// Describes an error reading a record's bytes.
fn read_problem(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            format!("the record ends early ({e}): the file is truncated")
        }
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            format!("the gzip data is corrupt ({e})")
        }
        _ => format!("cannot read the record: {e}"),
    }
}

/// Reads a header block, lines up to and including the empty one, of at
/// most [`MAX_HEADER_BYTES`]. `None` at the end of the input. If
/// `eof_ends_head`, the end of the input ends the block too (an HTTP message
/// with no body and no blank line); otherwise it is an error.
fn read_head(reader: &mut impl BufRead, eof_ends_head: bool) -> Result<Option<Vec<u8>>, String> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        let room = (MAX_HEADER_BYTES + 1 - start) as u64;
        let n = reader
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut head)
            .map_err(|e| read_problem(&e))?;
        if head.len() > MAX_HEADER_BYTES {
            return Err(format!(
                "the header block is larger than {MAX_HEADER_BYTES} bytes: this is not WARC, \
                 or a corrupt one"
            ));
        }
        let line = &head[start..];
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
        if n == 0 || !line.ends_with(b"\n") {
            return match (head.is_empty(), eof_ends_head) {
                (true, _) => Ok(None),
                (false, true) => Ok(Some(head)),
                (false, false) => Err("the record header ends early: the file is truncated".into()),
            };
        }
    }
}

/// A header field: its name and its value.
type Field<'a> = (&'a [u8], Vec<u8>);

/// A header block's first line and its `name: value` fields, values
/// trimmed and continuation lines (obsolete line folding) joined.
fn parse_head(head: &[u8]) -> (&[u8], Vec<Field<'_>>) {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let first = lines.next().unwrap_or_default();
    let mut fields: Vec<Field<'_>> = Vec::new();
    for line in lines {
        match line.first() {
            None => {}
            Some(b' ' | b'\t') => {
                if let Some((_, value)) = fields.last_mut() {
                    value.push(b' ');
                    value.extend_from_slice(line.trim_ascii());
                }
            }
            Some(_) => {
                if let Some(colon) = line.iter().position(|&b| b == b':') {
                    fields.push((
                        line[..colon].trim_ascii(),
                        line[colon + 1..].trim_ascii().to_vec(),
                    ));
                }
            }
        }
    }
    (first, fields)
}

/// The header fields of a WARC record.
struct WarcHead {
    fields: Vec<(String, String)>,
}

impl WarcHead {
    fn parse(head: &[u8]) -> Result<Self, String> {
        let (first, fields) = parse_head(head);
        if !first.starts_with(b"WARC/") {
            let shown = String::from_utf8_lossy(&first[..first.len().min(40)]).into_owned();
            return Err(format!(
                "expected a WARC record (`WARC/1.1`), found {shown:?}"
            ));
        }
        let fields = fields
            .into_iter()
            .map(|(name, value)| {
                (
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect();
        Ok(Self { fields })
    }

    fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.fields
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    fn content_length(&self) -> Result<u64, String> {
        let value = self
            .get("Content-Length")
            .ok_or("the record has no Content-Length")?;
        value
            .parse()
            .map_err(|_| format!("the record's Content-Length {value:?} is not a number"))
    }

    /// `WARC-Target-URI`, without the `<…>` wget 1.19 put around it.
    fn target_uri(&self) -> Option<&str> {
        let uri = self.get("WARC-Target-URI")?;
        Some(
            uri.strip_prefix('<')
                .and_then(|uri| uri.strip_suffix('>'))
                .unwrap_or(uri),
        )
    }
}

/// Parses a whole `response` record (leading line breaks allowed).
fn parse_response(record: Bytes) -> Result<Recorded, String> {
    let start = record
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let mut rest = &record[start..];
    let head = read_head(&mut rest, false)?.ok_or("the record is empty")?;
    let warc = WarcHead::parse(&head)?;
    let kind = warc.get("WARC-Type").unwrap_or_default();
    if !kind.eq_ignore_ascii_case("response") {
        return Err(format!("expected a response record, found {kind:?}"));
    }
    let length = to_usize(warc.content_length()?)?;
    let block_start = start + head.len();
    let block_end = block_start
        .checked_add(length)
        .filter(|&end| end <= record.len())
        .ok_or("the record's block is shorter than its Content-Length")?;
    let block = record.slice(block_start..block_end);

    let mut rest = &block[..];
    let http_head = read_head(&mut rest, true)?.ok_or("the response has no status line")?;
    let mut body = block.slice(http_head.len()..);
    let (status_line, fields) = parse_head(&http_head);
    let mut parts = status_line
        .split(|&b| b == b' ')
        .filter(|part| !part.is_empty());
    let shown = || String::from_utf8_lossy(&status_line[..status_line.len().min(40)]).into_owned();
    let mut version = match parts.next() {
        Some(b"HTTP/1.0") => Version::HTTP_10,
        Some(b"HTTP/0.9") => Version::HTTP_09,
        Some(b"HTTP/2" | b"HTTP/2.0") => Version::HTTP_2,
        Some(b"HTTP/3" | b"HTTP/3.0") => Version::HTTP_3,
        Some(v) if v.starts_with(b"HTTP/") => Version::HTTP_11,
        _ => return Err(format!("expected an HTTP status line, found {:?}", shown())),
    };
    let status = parts
        .next()
        .and_then(|code| StatusCode::from_bytes(code).ok())
        .ok_or_else(|| format!("no valid status code in the status line {:?}", shown()))?;
    for protocol in warc.get_all("WARC-Protocol") {
        if protocol.eq_ignore_ascii_case("h2") {
            version = Version::HTTP_2;
        } else if protocol.eq_ignore_ascii_case("h3") {
            version = Version::HTTP_3;
        }
    }

    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        match (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(&value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => tracing::debug!(
                field = %String::from_utf8_lossy(name),
                "invalid recorded header field skipped"
            ),
        }
    }
    dechunk_if_chunked(&mut headers, &mut body);
    Ok(Recorded {
        status,
        version,
        headers,
        body,
    })
}

/// Removes the chunked framing another tool recorded, and says so in the
/// headers: `chunked` leaves `Transfer-Encoding`, and a `Content-Length`
/// that is not the body's goes.
///
/// A body that does not parse as chunked is kept as it is (some tools kept
/// the header but wrote the body de-chunked, and warcio reads those the same
/// way).
fn dechunk_if_chunked(headers: &mut HeaderMap, body: &mut Bytes) {
    let codings: Vec<String> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty())
        .collect();
    if !codings.iter().any(|coding| coding == "chunked") {
        return;
    }
    match dechunk(body) {
        Some(plain) => *body = Bytes::from(plain),
        None => tracing::warn!("recorded body says it is chunked but is not; replayed as recorded"),
    }
    headers.remove(header::TRANSFER_ENCODING);
    let others: Vec<&str> = codings
        .iter()
        .map(String::as_str)
        .filter(|&coding| coding != "chunked")
        .collect();
    if !others.is_empty()
        && let Ok(value) = HeaderValue::from_str(&others.join(", "))
    {
        headers.insert(header::TRANSFER_ENCODING, value);
    }
    let length_matches = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<usize>().ok())
        .is_none_or(|length| length == body.len());
    if !length_matches {
        headers.remove(header::CONTENT_LENGTH);
    }
}

/// The data of a chunked body (chunk extensions and trailers dropped), or
/// `None` if it is not one. A body cut off between chunks keeps the chunks
/// before.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let line_end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..line_end];
        let size = line.split(|&b| b == b';').next()?.trim_ascii();
        if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let size = usize::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()?;
        rest = &rest[line_end + 1..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = &rest[size..];
        rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))?;
    }
    Some(out)
}

fn to_usize(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| format!("a record of {n} bytes is too large for this machine"))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use flate2::read::MultiGzDecoder;

    use super::*;

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "crawlbox-warc-{name}-{}-{:016x}",
                std::process::id(),
                fastrand::u64(..)
            ));
            fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// An exchange that owns its parts.
    struct Owned {
        url: String,
        method: Method,
        request_headers: HeaderMap,
        request_body: Vec<u8>,
        version: Version,
        status: StatusCode,
        response_headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Owned {
        fn get(url: &str, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
            Self {
                url: url.into(),
                method: Method::GET,
                request_headers: header_map(&[("user-agent", "crawlbox-test")]),
                request_body: Vec::new(),
                version: Version::HTTP_11,
                status: StatusCode::from_u16(status).expect("status"),
                response_headers: header_map(headers),
                body: body.to_vec(),
            }
        }

        fn exchange(&self) -> Exchange<'_> {
            Exchange {
                url: &self.url,
                method: &self.method,
                request_headers: &self.request_headers,
                request_body: &self.request_body,
                version: self.version,
                status: self.status,
                response_headers: &self.response_headers,
                body: &self.body,
                peer: Some("127.0.0.1".parse().expect("ip")),
                date: SystemTime::now(),
            }
        }
    }

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    /// The exchanges of the round trip: gzip'd, binary, h2, POST, redirect.
    fn sample_exchanges() -> Vec<Owned> {
        let mut exchanges = vec![Owned::get(
            "http://example.test/page",
            200,
            &[
                ("content-type", "text/html; charset=utf-8"),
                ("content-encoding", "gzip"),
                ("transfer-encoding", "chunked"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ],
            &gzip(b"<html><body>hello hello hello</body></html>"),
        )];
        let binary: Vec<u8> = (0..=255u8)
            .chain(*b"\r\n\r\nWARC/1.1\r\n")
            .cycle()
            .take(5000)
            .collect();
        exchanges.push(Owned::get(
            "https://example.test/data.bin?x=1&y=2",
            200,
            &[
                ("content-type", "application/octet-stream"),
                ("content-length", "5000"),
            ],
            &binary,
        ));
        let mut h2 = Owned::get(
            "https://h2.example.test/",
            200,
            &[("content-type", "text/plain"), ("content-length", "2")],
            b"h2",
        );
        h2.version = Version::HTTP_2;
        exchanges.push(h2);
        let mut post = Owned::get(
            "http://example.test:8080/submit?a=1",
            201,
            &[("content-length", "7")],
            b"created",
        );
        post.method = Method::POST;
        post.request_headers = header_map(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "9"),
        ]);
        post.request_body = b"name=test".to_vec();
        exchanges.push(post);
        exchanges.push(Owned::get(
            "http://example.test/old",
            301,
            &[
                ("location", "http://example.test/page"),
                ("content-length", "0"),
            ],
            b"",
        ));
        exchanges
    }

    fn assert_replays(recording: &Recording, owned: &Owned) {
        let recorded = recording
            .get(&owned.method, &owned.url)
            .unwrap_or_else(|| panic!("{} {} not found", owned.method, owned.url))
            .expect("readable");
        assert_eq!(recorded.status, owned.status, "{}", owned.url);
        assert_eq!(recorded.version, owned.version, "{}", owned.url);
        let mut expected = owned.response_headers.clone();
        expected.remove(header::TRANSFER_ENCODING);
        assert_eq!(recorded.headers, expected, "{}", owned.url);
        assert_eq!(&recorded.body[..], &owned.body[..], "{}", owned.url);
    }

    #[test]
    fn types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<WarcWriter>();
        check::<Recording>();
    }

    #[test]
    fn round_trip() {
        let dir = TempDir::new("round-trip");
        let writer = WarcWriter::create(&dir.0, "crawlbox-test/1").expect("create");
        let exchanges = sample_exchanges();
        for owned in &exchanges {
            writer.write(&owned.exchange()).expect("write");
        }
        let files = writer.files();
        assert_eq!(files.len(), 1);
        let name = files[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with("crawlbox-") && name.ends_with("-00000.warc.gz"),
            "{name}"
        );
        assert_eq!(
            name.len(),
            "crawlbox-20240101000000--00000.warc.gz".len() + std::process::id().to_string().len()
        );

        let recording = Recording::open(&dir.0).expect("open");
        assert_eq!(recording.len(), exchanges.len());
        assert!(!recording.is_empty());
        for owned in &exchanges {
            assert_replays(&recording, owned);
        }
        // A fragment is never sent, so it does not matter.
        assert!(
            recording
                .get(&Method::GET, "http://example.test/page#top")
                .is_some()
        );
    }

    #[test]
    fn unknown_key_is_none() {
        let dir = TempDir::new("unknown");
        let writer = WarcWriter::create(&dir.0, "crawlbox-test/1").expect("create");
        writer
            .write(&Owned::get("http://example.test/", 200, &[], b"x").exchange())
            .expect("write");
        let recording = Recording::open(&dir.0).expect("open");
        assert!(
            recording
                .get(&Method::GET, "http://example.test/other")
                .is_none()
        );
        assert!(
            recording
                .get(&Method::HEAD, "http://example.test/")
                .is_none()
        );
        assert!(
            recording
                .get(&Method::POST, "http://example.test/")
                .is_none()
        );
        assert!(
            recording
                .get(&Method::GET, "https://example.test/")
                .is_none()
        );
        assert!(
            recording
                .get(&Method::GET, "http://example.test/")
                .is_some()
        );
    }

    #[test]
    fn two_files_and_later_duplicate_wins() {
        let dir = TempDir::new("two-files");
        let first = WarcWriter::create(&dir.0, "crawlbox-test/1").expect("create");
        first
            .write(&Owned::get("http://example.test/a", 200, &[], b"first a").exchange())
            .expect("write");
        first
            .write(&Owned::get("http://example.test/same", 200, &[], b"old").exchange())
            .expect("write");
        first
            .write(&Owned::get("http://example.test/same", 200, &[], b"newer").exchange())
            .expect("write");
        // Same second, same pid: the name is taken, so the serial moves on.
        let second = WarcWriter::create(&dir.0, "crawlbox-test/1").expect("create");
        second
            .write(&Owned::get("http://example.test/b", 200, &[], b"second b").exchange())
            .expect("write");
        second
            .write(&Owned::get("http://example.test/dup", 404, &[], b"gone").exchange())
            .expect("write");
        // Files are read in name order, and the second one's name is later
        // (a later time, or the same and a higher serial): its record wins
        // over one written afterwards to the first file.
        assert!(first.files()[0] < second.files()[0]);
        first
            .write(&Owned::get("http://example.test/dup", 200, &[], b"first file").exchange())
            .expect("write");

        let recording = Recording::open(&dir.0).expect("open");
        assert_eq!(recording.len(), 4);
        let body = |url: &str| {
            recording
                .get(&Method::GET, url)
                .expect("present")
                .expect("readable")
                .body
        };
        assert_eq!(&body("http://example.test/a")[..], b"first a");
        assert_eq!(&body("http://example.test/b")[..], b"second b");
        assert_eq!(&body("http://example.test/same")[..], b"newer");
        assert_eq!(&body("http://example.test/dup")[..], b"gone");
    }

    /// An uncompressed record, written by hand.
    fn raw_record(fields: &str, block: &[u8]) -> Vec<u8> {
        let mut record = format!(
            "WARC/1.0\r\n{fields}Content-Length: {}\r\n\r\n",
            block.len()
        )
        .into_bytes();
        record.extend_from_slice(block);
        record.extend_from_slice(b"\r\n\r\n");
        record
    }

    /// A WARC/1.0 file as another tool writes it: uncompressed, a chunked
    /// body, no msgtype, the response linked to its request, other record
    /// types in between.
    fn foreign_warc() -> Vec<(Vec<u8>, &'static str)> {
        vec![
            (
                raw_record(
                    "WARC-Type: warcinfo\r\nWARC-Record-ID: <urn:uuid:0>\r\n\
                     Content-Type: application/warc-fields\r\n",
                    b"software: handmade\r\n",
                ),
                "warcinfo",
            ),
            (
                raw_record(
                    "WARC-Type: request\r\nWARC-Record-ID: <urn:uuid:1>\r\n\
                     WARC-Target-URI: http://old.test/form\r\nContent-Type: application/http\r\n",
                    b"POST /form HTTP/1.1\r\nHost: old.test\r\nContent-Length: 3\r\n\r\na=b",
                ),
                "request",
            ),
            (
                raw_record(
                    "WARC-Type: response\r\nWARC-Record-ID: <urn:uuid:2>\r\n\
                     WARC-Concurrent-To: <urn:uuid:1>\r\n\
                     WARC-Target-URI: <http://old.test/form>\r\nContent-Type: application/http\r\n",
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                      Transfer-Encoding: chunked\r\n\r\n\
                      4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n",
                ),
                "chunked response",
            ),
            (
                raw_record(
                    "WARC-Type: metadata\r\nWARC-Record-ID: <urn:uuid:3>\r\n\
                     WARC-Target-URI: http://old.test/form\r\n\
                     Content-Type: application/warc-fields\r\n",
                    b"outlinks: http://old.test/\r\n",
                ),
                "metadata",
            ),
            (
                raw_record(
                    "WARC-Type: revisit\r\nWARC-Record-ID: <urn:uuid:4>\r\n\
                     WARC-Target-URI: http://old.test/form\r\n\
                     WARC-Profile: http://netpreserve.org/warc/1.0/revisit/identical-payload-digest\r\n\
                     Content-Type: application/http; msgtype=response\r\n",
                    b"HTTP/1.1 200 OK\r\n\r\n",
                ),
                "revisit",
            ),
            (
                raw_record(
                    "WARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:5>\r\n\
                     WARC-Target-URI: http://old.test/form\r\nContent-Type: text/plain\r\n",
                    b"not an HTTP message",
                ),
                "resource",
            ),
            (
                raw_record(
                    "WARC-Type: response\r\nWARC-Record-ID: <urn:uuid:6>\r\n\
                     WARC-Target-URI: http://old.test/plain\r\n\
                     Content-Type: application/http; msgtype=response\r\n",
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
                ),
                "plain response",
            ),
            (
                raw_record(
                    "WARC-Type: response\r\nWARC-Record-ID: <urn:uuid:7>\r\n\
                     WARC-Target-URI: dns:old.test\r\nContent-Type: text/dns\r\n",
                    b"20240101000000\r\nold.test. 300 IN A 10.0.0.1\r\n",
                ),
                "dns response",
            ),
        ]
    }

    #[test]
    fn reads_foreign_uncompressed_warc_1_0() {
        let dir = TempDir::new("foreign");
        let bytes: Vec<u8> = foreign_warc()
            .into_iter()
            .flat_map(|(record, _)| record)
            .collect();
        fs::write(dir.0.join("other-tool.warc"), bytes).expect("write");
        let recording = Recording::open(&dir.0).expect("open");
        assert_eq!(recording.len(), 2);

        let form = recording
            .get(&Method::POST, "http://old.test/form")
            .expect("POST present")
            .expect("readable");
        assert_eq!(form.status, StatusCode::OK);
        assert_eq!(form.version, Version::HTTP_11);
        assert_eq!(&form.body[..], b"Wikipedia");
        assert!(form.headers.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(form.headers[header::CONTENT_TYPE], "text/plain");
        assert!(
            recording
                .get(&Method::GET, "http://old.test/form")
                .is_none()
        );

        let plain = recording
            .get(&Method::GET, "http://old.test/plain")
            .expect("GET present")
            .expect("readable");
        assert_eq!(plain.status, StatusCode::NOT_FOUND);
        assert_eq!(plain.version, Version::HTTP_10);
        assert_eq!(&plain.body[..], b"nope");
    }

    #[test]
    fn request_linked_from_its_request_record_in_any_order() {
        // The request names the response (as we write it), after it.
        let dir = TempDir::new("link");
        let response = raw_record(
            "WARC-Type: response\r\nWARC-Record-ID: <urn:uuid:r>\r\n\
             WARC-Target-URI: https://x.test/\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nput",
        );
        let request = raw_record(
            "WARC-Type: request\r\nWARC-Record-ID: <urn:uuid:q>\r\n\
             WARC-Concurrent-To: <urn:uuid:r>\r\nWARC-Target-URI: https://x.test/\r\n",
            b"PUT / HTTP/1.1\r\nHost: x.test\r\n\r\n",
        );
        fs::write(dir.0.join("a.warc.gz"), gzip_records(&[response, request])).expect("write");
        let recording = Recording::open(&dir.0).expect("open");
        let put = recording
            .get(&Method::PUT, "https://x.test/")
            .expect("present")
            .expect("readable");
        assert_eq!(&put.body[..], b"put");
    }

    /// `records`, each a gzip member of its own.
    fn gzip_records(records: &[Vec<u8>]) -> Vec<u8> {
        records.iter().flat_map(|record| gzip(record)).collect()
    }

    #[test]
    fn truncated_gzip_file_names_file_and_offset() {
        let dir = TempDir::new("truncated");
        let written = TempDir::new("truncated-src");
        let writer = WarcWriter::create(&written.0, "crawlbox-test/1").expect("create");
        for owned in sample_exchanges() {
            writer.write(&owned.exchange()).expect("write");
        }
        let bytes = fs::read(&writer.files()[0]).expect("read");
        // Where the last member (the last response) starts.
        let mut last = 0;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            last = bytes.len() - rest.len();
            let mut decoder = GzDecoder::new(&mut rest);
            io::copy(&mut decoder, &mut io::sink()).expect("decode");
        }
        let path = dir.0.join("cut.warc.gz");
        fs::write(&path, &bytes[..bytes.len() - 30]).expect("write");
        let err = Recording::open(&dir.0).expect_err("truncated");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("at byte {last}:")), "{message}");
        assert!(message.contains("truncated"), "{message}");
        assert!(matches!(err, WarcError::Malformed { offset, .. } if offset == last as u64));
    }

    #[test]
    fn truncated_uncompressed_file_names_file_and_offset() {
        let dir = TempDir::new("truncated-raw");
        let records = foreign_warc();
        let offset: usize = records[..2].iter().map(|(record, _)| record.len()).sum();
        let mut bytes: Vec<u8> = records[..3]
            .iter()
            .flat_map(|(record, _)| record.clone())
            .collect();
        bytes.truncate(bytes.len() - 20);
        let path = dir.0.join("cut.warc");
        fs::write(&path, bytes).expect("write");
        let err = Recording::open(&dir.0).expect_err("truncated");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("at byte {offset}:")), "{message}");
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn bounds_and_bad_input_are_errors() {
        let dir = TempDir::new("bad");
        let huge = format!(
            "WARC/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_BYTES)
        );
        fs::write(dir.0.join("huge.warc"), huge).expect("write");
        let message = Recording::open(&dir.0)
            .expect_err("huge header")
            .to_string();
        assert!(
            message.contains("huge.warc is malformed at byte 0"),
            "{message}"
        );
        assert!(message.contains("header block is larger"), "{message}");
        fs::remove_file(dir.0.join("huge.warc")).expect("remove");

        let two_in_one: Vec<u8> = foreign_warc()
            .into_iter()
            .flat_map(|(record, _)| record)
            .collect();
        fs::write(dir.0.join("whole.warc.gz"), gzip(&two_in_one)).expect("write");
        let message = Recording::open(&dir.0)
            .expect_err("multi-record member")
            .to_string();
        assert!(message.contains("warcio recompress"), "{message}");
        fs::remove_file(dir.0.join("whole.warc.gz")).expect("remove");

        fs::write(dir.0.join("not.warc"), "<html>\r\n\r\n").expect("write");
        let message = Recording::open(&dir.0).expect_err("not a WARC").to_string();
        assert!(message.contains("expected a WARC record"), "{message}");
        fs::remove_file(dir.0.join("not.warc")).expect("remove");

        let message = Recording::open(&dir.0).expect_err("empty dir").to_string();
        assert!(
            message.contains("record one first with --record DIR"),
            "{message}"
        );
        assert!(message.contains(&dir.0.display().to_string()), "{message}");
        let missing = dir.0.join("missing");
        let message = Recording::open(&missing).expect_err("no dir").to_string();
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("record one first with --record DIR"),
            "{message}"
        );
    }

    /// The records of an uncompressed WARC: (header text, block).
    fn split_records(mut data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut records = Vec::new();
        while !data.is_empty() {
            let end = data
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("header end");
            let head = String::from_utf8(data[..end + 2].to_vec()).expect("utf-8");
            let length: usize = field(&head, "Content-Length").parse().expect("length");
            let block = data[end + 4..end + 4 + length].to_vec();
            assert_eq!(&data[end + 4 + length..end + 8 + length], b"\r\n\r\n");
            data = &data[end + 8 + length..];
            records.push((head, block));
        }
        records
    }

    fn field<'a>(head: &'a str, name: &str) -> &'a str {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {head}"))
    }

    #[test]
    fn written_records_and_digests_are_correct() {
        let dir = TempDir::new("digests");
        let writer = WarcWriter::create(&dir.0, "crawlbox-test/1").expect("create");
        let exchanges = sample_exchanges();
        for owned in &exchanges {
            writer.write(&owned.exchange()).expect("write");
        }
        let mut data = Vec::new();
        MultiGzDecoder::new(Cursor::new(fs::read(&writer.files()[0]).expect("read")))
            .read_to_end(&mut data)
            .expect("decompress");
        let records = split_records(&data);
        assert_eq!(records.len(), 1 + 2 * exchanges.len());
        let b32 = |data: &[u8]| {
            let mut sha1 = sha1_smol::Sha1::new();
            sha1.update(data);
            format!("sha1:{}", BASE32.encode(&sha1.digest().bytes()))
        };
        let (info_head, info_block) = &records[0];
        assert!(info_head.starts_with("WARC/1.1\r\nWARC-Type: warcinfo\r\n"));
        let info_block = String::from_utf8_lossy(info_block);
        assert!(info_block.contains("software: crawlbox-test/1\r\n"));
        assert!(info_block.contains("format: WARC File Format 1.1\r\n"));
        assert!(info_block.contains(&format!("conformsTo: {WARC_1_1_SPEC}\r\n")));
        let info_id = field(info_head, "WARC-Record-ID");

        for (i, (head, block)) in records.iter().enumerate() {
            assert!(head.starts_with("WARC/1.1\r\n"));
            assert_eq!(field(head, "WARC-Block-Digest"), b32(block), "record {i}");
            let date = field(head, "WARC-Date");
            assert!(
                humantime::parse_rfc3339(date).is_ok() && date.len() == 27,
                "{date}"
            );
            let id = field(head, "WARC-Record-ID");
            assert!(
                id.starts_with("<urn:uuid:") && id.len() == 47 && id.as_bytes()[24] == b'4',
                "{id}"
            );
            if i == 0 {
                continue;
            }
            assert_eq!(field(head, "WARC-Warcinfo-ID"), info_id);
            assert_eq!(field(head, "WARC-IP-Address"), "127.0.0.1");
            let owned = &exchanges[(i - 1) / 2];
            assert_eq!(field(head, "WARC-Target-URI"), owned.url);
            assert_eq!(
                head.contains("WARC-Protocol: h2\r\n"),
                owned.version == Version::HTTP_2
            );
            let http_end = block
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("http head")
                + 4;
            let http_head = String::from_utf8_lossy(&block[..http_end]);
            let payload = &block[http_end..];
            if i % 2 == 1 {
                assert_eq!(field(head, "WARC-Type"), "request");
                assert_eq!(
                    field(head, "Content-Type"),
                    "application/http;msgtype=request"
                );
                let (response_head, _) = &records[i + 1];
                assert_eq!(
                    field(head, "WARC-Concurrent-To"),
                    field(response_head, "WARC-Record-ID")
                );
                assert_eq!(payload, &owned.request_body[..]);
            } else {
                assert_eq!(field(head, "WARC-Type"), "response");
                assert_eq!(
                    field(head, "Content-Type"),
                    "application/http;msgtype=response"
                );
                assert_eq!(field(head, "WARC-Payload-Digest"), b32(payload));
                assert_eq!(payload, &owned.body[..]);
                assert!(!http_head.contains("transfer-encoding"), "{http_head}");
            }
        }
        let text = String::from_utf8_lossy(&data);
        assert!(
            text.contains("POST /submit?a=1 HTTP/1.1\r\nhost: example.test:8080\r\ncontent-type:")
        );
        assert!(text.contains("GET /data.bin?x=1&y=2 HTTP/1.1\r\nhost: example.test\r\n"));
        assert!(text.contains(
            "\r\n\r\nHTTP/1.1 301 Moved Permanently\r\nlocation: http://example.test/page\r\n"
        ));
        assert!(text.contains("\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-encoding: gzip\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"));
    }

    #[test]
    fn rotation_keeps_warcinfo_ids_right() {
        let dir = TempDir::new("rotate");
        let writer = WarcWriter::create(&dir.0, "crawlbox-test/1").expect("create");
        let exchange = Owned::get("http://example.test/again", 200, &[], b"again");
        writer.write(&exchange.exchange()).expect("write");
        assert_eq!(writer.files().len(), 1, "no rotation below the limit");
        // Not a GiB of data: pretend the file is nearly full.
        writer.lock().written = MAX_FILE_BYTES - 1;
        writer.write(&exchange.exchange()).expect("write");
        let files = writer.files();
        assert_eq!(files.len(), 2, "rotated past the limit");
        assert!(
            files[1].to_string_lossy().ends_with("-00001.warc.gz"),
            "{files:?}"
        );
        writer.write(&exchange.exchange()).expect("write");
        assert_eq!(writer.files().len(), 2);

        let mut data = Vec::new();
        MultiGzDecoder::new(File::open(&files[1]).expect("open"))
            .read_to_end(&mut data)
            .expect("decompress");
        let records = split_records(&data);
        assert_eq!(records.len(), 3, "warcinfo, request, response");
        let info_id = field(&records[0].0, "WARC-Record-ID");
        assert_eq!(field(&records[1].0, "WARC-Warcinfo-ID"), info_id);
        assert_eq!(field(&records[2].0, "WARC-Warcinfo-ID"), info_id);
        assert_eq!(Recording::open(&dir.0).expect("open").len(), 1);
    }

    #[test]
    fn split_url_gives_authority_and_origin_form() {
        assert_eq!(split_url("http://a.test"), ("a.test", ""));
        assert_eq!(split_url("http://a.test?q=1"), ("a.test", "?q=1"));
        assert_eq!(
            split_url("https://u:p@a.test:8443/x/y?z#frag"),
            ("a.test:8443", "/x/y?z")
        );
    }

    #[test]
    fn dechunk_handles_odd_input() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\n\r\n").as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(dechunk(b"3\nabc\n0\n").as_deref(), Some(&b"abc"[..]));
        assert_eq!(dechunk(b"3\r\nabc\r\n").as_deref(), Some(&b"abc"[..]));
        assert_eq!(dechunk(b"plain body"), None);
        assert_eq!(dechunk(b"ff\r\nshort"), None);
        assert_eq!(dechunk(b"+3\r\nabc\r\n0\r\n\r\n"), None);
    }

    /// Leaves a sample in `$TMPDIR/crawlbox-warcio-sample/` for
    /// `warcio index` and `warcio check -v`.
    #[test]
    #[ignore = "writes a sample WARC for checking with warcio"]
    fn write_sample_for_warcio() {
        let dir = std::env::temp_dir().join("crawlbox-warcio-sample");
        let _ = fs::remove_dir_all(&dir);
        let writer = WarcWriter::create(&dir, "crawlbox-test/1").expect("create");
        for owned in sample_exchanges() {
            writer.write(&owned.exchange()).expect("write");
        }
        for file in writer.files() {
            println!("{}", file.display());
        }
    }
}
