//! The tenant authorizer's settings: whose tokens it accepts, and where the
//! tenant is in them.

use super::{ConfigError, Lookup, ProcessEnv, bounded, err, optional, required};
use std::time::Duration;

/// What a Lambda `REQUEST` authorizer needs to verify a user pool's tokens
/// (see the `authorizer` module, feature `authorizer`), read once at cold start.
///
/// ```
/// use tenant_access::config::AuthorizerConfig;
///
/// let config = AuthorizerConfig::from_lookup(|name: &str| match name {
///     "TOKEN_ISSUER" => Some("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool".into()),
///     "TOKEN_AUDIENCE" => Some("client-a, client-b".into()),
///     _ => None,
/// })
/// .unwrap();
/// assert_eq!(config.audiences, ["client-a", "client-b"]);
/// assert_eq!(config.tenant_claim, "custom:tenant_id");
/// assert_eq!(
///     config.jwks_url,
///     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool/.well-known/jwks.json"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizerConfig {
    /// The issuer tokens must name in `iss` (`TOKEN_ISSUER`): for a Cognito
    /// user pool, `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    pub issuer: String,
    /// App client ids a token may be for (`TOKEN_AUDIENCE`, comma-separated):
    /// an ID token's `aud`, an access token's `client_id`.
    pub audiences: Vec<String>,
    /// The claim holding the tenant id (`TENANT_CLAIM`).
    pub tenant_claim: String,
    /// Where the issuer's signing keys are (`JWKS_URL`; by default the
    /// issuer's `/.well-known/jwks.json`, where Cognito serves them).
    pub jwks_url: String,
    /// Shortest time between two fetches of the keys when a token names a
    /// key id the authorizer does not know (`JWKS_REFRESH_SECONDS`): keys
    /// rotate, but a flood of made-up key ids must not become a flood of
    /// fetches.
    pub jwks_refresh: Duration,
    /// The prefix of each tenant's API key value, `<prefix><tenant>`
    /// (`USAGE_KEY_PREFIX`; at least 19 characters, so every key has API
    /// Gateway's 20): when set, each allowed request is answered with its
    /// tenant's key as `usageIdentifierKey`, and the tenant's usage plan
    /// throttles it. Unset: no key.
    pub usage_key_prefix: Option<String>,
}

impl AuthorizerConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(ProcessEnv)
    }

    /// Read from any [`Lookup`].
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let issuer = required(&env, "TOKEN_ISSUER")?;
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(err("TOKEN_ISSUER", format!("`{issuer}` is not a URL")));
        }
        let audiences: Vec<String> = required(&env, "TOKEN_AUDIENCE")?
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if audiences.is_empty() {
            return Err(err("TOKEN_AUDIENCE", "names no app client"));
        }
        let tenant_claim =
            optional(&env, "TENANT_CLAIM").unwrap_or_else(|| "custom:tenant_id".to_owned());
        let jwks_url = optional(&env, "JWKS_URL")
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        let jwks_refresh =
            Duration::from_secs(bounded(&env, "JWKS_REFRESH_SECONDS", 60, 1..=3600)?);
        let usage_key_prefix = optional(&env, "USAGE_KEY_PREFIX");
        if let Some(prefix) = &usage_key_prefix
            && (prefix.len() < 19
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(err(
                "USAGE_KEY_PREFIX",
                "must be at least 19 of A-Z, a-z, 0-9, - and _ (an API key value has at least 20)",
            ));
        }
        Ok(AuthorizerConfig {
            issuer,
            audiences,
            tenant_claim,
            jwks_url,
            jwks_refresh,
            usage_key_prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<AuthorizerConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuthorizerConfig::from_lookup(move |name: &str| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let issuer = ("TOKEN_ISSUER", "https://issuer");
        assert_eq!(read(&[]).unwrap_err().variable, "TOKEN_ISSUER");
        assert_eq!(
            read(&[("TOKEN_ISSUER", "issuer"), ("TOKEN_AUDIENCE", "a")])
                .unwrap_err()
                .variable,
            "TOKEN_ISSUER"
        );
        assert_eq!(read(&[issuer]).unwrap_err().variable, "TOKEN_AUDIENCE");
        assert_eq!(
            read(&[issuer, ("TOKEN_AUDIENCE", " , ")])
                .unwrap_err()
                .variable,
            "TOKEN_AUDIENCE"
        );
        assert_eq!(
            read(&[
                issuer,
                ("TOKEN_AUDIENCE", "a"),
                ("JWKS_REFRESH_SECONDS", "0")
            ])
            .unwrap_err()
            .variable,
            "JWKS_REFRESH_SECONDS"
        );
        for prefix in [
            "short-prefix",
            "a-prefix-with spaces-in-it",
            "tenant.usage.key.prefix-",
        ] {
            assert_eq!(
                read(&[
                    issuer,
                    ("TOKEN_AUDIENCE", "a"),
                    ("USAGE_KEY_PREFIX", prefix)
                ])
                .unwrap_err()
                .variable,
                "USAGE_KEY_PREFIX",
                "{prefix}"
            );
        }
    }

    #[test]
    fn the_keys_url_and_claim_can_be_set() {
        let config = read(&[
            ("TOKEN_ISSUER", "http://127.0.0.1:1/pool/"),
            ("TOKEN_AUDIENCE", "a"),
            ("TENANT_CLAIM", "tenant"),
            ("JWKS_URL", "http://127.0.0.1:2/keys"),
        ])
        .unwrap();
        assert_eq!(config.jwks_url, "http://127.0.0.1:2/keys");
        assert_eq!(config.tenant_claim, "tenant");
        assert_eq!(config.jwks_refresh, Duration::from_secs(60));
        assert_eq!(config.usage_key_prefix, None);
        let config = read(&[
            ("TOKEN_ISSUER", "http://127.0.0.1:1/pool/"),
            ("TOKEN_AUDIENCE", "a"),
            ("USAGE_KEY_PREFIX", "stack-tenant-usage-key-"),
        ])
        .unwrap();
        assert_eq!(
            config.usage_key_prefix.as_deref(),
            Some("stack-tenant-usage-key-")
        );
    }
}
