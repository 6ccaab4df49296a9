//! Sessions from a Cognito identity pool (the `identity-pool` strategy):
//! the caller's own ID token exchanged for credentials of the pool's
//! authenticated role, tagged by the pool from the token's claims. The
//! function's own role takes no part.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use super::{Source, TenantSession};
use crate::config::IdentityPool;
use crate::identity::Caller;
use crate::{Error, upstream};

impl Source {
    /// The caller's token, exchanged at the identity pool: `GetId`, then
    /// `GetCredentialsForIdentity`, both with `Logins` holding the token and
    /// nothing of the function's own. Cognito verifies the token; a token
    /// it refuses (forged, expired, another pool's) is
    /// [`Error::Unauthenticated`].
    #[tracing::instrument(name = "cognito_identity.exchange", skip_all, fields(rpc.service = "CognitoIdentity", otel.kind = "client"))]
    pub(super) async fn exchange(
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
