//! A tenant's tier: its name rule, and the one rule for lists keyed by
//! tier (`TENANT_TIER_ISOLATION`, `TENANT_TIER_LIMITS`,
//! `DB_TIER_CONNECTIONS`): `tier=value`, comma separated, each tier named
//! once. Shared by [`crate::config`] and [`crate::limits`], which need not
//! know each other for it.

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

#[cfg(test)]
mod tests {
    use super::*;

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
