//! The AWS SDK's shared configuration, with one TLS stack.

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

/// Load the SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL`) as the AWS SDK always does, with [`https_client`].
///
/// ```no_run
/// # async fn run() {
/// let sdk = tenant_access::aws::load_sdk_config().await;
/// # }
/// ```
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}
