//! Sessions from a Cognito identity pool (the `identity-pool` strategy):
//! the caller's own ID token exchanged for credentials of the pool's
//! authenticated role, tagged by the pool from the token's claims. The
//! function's own role takes no part.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use super::provider::{Assuming, Provider, ProviderKind};
use super::{SessionRequest, Source, TenantSession};
use crate::config::IdentityPool;
use crate::identity::Caller;
use crate::{Error, upstream};

/// The caller's token, exchanged at an identity pool.
pub(super) struct Exchange {
    client: aws_sdk_cognitoidentity::Client,
    pool: IdentityPool,
}

impl Exchange {
    /// Exchanges at `pool`; the calls carry only the caller's token.
    pub(super) fn new(sdk: &aws_config::SdkConfig, pool: &IdentityPool) -> Self {
        Exchange {
            client: aws_sdk_cognitoidentity::Client::new(sdk),
            pool: pool.clone(),
        }
    }
}

impl Provider for Exchange {
    fn kind(&self) -> ProviderKind {
        ProviderKind::IdentityPool
    }

    /// A session is its token's: a new exchange with the same token would
    /// not outlive it.
    fn refreshes_ahead(&self) -> bool {
        false
    }

    /// The caller's token must stand behind its verified claims (same
    /// tenant, this pool's provider as issuer, not expired); its SHA-256
    /// keys the session, so a cached session serves only that token.
    fn key(
        &self,
        caller: &Caller,
        claim: &str,
        now: SystemTime,
    ) -> Result<Option<[u8; 32]>, Error> {
        let token = caller.verify_token(claim, &self.pool.issuer(), now)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_str().as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Ok(Some(bytes))
    }

    fn assume<'a>(
        &'a self,
        source: &'a Source,
        caller: &'a Caller,
        _request: &'a SessionRequest,
    ) -> Assuming<'a> {
        Box::pin(source.exchange(&self.client, &self.pool, caller))
    }
}

impl Source {
    /// The caller's token, exchanged at the identity pool: `GetId`, then
    /// `GetCredentialsForIdentity`, both with `Logins` holding the token and
    /// nothing of the function's own. Cognito verifies the token; a token
    /// it refuses (forged, expired, another pool's) is
    /// [`Error::Unauthenticated`].
    #[tracing::instrument(name = "cognito_identity.exchange", skip_all, fields(rpc.service = "CognitoIdentity", otel.kind = "client"))]
    async fn exchange(
        &self,
        client: &aws_sdk_cognitoidentity::Client,
        pool: &IdentityPool,
        caller: &Caller,
    ) -> Result<TenantSession, Error> {
        use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
        let token = caller.token.as_ref().ok_or(Error::Unauthenticated)?;
        let logins =
            std::collections::HashMap::from([(pool.provider.clone(), token.as_str().to_owned())]);
        fn refine(err: Error, code: Option<&str>) -> Error {
            match (code, err) {
                (Some("NotAuthorizedException"), _) => Error::Unauthenticated,
                (
                    Some("ResourceNotFoundException" | "InvalidIdentityPoolConfigurationException"),
                    Error::Upstream { detail, .. },
                ) => Error::Misconfigured { detail },
                (_, other) => other,
            }
        }
        fn failed<E>(
            e: aws_sdk_cognitoidentity::error::SdkError<
                E,
                aws_sdk_cognitoidentity::config::http::HttpResponse,
            >,
        ) -> Error
        where
            E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        {
            let code = e.code().map(str::to_owned);
            refine(upstream("cognito-identity", e), code.as_deref())
        }
        let id = client
            .get_id()
            .identity_pool_id(&pool.pool_id)
            .set_logins(Some(logins.clone()))
            .send()
            .await
            .map_err(failed)?;
        let identity_id = id.identity_id().ok_or_else(|| Error::Upstream {
            service: "cognito-identity",
            detail: "GetId returned no identity id".to_owned(),
        })?;
        let output = client
            .get_credentials_for_identity()
            .identity_id(identity_id)
            .set_logins(Some(logins))
            .send()
            .await
            .map_err(failed)?;
        let creds = output.credentials().ok_or_else(|| Error::Upstream {
            service: "cognito-identity",
            detail: "GetCredentialsForIdentity returned no credentials".to_owned(),
        })?;
        let missing = || Error::Upstream {
            service: "cognito-identity",
            detail: "GetCredentialsForIdentity returned incomplete credentials".to_owned(),
        };
        let expiry = creds
            .expiration()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .ok_or_else(missing)?;
        // Never past the token's own life: a session outliving its token
        // would serve a caller whose token no longer proves anything.
        let token_expiry = token
            .expires_at()
            .map(|exp| std::time::UNIX_EPOCH + Duration::from_secs(exp))
            .unwrap_or(expiry);
        let credentials = Credentials::new(
            creds.access_key_id().ok_or_else(missing)?,
            creds.secret_key().ok_or_else(missing)?,
            Some(creds.session_token().ok_or_else(missing)?.to_owned()),
            Some(expiry.min(token_expiry)),
            "tenant-access-identity-pool",
        );
        tracing::info!("exchanged the caller's token at the identity pool");
        Ok(TenantSession::sharing(
            caller.tenant.clone(),
            credentials,
            self.base.clone(),
        ))
    }
}
