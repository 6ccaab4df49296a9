//! The AWS SDK's shared configuration, with one TLS stack and bounded
//! retries and time-outs.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sts::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// The HTTPS client every SDK client here uses: hyper with rustls on ring,
/// the same crypto provider the Postgres TLS uses, so one TLS stack is built.
pub fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Attempts per AWS call, the first included: the SDK's standard retry
/// strategy (exponential back-off with jitter, and a retry quota that stops
/// retrying when most calls fail) retries throttling and transient errors.
pub const MAX_ATTEMPTS: u32 = 3;

/// Bound on establishing a connection to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Bound on one attempt of an AWS call. The request's own deadline bounds
/// the call as a whole (see [`crate::http::Envelope`]).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// The retry and time-out settings of every AWS client here.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// See [`CONNECT_TIMEOUT`] and [`ATTEMPT_TIMEOUT`].
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

/// Load the SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL`) as the AWS SDK always does, with [`https_client`],
/// [`retry_config`] and [`timeout_config`].
///
/// ```no_run
/// # async fn run() {
/// let sdk = tenant_access::aws::load_sdk_config().await;
/// # }
/// ```
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// The partition of a region: `aws-cn` for `cn-*`, `aws-us-gov` for
/// `us-gov-*`, else `aws`.
///
/// ```
/// assert_eq!(tenant_access::aws::partition("eu-west-1"), "aws");
/// assert_eq!(tenant_access::aws::partition("cn-north-1"), "aws-cn");
/// ```
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
