//! `wasi:http/outgoing-handler` served by crawlbox's pooled client instead
//! of wasmtime-wasi-http's connection-per-request default.

use std::sync::Arc;

use crawlbox_net::{ErrorKind, FetchError, ReadBodyError, SendOptions, Session, TimeoutKind};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks};

/// The hooks of one plugin run: every request goes to its [`Session`].
pub(crate) struct HttpHooks {
    pub(crate) session: Session,
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for HttpHooks {
    /// The guest learns at `fields` construction that a header is the
    /// host's to set (the net layer refuses them again on send).
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(crawlbox_net::is_forbidden_header)
    }

    /// The net layer sets `host` from the URL; a guest cannot.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send> {
        let session = self.session.clone();
        Box::new(async move {
            // Buffer the request body: streaming a guest body straight into
            // a pooled connection lost requests (see docs/notes), and a
            // buffered body can be replayed on a stale keep-alive connection.
            // It is held against the session's budget for requests not sent
            // yet, as it arrives: a guest that writes without end is stopped
            // at the budget, not at the host's memory.
            let (parts, body) = request.into_parts();
            let held = session.read_request_body(body).await.map_err(|e| match e {
                ReadBodyError::Body(e) => e,
                ReadBodyError::TooLarge { read, error } => {
                    tracing::debug!(target: "plugin", "wasi:http request failed: {error}");
                    Error::HttpRequestBodySize(Some(read))
                }
            })?;
            let options = SendOptions {
                connect_timeout: options.and_then(|o| o.connect_timeout),
                first_byte_timeout: options.and_then(|o| o.first_byte_timeout),
                between_bytes_timeout: options.and_then(|o| o.between_bytes_timeout),
                timeout: None,
            };
            let response = session
                .send(http::Request::from_parts(parts, held.bytes()), options)
                .await
                .map_err(to_wasi_error)?;
            drop(held); // sent
            let response = response.map(|body| body.map_err(to_wasi_error).boxed_unsync());
            // The pool drives connections on tasks of its own.
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// `wasi:http` error codes carry no message, so log it here.
fn to_wasi_error(err: FetchError) -> Error {
    tracing::debug!(target: "plugin", "wasi:http request failed: {err}");
    match err.kind {
        ErrorKind::InvalidRequest => Error::HttpRequestUriInvalid,
        ErrorKind::Dns => Error::DnsError {
            rcode: Some(err.message),
            info_code: None,
        },
        ErrorKind::Connect => Error::ConnectionRefused,
        ErrorKind::Tls => Error::TlsProtocolError,
        // wasi:http names the phase: a guest may retry a connect timeout
        // elsewhere, but not a server that answered too slowly.
        ErrorKind::Timeout => match err.timeout {
            Some(TimeoutKind::Connect) => Error::ConnectionTimeout,
            Some(TimeoutKind::FirstByte | TimeoutKind::BetweenBytes) => {
                Error::ConnectionReadTimeout
            }
            Some(TimeoutKind::Whole) | None => Error::HttpResponseTimeout,
        },
        ErrorKind::TooLarge => Error::HttpResponseBodySize(None),
        ErrorKind::Denied | ErrorKind::DeniedByRobots => Error::HttpRequestDenied,
        ErrorKind::Protocol => Error::HttpProtocolError,
        ErrorKind::TooManyRedirects => Error::LoopDetected,
        ErrorKind::NotRecorded => {
            Error::InternalError(Some(format!("not-recorded: {}", err.message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_timeout_maps_to_its_wasi_http_code() {
        let timeout = |which| to_wasi_error(FetchError::timeout(which, "t"));
        assert!(matches!(
            timeout(TimeoutKind::Connect),
            Error::ConnectionTimeout
        ));
        assert!(matches!(
            timeout(TimeoutKind::FirstByte),
            Error::ConnectionReadTimeout
        ));
        assert!(matches!(
            timeout(TimeoutKind::BetweenBytes),
            Error::ConnectionReadTimeout
        ));
        assert!(matches!(
            timeout(TimeoutKind::Whole),
            Error::HttpResponseTimeout
        ));
        // A timeout of unknown phase (hyper's own) stays the response's.
        assert!(matches!(
            to_wasi_error(FetchError::new(ErrorKind::Timeout, "t")),
            Error::HttpResponseTimeout
        ));
    }
}
