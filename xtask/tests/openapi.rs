//! openapi.yaml cannot drift: its operations are exactly the template's
//! routes, every fixture's answer is one its operation documents (and a
//! fixture the API refuses as unknown or not allowed has no operation), and
//! its error codes are exactly the error contract.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join(name)).expect("readable");
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("readable");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (METHOD, path) of every operation in the document.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_mapping().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let path = path.as_str().unwrap().to_owned();
            item.as_mapping()
                .unwrap()
                .keys()
                .filter_map(|k| k.as_str())
                .filter(|k| *k != "parameters")
                .map(move |method| (method.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn operations_are_the_templates_routes() {
    let spec = yaml("openapi.yaml");
    let template = yaml("template.yaml");
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                routes.insert((
                    p["Method"].as_str().unwrap().to_owned(),
                    p["Path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    assert!(!routes.is_empty());
    assert_eq!(operations(&spec), routes);
}

#[test]
fn every_fixtures_answer_is_documented() {
    let spec = yaml("openapi.yaml");
    let ops = operations(&spec);
    let expectations = json(&root().join("events/expectations.json"));
    let mut checked = 0;
    for function in ["s3-fetch", "aurora-query", "dynamodb-items", "search-docs"] {
        for entry in std::fs::read_dir(root().join("events").join(function)).unwrap() {
            let path = entry.unwrap().path();
            let event = json(&path);
            if event["version"] != "2.0" {
                continue; // REST v1 twins of the same requests
            }
            let name = format!("{function}/{}", path.file_name().unwrap().to_string_lossy());
            let status = expectations[&name]["status"].as_u64().expect("a status");
            let route_key = event["routeKey"].as_str().unwrap();
            let Some((method, route)) = route_key.split_once(' ') else {
                // $default: a path the API does not route.
                let raw = event["rawPath"].as_str().unwrap();
                assert!(
                    !ops.iter().any(|(_, p)| p == raw),
                    "{name}: {raw} is unrouted but documented"
                );
                assert_eq!(status, 404, "{name}");
                continue;
            };
            let documented = ops.contains(&(method.to_owned(), route.to_owned()));
            if status == 405 {
                assert!(!documented, "{name}: {route_key} is refused but documented");
                continue;
            }
            assert!(documented, "{name}: {route_key} is not in openapi.yaml");
            let responses =
                &spec["paths"][route][method.to_ascii_lowercase().as_str()]["responses"];
            assert!(
                !responses[status.to_string().as_str()].is_null(),
                "{name}: {route_key} answers {status}, which openapi.yaml does not list"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} fixtures checked");
}

#[test]
fn error_codes_are_the_contract_and_retries_say_when() {
    let spec = yaml("openapi.yaml");
    let codes: BTreeSet<&str> =
        spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    let contract: BTreeSet<&str> = tenant_access::Error::CONTRACT
        .iter()
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(codes, contract);
    for transient in ["RateLimited", "Unavailable", "DeadlineExceeded"] {
        let headers = &spec["components"]["responses"][transient]["headers"];
        assert!(
            !headers["Retry-After"].is_null(),
            "{transient} has Retry-After"
        );
    }
    // Every operation lists every 5xx the fault model can answer, and the
    // 429 of a tenant over its limits (checked before any route's work).
    let paths = spec["paths"].as_mapping().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_mapping().unwrap() {
            if method.as_str() == Some("parameters") {
                continue;
            }
            for status in ["429", "500", "502", "503", "504"] {
                assert!(
                    !op["responses"][status].is_null(),
                    "{method:?} {path:?} lacks {status}"
                );
            }
        }
    }
}
