//! `cargo xtask env --sam`: SAM's `--env-vars` JSON for `sam local invoke`
//! against the running local stack. This machine has no Docker daemon, so
//! SAM's container cannot run here; what can be checked is checked: the
//! JSON's keys are exactly the template's functions, and each function's
//! configuration initialises (the CA bundle included) from exactly its
//! variables, the one substitution being the CA's path inside the
//! container (`/var/task/...`) for the same file on this machine. The
//! functions' answers to their fixtures, with these same values, are
//! `functions/*/tests/fixtures.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tenant_access::config::{DbConfig, DynamoDbConfig, FunctionConfig, S3Config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_sam_env_file_names_every_function_and_each_initialises_from_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["env", "--sam"])
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "xtask env --sam: {stderr}");
    assert!(stderr.contains("--docker-network host"), "{stderr}");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    let template: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap())
            .unwrap();
    let functions: BTreeSet<String> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    let keys: BTreeSet<String> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, functions);

    let stack_env =
        std::fs::read_to_string(root().join("target/local-stack/functions.env")).unwrap();
    let host_ca = stack_env
        .lines()
        .find_map(|l| l.strip_prefix("DB_CA_BUNDLE="))
        .expect("the stack's CA")
        .to_owned();
    for (function, vars) in json.as_object().unwrap() {
        assert_eq!(
            vars["DB_CA_BUNDLE"], "/var/task/local-stack-ca.pem",
            "{function}"
        );
        let lookup = |name: &str| match name {
            "DB_CA_BUNDLE" => Some(host_ca.clone()),
            _ => vars[name].as_str().map(str::to_owned),
        };
        match function.as_str() {
            "S3FetchFunction" => {
                FunctionConfig::<S3Config>::from_lookup(&lookup).expect("s3-fetch initialises");
            }
            "AuroraQueryFunction" => {
                let config = FunctionConfig::<DbConfig>::from_lookup(&lookup)
                    .expect("aurora-query initialises");
                tenant_access::db::TenantDatabase::new(&config.service).expect("its CA loads");
            }
            "DynamoDbItemsFunction" => {
                FunctionConfig::<DynamoDbConfig>::from_lookup(&lookup)
                    .expect("dynamodb-items initialises");
            }
            "DbAdminFunction" => {
                db_admin::Config::from_lookup(lookup).expect("db-admin initialises");
                assert_ne!(
                    vars["AWS_ACCESS_KEY_ID"], json["S3FetchFunction"]["AWS_ACCESS_KEY_ID"],
                    "db-admin signs as its own identity, not the functions'"
                );
            }
            other => panic!("a function this test does not know: {other}"),
        }
    }
}
