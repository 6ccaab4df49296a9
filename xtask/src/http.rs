//! The tools' one HTTP client (ureq): loopback calls to the local stack, the
//! deployed API and Cognito's sign-in, over HTTP or verified HTTPS.

use std::time::Duration;

/// An answer: status, headers (lower-case names, in order) and body.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, whole.
    pub body: Vec<u8>,
}

/// Send one request and read the whole answer, whatever its status, within
/// `timeout`. An error is only a failure to exchange (connect, TLS, time-out).
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Reply, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // The answers printed are the API's own, redirects included.
        .max_redirects(0)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(body.unwrap_or_default().to_vec())
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let mut response = agent
        .run(request)
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}
