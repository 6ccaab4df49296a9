//! Sessions from STS `AssumeRole` with the function's own credentials:
//! the tenant's own role, or the shared role with the tenant as a session
//! tag and/or an inline session policy ([`SessionRequest`]).

use std::time::SystemTime;

use aws_credential_types::Credentials;

use super::provider::{Assuming, Provider, ProviderKind};
use super::{SessionRequest, Source, TenantSession};
use crate::identity::{Caller, TenantId};
use crate::{Error, upstream};

/// `AssumeRole` with the function's own credentials.
pub(super) struct AssumeRole {
    client: aws_sdk_sts::Client,
}

impl AssumeRole {
    /// STS with `sdk`'s (the execution role's) credentials.
    pub(super) fn new(sdk: &aws_config::SdkConfig) -> Self {
        AssumeRole {
            client: aws_sdk_sts::Client::new(sdk),
        }
    }
}

impl Provider for AssumeRole {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sts
    }

    fn assume<'a>(
        &'a self,
        source: &'a Source,
        caller: &'a Caller,
        request: &'a SessionRequest,
    ) -> Assuming<'a> {
        Box::pin(source.assume_role(&self.client, caller, request))
    }
}

impl Source {
    #[tracing::instrument(name = "sts.assume_role", skip_all, fields(rpc.service = "STS", otel.kind = "client"))]
    async fn assume_role(
        &self,
        client: &aws_sdk_sts::Client,
        caller: &Caller,
        request: &SessionRequest,
    ) -> Result<TenantSession, Error> {
        let session_name = session_name(&caller.tenant, &caller.request_id);
        tracing::info!(role_session_name = %session_name, isolation = ?self.isolation, "assuming tenant role");
        let tags = (!request.tags.is_empty()).then(|| {
            request
                .tags
                .iter()
                .map(|(key, value)| {
                    aws_sdk_sts::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build()
                        .expect("key and value are set")
                })
                .collect()
        });
        let output = client
            .assume_role()
            .role_arn(&request.role_arn)
            .role_session_name(&session_name)
            .duration_seconds(self.duration.as_secs() as i32)
            .set_tags(tags)
            .set_policy(request.policy.clone())
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sts::error::ProvideErrorMetadata;
                let why = match e.as_service_error().and_then(|s| s.code()) {
                    Some("PackedPolicyTooLarge") => {
                        Some("the session policy and tags exceed STS's packed size limit")
                    }
                    Some("InvalidParameterValue" | "ValidationError") => {
                        Some("STS refused the session name, tags or policy")
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    tracing::error!(error.detail = %aws_sdk_sts::error::DisplayErrorContext(&e), "{why}");
                }
                match upstream("sts", e) {
                    // One role per tenant: the tenant's role is missing or
                    // does not trust this function. A shared role that
                    // refuses us is the deployment's fault, for everyone.
                    Error::AccessDenied { detail } if self.isolation.shared_role() => {
                        Error::Misconfigured { detail }
                    }
                    Error::AccessDenied { detail } => Error::TenantNotOnboarded { detail },
                    other => other,
                }
            })?;
        let creds = output.credentials().ok_or_else(|| Error::Upstream {
            service: "sts",
            detail: "AssumeRole returned no credentials".to_owned(),
        })?;
        let expiry = SystemTime::try_from(*creds.expiration()).map_err(|_| Error::Upstream {
            service: "sts",
            detail: "AssumeRole returned an unrepresentable expiration".to_owned(),
        })?;
        let credentials = Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            Some(expiry),
            "tenant-access",
        );
        Ok(TenantSession::sharing(
            caller.tenant.clone(),
            credentials,
            self.base.clone(),
        ))
    }
}

/// `RoleSessionName` for a request: `<tenant>@<request id>`, limited to STS's
/// 64 characters and its alphabet `[\w+=,.@-]`, so CloudTrail entries of the
/// session name the tenant and the request that opened it.
pub fn session_name(tenant: &TenantId, request_id: &str) -> String {
    let allowed = |c: &char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c);
    let mut name = String::with_capacity(64);
    name.push_str(tenant.as_str());
    let room = 64usize.saturating_sub(name.len() + 1);
    let id: String = request_id.chars().filter(allowed).take(room).collect();
    if !id.is_empty() {
        name.push('@');
        name.push_str(&id);
    }
    if name.len() < 2 {
        // STS wants at least two characters; a one-letter tenant with no id.
        name.push_str("@-");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(s: &str) -> TenantId {
        s.parse().unwrap()
    }

    #[test]
    fn session_names_fit_sts_rules() {
        assert_eq!(
            session_name(&tenant("tenant1"), "c0ffee-12"),
            "tenant1@c0ffee-12"
        );
        assert_eq!(session_name(&tenant("t"), ""), "t@-");
        assert_eq!(session_name(&tenant("tenant1"), "a b/c$d"), "tenant1@abcd");
        let long = "x".repeat(63);
        assert_eq!(session_name(&tenant(&long), "req"), long);
        let name = session_name(&tenant("tenant1"), &"9".repeat(100));
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("tenant1@"));
    }
}
