//! The tier settings (`TENANT_TIER_ISOLATION`, `TENANT_TIER_LIMITS`,
//! `DB_TIER_CONNECTIONS`) need the registry the tier is read from; their
//! lists follow [`crate::tier::tier_entries`].

use super::ConfigError;

/// An error naming `variable` when it is `set` without
/// `TENANT_REGISTRY_TABLE`: a tenant's tier is its registry item's, so
/// without the registry every tenant would silently be of no tier.
pub(crate) fn need_the_registry(variable: &'static str, set: bool) -> Result<(), ConfigError> {
    if set {
        return Err(super::err(
            variable,
            "needs TENANT_REGISTRY_TABLE: a tenant's tier is read from its registry item",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env;
    use crate::config::{AccessConfig, DbConfig, FunctionConfig};

    #[test]
    fn tiered_settings_need_the_registry_and_valid_budgets() {
        let base = [
            ("AWS_ACCOUNT_ID", "123456789012"),
            ("TENANT_ISOLATION", "session-tags"),
            (
                "TENANT_SHARED_ROLE_ARN",
                "arn:aws:iam::123456789012:role/shared-{scope}",
            ),
            ("DB_HOST", "h"),
            ("DB_NAME", "d"),
            ("DB_CA_BUNDLE", "/ca.pem"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            vars
        };
        let registry = ("TENANT_REGISTRY_TABLE", "tenant-registry");
        for tiered in [
            ("TENANT_TIER_ISOLATION", "premium=role-per-tenant"),
            ("TENANT_TIER_LIMITS", "premium=8:100:200"),
            ("DB_TIER_CONNECTIONS", "premium=8"),
        ] {
            let vars = with(&[tiered]);
            let e = FunctionConfig::<DbConfig>::from_lookup(&env(&vars)).unwrap_err();
            assert_eq!(e.variable, tiered.0);
            assert!(e.to_string().contains("TENANT_REGISTRY_TABLE"), "{e}");
            let vars = with(&[tiered, registry]);
            assert!(
                FunctionConfig::<DbConfig>::from_lookup(&env(&vars)).is_ok(),
                "{tiered:?}"
            );
        }
        let vars = with(&[registry, ("DB_TIER_CONNECTIONS", "premium=8, gold=2")]);
        let db = FunctionConfig::<DbConfig>::from_lookup(&env(&vars)).unwrap();
        let budgets: Vec<(&str, usize)> = db
            .service
            .tier_connections
            .iter()
            .map(|(tier, n)| (tier.as_str(), n.get()))
            .collect();
        assert_eq!(budgets, [("premium", 8), ("gold", 2)]);
        for bad in [
            "premium=0",
            "premium=10001",
            "premium=many",
            "premium",
            "a=1,a=2",
        ] {
            let vars = with(&[registry, ("DB_TIER_CONNECTIONS", bad)]);
            let e = FunctionConfig::<DbConfig>::from_lookup(&env(&vars)).unwrap_err();
            assert_eq!(e.variable, "DB_TIER_CONNECTIONS", "{bad}");
        }
        // The access settings alone say the same.
        assert!(
            AccessConfig::from_lookup(env(&with(&[("TENANT_TIER_LIMITS", "p=1:1:1")]))).is_err()
        );
    }
}
