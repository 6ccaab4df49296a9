//! Structured JSON logs for CloudWatch.

use tracing_subscriber::EnvFilter;

/// Install a JSON subscriber filtered by `RUST_LOG` (default `info`).
///
/// Handlers open a span with the tenant and request id, so every line logged
/// while serving a request carries both. Nothing in this crate logs
/// credentials, tokens or object bodies.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}
