//! Sessions from a Cognito identity pool (the `identity-pool` strategy):
//! the caller's own ID token exchanged for credentials of the pool's
//! authenticated role, tagged by the pool from the token's claims. The
//! function's own role takes no part.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use super::provider::{Assuming, Proof, Provider, ProviderKind};
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
    /// tenant, this pool's provider as issuer, not expired, a subject). Its
    /// user keys the session; the token itself must be one the pool
    /// accepted before a cached session is served to it.
    fn proof(&self, caller: &Caller, claim: &str, now: SystemTime) -> Result<Option<Proof>, Error> {
        let token = caller.verify_token(claim, &self.pool.issuer(), now)?;
        let subject = token.claim("sub").ok_or(Error::Unauthenticated)?;
        let expires = token
            .expires_at()
            .map(|exp| std::time::UNIX_EPOCH + Duration::from_secs(exp))
            .ok_or(Error::Unauthenticated)?;
        let sha256 = |parts: &[&[u8]]| {
            let mut context = ring::digest::Context::new(&ring::digest::SHA256);
            for part in parts {
                // Length-prefixed, so no two (issuer, subject) pairs meet.
                context.update(&(part.len() as u64).to_be_bytes());
                context.update(part);
            }
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(context.finish().as_ref());
            bytes
        };
        Ok(Some(Proof {
            principal: sha256(&[self.pool.issuer().as_bytes(), subject.as_bytes()]),
            token: sha256(&[token.as_str().as_bytes()]),
            expires,
        }))
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
        // The credentials' own life (an hour): a request is served on them
        // only while its own token is alive, which the cache checks on
        // every request, so capping them at one token's expiry would only
        // make every request of that token's last minute exchange again.
        let expiry = creds
            .expiration()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .ok_or_else(missing)?;
        let credentials = Credentials::new(
            creds.access_key_id().ok_or_else(missing)?,
            creds.secret_key().ok_or_else(missing)?,
            Some(creds.session_token().ok_or_else(missing)?.to_owned()),
            Some(expiry),
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
