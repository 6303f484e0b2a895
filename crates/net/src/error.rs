use std::fmt;

/// What kind of failure a [`FetchError`] is. Stable names (see
/// [`ErrorKind::as_str`]) are used in stats and in the guest interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The request is malformed: bad URL, method, header or scheme.
    InvalidRequest,
    /// The host name could not be resolved.
    Dns,
    /// No connection could be made, or it broke while sending.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// A connect, first-byte or whole-request timeout expired.
    Timeout,
    /// The response body exceeded the size limit.
    TooLarge,
    /// Policy refused the request.
    Denied,
    /// The server broke the protocol or closed the connection early.
    Protocol,
    /// Too many redirects, or a redirect loop.
    TooManyRedirects,
    /// The site's robots.txt disallows the URL (or could not be fetched).
    DeniedByRobots,
    /// A replay ([`Archive::Replay`](crate::Archive::Replay)) has no
    /// recording of this request, and may not go out for it.
    NotRecorded,
}

impl ErrorKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::TooLarge,
        ErrorKind::Denied,
        ErrorKind::Protocol,
        ErrorKind::TooManyRedirects,
        ErrorKind::DeniedByRobots,
        ErrorKind::NotRecorded,
    ];

    /// The kebab-case name, as in the WIT `fetch-error` variant (where
    /// `not-recorded`, newer than `crawlbox:plugin@0.2.0`, arrives as
    /// `other` with a message that starts `not-recorded: `).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Denied => "denied",
            ErrorKind::Protocol => "protocol",
            ErrorKind::TooManyRedirects => "too-many-redirects",
            ErrorKind::DeniedByRobots => "denied-by-robots",
            ErrorKind::NotRecorded => "not-recorded",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which limit a [`ErrorKind::Timeout`] ran out of.
///
/// The kind stays `timeout` for every one of them (stats and the
/// `crawlbox:plugin` interface count them together), but `wasi:http` has a
/// distinct error code for each phase, and a guest that retries wants to
/// know whether the server never answered or answered too slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeoutKind {
    /// Resolving, connecting and the TLS handshake took longer than the
    /// connect timeout.
    Connect,
    /// The response headers did not arrive within the first-byte timeout.
    FirstByte,
    /// No piece of the body arrived within the between-bytes timeout.
    BetweenBytes,
    /// The whole request (redirects, retries and body included) took longer
    /// than the request timeout.
    Whole,
}

impl TimeoutKind {
    /// The kebab-case name, for messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::FirstByte => "first-byte",
            TimeoutKind::BetweenBytes => "between-bytes",
            TimeoutKind::Whole => "request",
        }
    }
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: its [`ErrorKind`] and a message that names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct FetchError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A human-readable description, naming the URL or host where useful.
    pub message: String,
    /// For a [`ErrorKind::Timeout`] raised by one of the client's own
    /// limits: which one ran out (`None` for other kinds, and for timeouts
    /// reported by hyper itself).
    pub timeout: Option<TimeoutKind>,
}

impl FetchError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            timeout: None,
        }
    }

    /// A [`ErrorKind::Timeout`] raised when limit `which` ran out. Every
    /// place that enforces one of the client's timeouts builds its error
    /// here, so that the phase is never lost on the way to the guest.
    pub fn timeout(which: TimeoutKind, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Timeout,
            message: message.into(),
            timeout: Some(which),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// Classifies an error from hyper while a request or response is under way.
    pub(crate) fn from_hyper(err: &hyper::Error, what: &str) -> Self {
        let kind = if err.is_timeout() {
            ErrorKind::Timeout
        } else if err.is_parse_too_large() {
            ErrorKind::TooLarge
        } else {
            ErrorKind::Protocol
        };
        let mut message = format!("{what}: {err}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::new(kind, message)
    }
}
