//! `cargo xtask env --sam`: SAM's `--env-vars` JSON for `sam local invoke`
//! against the running local stack. This machine has no Docker daemon, so
//! SAM's container cannot run here. What the container would get is
//! resolved here as SAM resolves it (samcli/local/lambdafn/env_vars.py):
//! SAM's own `AWS_*` variables (credentials and region from the shell),
//! then every variable the template declares for the function (its own and
//! `Globals`), each overridden by the JSON's value. A variable the template
//! does not declare is dropped, however the JSON sets it. With that
//! environment each function must initialise (the CA bundle included) and
//! reach the local stack, not AWS. The functions' answers to their
//! fixtures, with these same values, are `functions/*/tests/fixtures.rs`.

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
    let global_vars = declared(&template["Globals"]["Function"]);
    for (function, vars) in json.as_object().unwrap() {
        if function != "TenantAuthorizerFunction" {
            assert_eq!(
                vars["DB_CA_BUNDLE"], "/var/task/local-stack-ca.pem",
                "{function}"
            );
        }
        // What SAM passes: its AWS_* from the shell, then each declared
        // variable with the JSON's value (or none: the template's own value
        // here is an intrinsic, which SAM would pass as "").
        let mut names = global_vars.clone();
        names.extend(declared(&template["Resources"][function]["Properties"]));
        let shell = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"];
        let container: std::collections::BTreeMap<String, String> = names
            .iter()
            .map(String::as_str)
            .chain(shell)
            .filter_map(|name| Some((name.to_owned(), vars[name].as_str()?.to_owned())))
            .collect();
        assert_eq!(
            container.get("AWS_ENDPOINT_URL").map(String::as_str),
            stack_var(&stack_env, "AWS_ENDPOINT_URL").as_deref(),
            "{function}: SAM passes the local endpoint only if the template declares it"
        );
        let lookup = |name: &str| match name {
            "DB_CA_BUNDLE" => Some(host_ca.clone()),
            _ => container.get(name).cloned(),
        };
        match function.as_str() {
            "S3FetchFunction" => {
                let config =
                    FunctionConfig::<S3Config>::from_lookup(&lookup).expect("s3-fetch initialises");
                assert!(
                    config.service.force_path_style,
                    "the local stack's S3 is addressed path-style"
                );
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
            "SearchDocsFunction" => {
                let config =
                    FunctionConfig::<tenant_access::config::SearchConfig>::from_lookup(&lookup)
                        .expect("search-docs initialises");
                assert_eq!(
                    Some(&config.service.endpoint),
                    container.get("AWS_ENDPOINT_URL"),
                    "the local stack's search domain is served by its front"
                );
            }
            "DbAdminFunction" => {
                db_admin::Config::from_lookup(lookup).expect("db-admin initialises");
                assert_ne!(
                    vars["AWS_ACCESS_KEY_ID"], json["S3FetchFunction"]["AWS_ACCESS_KEY_ID"],
                    "db-admin signs as its own identity, not the functions'"
                );
            }
            "TenantAuthorizerFunction" => {
                let config = tenant_access::config::AuthorizerConfig::from_lookup(lookup)
                    .expect("tenant-authorizer initialises");
                let endpoint = container
                    .get("AWS_ENDPOINT_URL")
                    .expect("the local endpoint");
                assert!(
                    config.jwks_url.starts_with(endpoint.as_str()),
                    "the pool's keys are fetched from the local stack: {}",
                    config.jwks_url
                );
                let keys = http_get(&config.jwks_url);
                assert!(keys.contains("\"keys\""), "the local pool's JWKS: {keys}");
            }
            other => panic!("a function this test does not know: {other}"),
        }
    }
}

/// The names of the environment variables a template node (a function's
/// `Properties`, or `Globals.Function`) declares.
fn declared(node: &serde_norway::Value) -> BTreeSet<String> {
    node["Environment"]["Variables"]
        .as_mapping()
        .map(|vars| {
            vars.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `name`'s value in an environment file.
fn stack_var(env: &str, name: &str) -> Option<String> {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

/// GET `url` (the local stack's plain HTTP), its body.
fn http_get(url: &str) -> String {
    ureq::get(url)
        .call()
        .and_then(|r| r.into_body().read_to_string())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}
