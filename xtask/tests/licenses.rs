//! Every crate the workspace builds, the workspace's own included, carries a
//! licence a MIT OR Apache-2.0 project can ship: checked offline from `cargo
//! metadata` (what `cargo deny check licenses` would check; its advisory
//! database needs the network, which this project's machines lack).

use std::process::Command;

/// Licences compatible with shipping under MIT OR Apache-2.0.
const ALLOWED: &[&str] = &[
    "MIT",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Unicode-3.0",
    "Zlib",
    "BSL-1.0",
    "Unlicense",
    "CDLA-Permissive-2.0",
];

/// Whether an SPDX expression (with the `/` that older crates use for
/// `OR`) can be satisfied with allowed licences. Parentheses group; `AND`
/// binds tighter than `OR`.
fn satisfiable(expression: &str) -> bool {
    fn or(tokens: &[String], pos: &mut usize) -> bool {
        let mut ok = and(tokens, pos);
        while tokens.get(*pos).is_some_and(|t| t == "OR") {
            *pos += 1;
            ok |= and(tokens, pos);
        }
        ok
    }
    fn and(tokens: &[String], pos: &mut usize) -> bool {
        let mut ok = term(tokens, pos);
        while tokens.get(*pos).is_some_and(|t| t == "AND") {
            *pos += 1;
            ok &= term(tokens, pos);
        }
        ok
    }
    fn term(tokens: &[String], pos: &mut usize) -> bool {
        let Some(token) = tokens.get(*pos).cloned() else {
            return false;
        };
        *pos += 1;
        if token == "(" {
            let ok = or(tokens, pos);
            *pos += 1; // ")"
            return ok;
        }
        if tokens.get(*pos).is_some_and(|t| t == "WITH") {
            let exception = tokens.get(*pos + 1).cloned().unwrap_or_default();
            *pos += 2;
            return ALLOWED.contains(&format!("{token} WITH {exception}").as_str());
        }
        ALLOWED.contains(&token.as_str())
    }
    let spaced = expression
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<String> = spaced.split_whitespace().map(str::to_owned).collect();
    let mut pos = 0;
    or(&tokens, &mut pos) && pos == tokens.len()
}

#[test]
fn the_expression_reader_is_strict() {
    assert!(satisfiable("MIT OR Apache-2.0"));
    assert!(satisfiable("MIT/Apache-2.0"));
    assert!(satisfiable("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(satisfiable(
        "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"
    ));
    assert!(satisfiable("MIT OR Apache-2.0 OR LGPL-2.1-or-later"));
    assert!(!satisfiable("GPL-3.0-only"));
    assert!(!satisfiable("MIT AND GPL-3.0-only"));
    assert!(!satisfiable("LGPL-2.1-or-later"));
    assert!(!satisfiable(""));
}

#[test]
fn every_dependency_may_be_shipped_under_mit_or_apache() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    assert!(packages.len() > 100, "the whole graph was read");
    let refused: Vec<String> = packages
        .iter()
        .filter(|p| !p["license"].as_str().is_some_and(satisfiable))
        .map(|p| format!("{} {}: {}", p["name"], p["version"], p["license"]))
        .collect();
    assert!(refused.is_empty(), "licences not allowed: {refused:#?}");
}
