//! Decoding a response body to text, with encoding_rs.
//!
//! The encoding is, in this order: the one the request names
//! ([`TextDecoding::Charset`]); a byte-order mark; the `charset` parameter
//! of `content-type`; for HTML, a `<meta charset>` or
//! `<meta http-equiv="content-type" content="…; charset=…">` in the first
//! 1024 bytes (as browsers prescan); otherwise UTF-8 if the body is valid
//! UTF-8, else windows-1252 (what browsers assume for legacy Western pages).

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use http::HeaderMap;
use http::header::CONTENT_TYPE;

use crate::FetchError;

/// How [`Session::fetch`](crate::Session::fetch) decodes a body to text.
/// Serialised as `"detect"` or `{"charset": LABEL}` (in a crawl's journal
/// and its Redis frontier).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextDecoding {
    /// Find the encoding from the response (see the [module docs](self)).
    Detect,
    /// Use this encoding, a WHATWG label such as `shift_jis` or `latin1`.
    Charset(String),
}

impl TextDecoding {
    /// Checks an explicit label up front, so a typo fails before any request
    /// is sent.
    pub fn validate(&self) -> Result<(), FetchError> {
        match self {
            TextDecoding::Detect => Ok(()),
            TextDecoding::Charset(label) => encoding_for_label(label).map(drop),
        }
    }
}

/// A body decoded to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedText {
    /// The text; malformed sequences replaced by U+FFFD.
    pub text: String,
    /// The WHATWG name of the encoding used, e.g. `UTF-8` or `Shift_JIS`.
    pub encoding: &'static str,
}

fn encoding_for_label(label: &str) -> Result<&'static Encoding, FetchError> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        FetchError::invalid(format!(
            "unknown text encoding {label:?}: use a WHATWG label such as utf-8, \
             windows-1252, shift_jis, euc-kr or gb18030"
        ))
    })
}

/// Decodes `body` as `how` says, with `headers` of its response.
pub fn decode_text(
    how: &TextDecoding,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<DecodedText, FetchError> {
    let (text, used) = match how {
        // An explicit choice wins even over a byte-order mark (only its
        // own BOM is dropped).
        TextDecoding::Charset(label) => {
            let encoding = encoding_for_label(label)?;
            (encoding.decode_with_bom_removal(body).0, encoding)
        }
        TextDecoding::Detect => {
            let (text, used, _malformed) = detect(headers, body).decode(body);
            (text, used)
        }
    };
    Ok(DecodedText {
        text: text.into_owned(),
        encoding: used.name(),
    })
}

/// `body` as text, its encoding detected as [`TextDecoding::Detect`]
/// does, borrowed when it is UTF-8 already (most pages): what extraction
/// parses, without a copy of the page.
pub(crate) fn detected_text<'a>(headers: &HeaderMap, body: &'a [u8]) -> std::borrow::Cow<'a, str> {
    detect(headers, body).decode(body).0
}

fn detect(headers: &HeaderMap, body: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(body) {
        return encoding;
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(encoding) = charset_param(content_type).and_then(label) {
        return encoding;
    }
    let is_html = {
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        mime.eq_ignore_ascii_case("text/html")
            || mime.eq_ignore_ascii_case("application/xhtml+xml")
            || (mime.is_empty() && looks_like_html(body))
    };
    if is_html && let Some(encoding) = meta_charset(&body[..body.len().min(1024)]) {
        return encoding;
    }
    if std::str::from_utf8(body).is_ok() {
        UTF_8
    } else {
        WINDOWS_1252
    }
}

/// A label as a `charset` names it; UTF-16 in a header or meta tag of an
/// ASCII-compatible document means UTF-8 (WHATWG prescan rule).
fn label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes()).map(|e| e.output_encoding())
}

/// The `charset` parameter of a `content-type` value.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
    })
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<meta")
}

