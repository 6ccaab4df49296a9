//! The one rule for lists keyed by tier (`TENANT_TIER_ISOLATION`,
//! `TENANT_TIER_LIMITS`, `DB_TIER_CONNECTIONS`): `tier=value`, comma
//! separated, each tier named once, and only with the registry the tier
//! is read from.

use super::ConfigError;

/// A tier's name: 1 to 64 of `A-Z`, `a-z`, `0-9`, `_` and `-` (what the
/// registry's `tier` attribute and the template's `DedicatedTier` take).
pub(crate) fn is_tier_name(tier: &str) -> bool {
    (1..=64).contains(&tier.len())
        && tier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The `(tier, value)` pairs of `text`, trimmed, in order; `form` names
/// what a value is, for the error (`tier=<form>`).
pub(crate) fn tier_entries<'a>(
    text: &'a str,
    form: &str,
) -> Result<Vec<(&'a str, &'a str)>, String> {
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((tier, value)) = entry.split_once('=').map(|(t, v)| (t.trim(), v.trim())) else {
            return Err(format!("`{entry}` is not tier={form}"));
        };
        if !is_tier_name(tier) {
            return Err(format!(
                "`{tier}` is not a tier name (1 to 64 of A-Z, a-z, 0-9, _ and -)"
            ));
        }
        if entries.iter().any(|(t, _)| *t == tier) {
            return Err(format!("the tier `{tier}` is named twice"));
        }
        entries.push((tier, value));
    }
    Ok(entries)
}

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
    use super::*;
    use crate::config::{AccessConfig, DbConfig, FunctionConfig};

    fn env<'a>(vars: &'a [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

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

    #[test]
    fn entries_are_named_tiers_each_once() {
        assert_eq!(
            tier_entries(" premium = 8 ,, basic=2", "n").unwrap(),
            [("premium", "8"), ("basic", "2")]
        );
        assert!(tier_entries("premium", "n").unwrap_err().contains("tier=n"));
        assert!(
            tier_entries("pre mium=1", "n")
                .unwrap_err()
                .contains("not a tier name")
        );
        assert!(tier_entries(&format!("{}=1", "t".repeat(65)), "n").is_err());
        assert!(tier_entries("a=1,a=2", "n").unwrap_err().contains("twice"));
    }
}
