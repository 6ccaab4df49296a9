//! Structured logs for CloudWatch, configured the way Lambda's advanced
//! logging controls say.
//!
//! - Level: `AWS_LAMBDA_LOG_LEVEL` (set by the function's `LoggingConfig`;
//!   `FATAL` counts as `ERROR`), else `RUST_LOG`, else `info`.
//! - Format: JSON lines, unless `AWS_LAMBDA_LOG_FORMAT` is `Text`.
//! - Every line logged while serving a request carries the span
//!   [`crate::http::Envelope`] opens: `tenant`, `request_id` (API Gateway's),
//!   `lambda_request_id` and `trace_id` (the X-Ray trace header).
//!
//! Nothing in this crate logs credentials, tokens, presigned URLs or object
//! bodies.

use std::fmt::Display;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Install the subscriber for this process, writing to stdout.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(
        &|name: &str| std::env::var(name).ok(),
        std::io::stdout,
    ));
}

/// The subscriber [`init`] installs, reading settings with `env` and writing
/// with `writer` (tests capture the lines).
pub fn subscriber<W>(
    env: &dyn Fn(&str) -> Option<String>,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = env("AWS_LAMBDA_LOG_LEVEL")
        .map(|level| match level.to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            other => other.to_owned(),
        })
        .or_else(|| env("RUST_LOG"))
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_writer(writer);
    let text = env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("text"));
    if text {
        Box::new(builder.with_ansi(false).finish())
    } else {
        Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        )
    }
}

/// Log a failed cold start as one line naming what is wrong (for a
/// configuration error, the variable).
pub fn log_init_failure<E: Display>(err: &E) {
    tracing::error!(error = %err, "cold start failed");
}

/// The value of a cold-start step, or, when it failed, one log line
/// ([`log_init_failure`]) and exit status 1: no Rust `Debug` dump of the
/// error follows it, as it would if `main` returned the error.
///
/// ```
/// let port: u16 = tenant_access::telemetry::or_exit("5432".parse::<u16>());
/// assert_eq!(port, 5432);
/// ```
pub fn or_exit<T, E: Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| {
        log_init_failure(&err);
        std::process::exit(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Lines written by a subscriber, for reading back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect()
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    /// Lines are JSON; AWS_LAMBDA_LOG_LEVEL beats RUST_LOG (and FATAL means
    /// errors only); a configuration error is one line naming the variable.
    #[test]
    fn lambda_log_controls_are_honoured() {
        let out = Captured::default();
        let sub = subscriber(
            &env(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")]),
            out.clone(),
        );
        tracing::subscriber::with_default(sub, || {
            tracing::info!("hidden");
            tracing::warn!("shown");
            let err = crate::config::AccessConfig::from_lookup(|_: &str| None).unwrap_err();
            log_init_failure(&err);
        });
        let lines = out.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["fields"]["message"], "shown");
        assert_eq!(lines[1]["level"], "ERROR");
        let error = lines[1]["fields"]["error"].as_str().unwrap();
        assert!(error.contains("AWS_ACCOUNT_ID"), "{error}");

        let out = Captured::default();
        let sub = subscriber(&env(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]), out.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::warn!("hidden");
            tracing::error!("shown");
        });
        assert_eq!(out.lines().len(), 1);
    }

    #[cfg(feature = "lambda-http")]
    /// Every line logged while serving a request carries the tenant, API
    /// Gateway's request id, Lambda's request id and the X-Ray trace id.
    #[test]
    fn request_lines_carry_request_tenant_and_trace() {
        use lambda_http::RequestExt;
        let out = Captured::default();
        let sub = subscriber(&env(&[]), out.clone());
        let mut context = lambda_http::Context::default();
        context.request_id = "lambda-req-1".to_owned();
        context.xray_trace_id = Some("Root=1-abc;Parent=def;Sampled=1".to_owned());
        let request = crate::http::test_request("tenant1", "gw-req-1").with_lambda_context(context);
        let config = crate::config::AccessConfig::from_lookup(|name: &str| {
            (name == "AWS_ACCOUNT_ID").then(|| "123456789012".to_owned())
        })
        .unwrap();
        tracing::subscriber::with_default(sub, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(
                crate::http::Envelope::new(&config).serve(&request, |_| async {
                    tracing::info!("inside the handler");
                    Ok(lambda_http::Response::new(lambda_http::Body::Empty))
                }),
            );
        });
        let lines = out.lines();
        assert_eq!(lines.len(), 2, "the handler's line and the envelope's");
        for line in lines {
            let span = &line["span"];
            assert_eq!(span["tenant"], "tenant1", "{line}");
            assert_eq!(span["request_id"], "gw-req-1", "{line}");
            assert_eq!(span["lambda_request_id"], "lambda-req-1", "{line}");
            assert_eq!(
                span["trace_id"], "Root=1-abc;Parent=def;Sampled=1",
                "{line}"
            );
        }
    }
}
