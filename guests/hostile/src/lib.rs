//! Helpers shared by the hostile plugins in `examples/`: each attack emits a
//! record before it strikes, so the tests can check nothing was lost.

use crawlbox_guest::{Result, emit};
use serde_json::json;

/// Emits `{"before": attack}`.
pub fn before(attack: &str) -> Result<()> {
    emit(&json!({ "before": attack }))?;
    Ok(())
}

/// GETs `url` through standard wasi:http (wstd); the status or the error.
pub fn wasi_http_get(url: &str, headers: &[(&str, &str)]) -> Result<u16, String> {
    wstd::runtime::block_on(async {
        let mut request = wstd::http::Request::get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(wstd::http::Body::empty())
            .map_err(|e| format!("invalid request: {e}"))?;
        let response = wstd::http::Client::new()
            .send(request)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        body.contents().await.map_err(|e| format!("{e:?}"))?;
        Ok(status)
    })
}
