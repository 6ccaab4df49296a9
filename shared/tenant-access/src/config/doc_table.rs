//! The configuration tables (docs/configuration.md's and this module's
//! own) against the code: the same variables, and the defaults the code
//! applies.

/// This module's code: `mod.rs` before its tests, and its children.
fn source() -> String {
    let own = include_str!("mod.rs");
    let own = &own[..own.find("#[cfg(test)]").unwrap()];
    let authorizer = include_str!("authorizer.rs");
    let authorizer = &authorizer[..authorizer.find("#[cfg(test)]").unwrap()];
    [
        own,
        include_str!("access.rs"),
        authorizer,
        include_str!("stores.rs"),
    ]
    .concat()
}

/// The variables this module reads, from its own source (the code
/// before the tests): every `"NAME"` literal in capitals.
fn variables_read() -> std::collections::BTreeSet<String> {
    let code = &source();
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(|l| l.split('"').skip(1).step_by(2))
        .filter(|s| {
            s.len() > 2
                && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

/// The configuration table of docs/configuration.md: (variables of a
/// row, its default cell).
fn documented() -> Vec<(Vec<String>, String)> {
    let doc = include_str!("../../../../docs/configuration.md");
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let names = cells[0]
                .trim_start_matches("| ")
                .split(", ")
                .map(|n| n.trim_matches('`').to_owned())
                .collect();
            (
                names,
                cells.last().unwrap().trim_end_matches(" |").to_owned(),
            )
        })
        .collect()
}

/// This module's own table (its docs) lists the same variables as
/// docs/configuration.md's.
#[test]
fn the_crate_s_table_lists_every_documented_variable() {
    let rows = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("//! ").or(Some(l)))
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| {
                l.split(" | ")
                    .next()
                    .unwrap()
                    .trim_start_matches("| ")
                    .split(", ")
            })
            .map(|n| n.trim_matches('`').to_owned())
            .collect()
    };
    let own = include_str!("mod.rs");
    let own = &own[..own.find("use std::").unwrap()];
    assert_eq!(
        rows(own),
        rows(include_str!("../../../../docs/configuration.md"))
    );
}

/// The table lists exactly the variables this module reads, and every
/// numeric default it gives is the one the code applies.
#[test]
fn the_configuration_table_matches_the_code() {
    let listed: std::collections::BTreeSet<String> = documented()
        .into_iter()
        .flat_map(|(names, _)| names)
        .collect();
    assert_eq!(listed, variables_read());
    // `bounded(&env, "NAME", DEFAULT, ...)`, `bounded(env, "NAME", ...)`
    // and `number(&env, "NAME", DEFAULT)`.
    let code = &source();
    let flat: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut checked = 0;
    for (names, default) in documented() {
        for name in names {
            let Some((at, call)) = [format!("&env, \"{name}\", "), format!("(env, \"{name}\", ")]
                .into_iter()
                .find_map(|call| flat.find(&call).map(|at| (at, call)))
            else {
                continue;
            };
            let value = flat[at + call.len()..]
                .split([',', ')'])
                .next()
                .unwrap()
                .trim()
                .trim_end_matches("u16")
                .replace('_', "");
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            assert!(
                default.contains(&format!("`{value}`")),
                "{name}: the code's default is {value}, the table says {default}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} defaults checked");
}