/// A simplified WHATWG prescan: `<meta charset=X>` or
/// `<meta http-equiv=content-type content="…charset=X">`.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("<meta") {
        rest = &rest[at + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(value) = attribute(tag, "charset")
            && let Some(encoding) = label(value)
        {
            return Some(encoding);
        }
        if attribute(tag, "http-equiv").is_some_and(|v| v.trim() == "content-type")
            && let Some(content) = attribute(tag, "content")
            && let Some(encoding) = charset_param(&format!("x;{content}")).and_then(label)
        {
            return Some(encoding);
        }
    }
    None
}

/// The value of attribute `name` in the inside of a (lower-cased) tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0
            || rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_whitespace() || c == '/' || c == '"' || c == '\'');
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if !before_ok {
            continue;
        }
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        let value = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &after[1..];
                &inner[..inner.find(quote).unwrap_or(inner.len())]
            }
            _ => {
                let end = after
                    .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                    .unwrap_or(after.len());
                &after[..end]
            }
        };
        return Some(value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !content_type.is_empty() {
            h.insert(CONTENT_TYPE, content_type.parse().unwrap());
        }
        h
    }

    fn detected(content_type: &str, body: &[u8]) -> DecodedText {
        decode_text(&TextDecoding::Detect, &headers(content_type), body).unwrap()
    }

    #[test]
    fn content_type_charset() {
        let body = b"caf\xe9";
        let t = detected("text/plain; charset=ISO-8859-1", body);
        assert_eq!((t.text.as_str(), t.encoding), ("café", "windows-1252"));
        let t = detected("text/html; charset=\"shift_jis\"", b"\x93\xfa\x96\x7b");
        assert_eq!((t.text.as_str(), t.encoding), ("日本", "Shift_JIS"));
    }

    #[test]
    fn bom_wins_over_header() {
        let t = detected("text/plain; charset=latin1", b"\xef\xbb\xbfcaf\xc3\xa9");
        assert_eq!((t.text.as_str(), t.encoding), ("café", "UTF-8"));
        let t = detected("", b"\xff\xfeh\0i\0");
        assert_eq!((t.text.as_str(), t.encoding), ("hi", "UTF-16LE"));
    }

    #[test]
    fn meta_charset_in_html() {
        let page = b"<!DOCTYPE html><html><head><meta charset=\"euc-kr\"><title>\xc7\xd1</title>";
        let t = detected("text/html", page);
        assert_eq!(t.encoding, "EUC-KR");
        assert!(t.text.contains("<title>한</title>"), "{}", t.text);
        let page = b"<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=windows-1251\">\xcf\xf0\xe8";
        let t = detected("text/html", page);
        assert_eq!(t.encoding, "windows-1251");
        assert!(t.text.ends_with("При"), "{}", t.text);
        // A meta tag in a non-HTML body is not a declaration.
        let t = detected("text/plain", b"<meta charset=koi8-r> caf\xc3\xa9");
        assert_eq!(t.encoding, "UTF-8");
        // UTF-16 declared in a meta tag means UTF-8.
        let t = detected("text/html", b"<meta charset=utf-16>ok");
        assert_eq!(t.encoding, "UTF-8");
    }

    #[test]
    fn fallback() {
        assert_eq!(detected("", "naïve".as_bytes()).encoding, "UTF-8");
        let t = detected("text/html", b"na\xefve");
        assert_eq!((t.text.as_str(), t.encoding), ("naïve", "windows-1252"));
    }

    #[test]
    fn explicit_override() {
        let how = TextDecoding::Charset("latin1".into());
        let t = decode_text(&how, &headers("text/html; charset=utf-8"), b"\xc3\xa9").unwrap();
        assert_eq!((t.text.as_str(), t.encoding), ("Ã©", "windows-1252"));
        let bad = TextDecoding::Charset("klingon".into());
        assert!(bad.validate().unwrap_err().message.contains("klingon"));
        assert!(decode_text(&bad, &HeaderMap::new(), b"").is_err());
    }
}
