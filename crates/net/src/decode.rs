//! Content decoding for `fetch`: gzip, deflate, br and zstd, with the size
//! limit applied to the decoded bytes (a decompression bomb is `too-large`).

use std::io::Read;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};

use crate::{ErrorKind, FetchError};

/// The `accept-encoding` sent when a plugin sets none.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// Decodes `body` as `headers` say, in place; removes `content-encoding`
/// and `content-length` when it did. Unknown codings are left as they are.
pub(crate) fn decode(
    url: &str,
    headers: &mut HeaderMap,
    body: Bytes,
    limit: u64,
) -> Result<Bytes, FetchError> {
    let Some(codings) = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return Ok(body);
    };
    let codings: Vec<String> = codings
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    if codings
        .iter()
        .any(|c| !matches!(c.as_str(), "gzip" | "x-gzip" | "deflate" | "br" | "zstd"))
    {
        return Ok(body);
    }
    let mut body = body;
    // Codings are listed in the order they were applied.
    for coding in codings.iter().rev() {
        body = decode_one(url, coding, &body, limit)?;
    }
    headers.remove(CONTENT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    Ok(body)
}

fn decode_one(url: &str, coding: &str, body: &[u8], limit: u64) -> Result<Bytes, FetchError> {
    let reader: Box<dyn Read + '_> = match coding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        // HTTP's "deflate" is zlib-wrapped, but some servers send it raw.
        "deflate" if body.first().is_some_and(|b| b & 0x0f == 8) => {
            Box::new(flate2::read::ZlibDecoder::new(body))
        }
        "deflate" => Box::new(flate2::read::DeflateDecoder::new(body)),
        "br" => Box::new(brotli::Decompressor::new(body, 16 * 1024)),
        "zstd" => Box::new(ruzstd::decoding::StreamingDecoder::new(body).map_err(|e| {
            FetchError::new(
                ErrorKind::Protocol,
                format!("{url}: invalid zstd body: {e}"),
            )
        })?),
        other => unreachable!("unsupported coding {other} was filtered out"),
    };
    let capacity = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(capacity));
    // One byte past the limit tells a body at the limit from a larger one.
    // (Saturating: the limit is configuration, `--max-response-size` may be
    // u64::MAX, and `limit + 1` would wrap to `take(0)`: an empty body.)
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            FetchError::new(
                ErrorKind::Protocol,
                format!("{url}: invalid {coding} body: {e}"),
            )
        })?;
    if out.len() as u64 > limit {
        return Err(FetchError::new(
            ErrorKind::TooLarge,
            format!("{url}: the {coding} body decodes to more than the limit of {limit} bytes"),
        ));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    fn headers(coding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, coding.parse().unwrap());
        h.insert(CONTENT_LENGTH, "10".parse().unwrap());
        h
    }

    #[test]
    fn gzip_and_brotli_decode() {
        let mut h = headers("gzip");
        let out = decode("u", &mut h, gzip(b"hello gzip"), 1000).unwrap();
        assert_eq!(&out[..], b"hello gzip");
        assert!(h.get(CONTENT_ENCODING).is_none() && h.get(CONTENT_LENGTH).is_none());

        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
            .write_all(b"hello br")
            .unwrap();
        let out = decode("u", &mut headers("br"), Bytes::from(br), 1000).unwrap();
        assert_eq!(&out[..], b"hello br");
    }

    #[test]
    fn the_largest_limit_does_not_wrap_around() {
        let out = decode("u", &mut headers("gzip"), gzip(b"hello"), u64::MAX).unwrap();
        assert_eq!(&out[..], b"hello");
    }

    #[test]
    fn a_bomb_is_too_large() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 100 << 10);
        let err = decode("u", &mut headers("gzip"), bomb, 1 << 20).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLarge);
    }

    #[test]
    fn garbage_is_a_protocol_error_and_unknown_codings_pass() {
        let err = decode("u", &mut headers("gzip"), Bytes::from_static(b"nope"), 100).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        let mut h = headers("compress");
        let out = decode("u", &mut h, Bytes::from_static(b"raw"), 100).unwrap();
        assert_eq!(&out[..], b"raw");
        assert!(h.get(CONTENT_ENCODING).is_some());
    }
}
