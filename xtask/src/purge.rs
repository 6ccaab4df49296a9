//! `cargo xtask tenant purge ID --aws --stack NAME`: what is left of an
//! offboarded tenant outside the database, removed for good.
//!
//! - **S3**: every object version and delete marker under the tenant's
//!   prefix (the bucket is versioned, so `aws s3 rm` would only add delete
//!   markers), `delete-objects` in batches of 1,000;
//! - **DynamoDB**: every item of its partition and of its users' own
//!   (`<tenant>#<sub>`, found by a scan: a partition key cannot be queried
//!   by prefix), `batch-write-item` in batches of 25, unprocessed items
//!   sent again;
//! - **search**: its index, `<tenant>.docs`, deleted with one signed
//!   `DELETE` (the domain has no CLI for its data plane: `curl
//!   --aws-sigv4`, with the CLI's own credentials, `aws configure
//!   export-credentials`, passed in a mode-0600 config file, never on the
//!   command line), its documents counted first.
//!
//! The database's rows go with `tenant remove --purge` (db-admin). Counts
//! are printed. It is idempotent and resumable: each run lists what is
//! left and deletes it, so a run stopped halfway is finished by the next,
//! and a run with nothing left deletes nothing. It goes through the `aws`
//! CLI with the caller's credentials, like the other `--aws` commands.

use std::process::Command;

use serde_json::{Value, json};

use crate::onboarding::Deployed;
use crate::process::{Result, run};

/// S3's `DeleteObjects` limit.
const S3_BATCH: usize = 1_000;
/// DynamoDB's `BatchWriteItem` limit.
const DYNAMODB_BATCH: usize = 25;
/// How many times unprocessed items are sent again before giving up.
const UNPROCESSED_ROUNDS: usize = 8;

/// What a purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Object versions deleted.
    pub versions: usize,
    /// Delete markers deleted.
    pub markers: usize,
    /// Items deleted.
    pub items: usize,
    /// Documents of the search index deleted with it.
    pub documents: usize,
}

/// Purge tenant `id`'s objects, items and search index from the deployed
/// stack, with the `aws` program `aws` (the CLI) and `curl` (stand-ins in
/// tests). With `dry_run`, list what would go and delete nothing.
pub fn purge(
    aws: &str,
    curl: &str,
    deployed: &Deployed,
    id: &str,
    dry_run: bool,
) -> Result<Purged> {
    let region = deployed.region.as_str();
    let bucket = deployed.output("BucketName")?;
    let table = deployed.output("TableName")?;
    let scratch =
        std::env::temp_dir().join(format!("xtask-purge-{}-{id}.json", std::process::id()));
    let call = |args: &[&str]| -> Result<Value> {
        let out = run(Command::new(aws)
            .args(args)
            .args(["--region", region, "--output", "json"]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| format!("aws {}: {e}", args[..2].join(" ")))
    };
    let with_file = |args: &[&str], flag: &str, body: &Value| -> Result<Value> {
        std::fs::write(&scratch, body.to_string())
            .map_err(|e| format!("{}: {e}", scratch.display()))?;
        let file = format!("file://{}", scratch.display());
        let mut all: Vec<&str> = args.to_vec();
        all.extend([flag, &file]);
        let answer = call(&all);
        let _ = std::fs::remove_file(&scratch);
        answer
    };

    let mut purged = Purged::default();
    // S3: the CLI pages through every version for us.
    let prefix = format!("{id}_home/");
    let listed = call(&[
        "s3api",
        "list-object-versions",
        "--bucket",
        bucket,
        "--prefix",
        &prefix,
    ])?;
    let entries = |kind: &str| -> Vec<Value> {
        listed[kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["Key"].as_str().is_some_and(|k| k.starts_with(&prefix)))
            .map(|v| json!({"Key": v["Key"], "VersionId": v["VersionId"]}))
            .collect()
    };
    let (versions, markers) = (entries("Versions"), entries("DeleteMarkers"));
    purged.versions = versions.len();
    purged.markers = markers.len();
    let every: Vec<Value> = versions.into_iter().chain(markers).collect();
    if !dry_run {
        for batch in every.chunks(S3_BATCH) {
            let answer = with_file(
                &["s3api", "delete-objects", "--bucket", bucket],
                "--delete",
                &json!({"Objects": batch, "Quiet": true}),
            )?;
            if let Some(errors) = answer["Errors"].as_array().filter(|e| !e.is_empty()) {
                return Err(format!(
                    "S3 refused to delete {} versions (first: {}); run the command again",
                    errors.len(),
                    errors[0]
                ));
            }
        }
    }

    // DynamoDB: the partition's keys, the CLI paging for us.
    let values = json!({":t": {"S": id}}).to_string();
    let queried = call(&[
        "dynamodb",
        "query",
        "--table-name",
        table,
        "--key-condition-expression",
        "tenant_id = :t",
        "--expression-attribute-values",
        &values,
        "--projection-expression",
        "tenant_id, item_id",
    ])?;
    // Its users' own partitions, <tenant>#<sub> (a tenant id has no `#`,
    // so no other tenant's partition starts so).
    let users = format!("{id}#");
    let values = json!({":p": {"S": users}}).to_string();
    let scanned = call(&[
        "dynamodb",
        "scan",
        "--table-name",
        table,
        "--filter-expression",
        "begins_with(tenant_id, :p)",
        "--expression-attribute-values",
        &values,
        "--projection-expression",
        "tenant_id, item_id",
    ])?;
    let keys: Vec<Value> = queried["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["tenant_id"]["S"] == id)
        .chain(
            scanned["Items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|item| {
                    item["tenant_id"]["S"]
                        .as_str()
                        .is_some_and(|p| p.starts_with(&users))
                }),
        )
        .cloned()
        .collect();
    purged.items = keys.len();
    if !dry_run {
        for batch in keys.chunks(DYNAMODB_BATCH) {
            let mut requests: Value = json!({
                table: batch.iter().map(|key| json!({"DeleteRequest": {"Key": key}})).collect::<Vec<_>>()
            });
            for round in 0.. {
                let answer = with_file(
                    &["dynamodb", "batch-write-item"],
                    "--request-items",
                    &requests,
                )?;
                let left = &answer["UnprocessedItems"];
                if left.as_object().is_none_or(|o| o.is_empty()) {
                    break;
                }
                if round == UNPROCESSED_ROUNDS {
                    return Err("DynamoDB kept items unprocessed; run the command again".to_owned());
                }
                std::thread::sleep(std::time::Duration::from_millis(100 << round));
                requests = left.clone();
            }
        }
    }

    // Search: the tenant's index, with the CLI's credentials.
    let endpoint = deployed.output("SearchEndpoint")?;
    let credentials = call(&["configure", "export-credentials", "--format", "process"])?;
    let domain = Domain {
        curl,
        endpoint: endpoint.trim_end_matches('/'),
        region,
        credentials: &credentials,
        scratch: &scratch,
    };
    let index = format!("/{id}.docs");
    let (status, counted) = domain.call("GET", &format!("{index}/_search?size=0"))?;
    purged.documents = match status {
        404 => 0,
        200 => counted["hits"]["total"]["value"]
            .as_u64()
            .unwrap_or_default() as usize,
        other => {
            return Err(format!(
                "the search domain answered {other} counting {id}'s documents: {counted}"
            ));
        }
    };
    if !dry_run && status == 200 {
        let (status, answer) = domain.call("DELETE", &index)?;
        if status != 200 && status != 404 {
            return Err(format!(
                "the search domain answered {status} deleting {id}'s index: {answer}"
            ));
        }
    }
    Ok(purged)
}

/// Signed calls to the search domain with `curl --aws-sigv4`.
struct Domain<'a> {
    curl: &'a str,
    endpoint: &'a str,
    region: &'a str,
    /// `aws configure export-credentials --format process`'s answer.
    credentials: &'a Value,
    scratch: &'a std::path::Path,
}

impl Domain<'_> {
    /// `method path` signed for `es`: the status and the JSON answer. The
    /// credentials go in a config file only the caller can read, removed
    /// after the call, so they never show in the process list.
    fn call(&self, method: &str, path: &str) -> Result<(u16, Value)> {
        use std::os::unix::fs::OpenOptionsExt;
        let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let field = |name: &str| {
            self.credentials[name]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("aws configure export-credentials gave no {name}"))
        };
        let config = self.scratch.with_extension("curl");
        let body = self.scratch.with_extension("body");
        let mut lines = vec![
            format!(
                "aws-sigv4 = {}",
                quote(&format!("aws:amz:{}:es", self.region))
            ),
            format!(
                "user = {}",
                quote(&format!(
                    "{}:{}",
                    field("AccessKeyId")?,
                    field("SecretAccessKey")?
                ))
            ),
            format!("request = {}", quote(method)),
            format!("url = {}", quote(&format!("{}{path}", self.endpoint))),
            format!("output = {}", quote(&body.display().to_string())),
            "write-out = \"%{http_code}\"".to_owned(),
            "silent".to_owned(),
            "show-error".to_owned(),
        ];
        if let Ok(token) = field("SessionToken") {
            lines.push(format!(
                "header = {}",
                quote(&format!("x-amz-security-token: {token}"))
            ));
        }
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&config)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, (lines.join("\n") + "\n").as_bytes())
            });
        let answer = written
            .map_err(|e| format!("{}: {e}", config.display()))
            .and_then(|()| run(Command::new(self.curl).arg("-K").arg(&config)));
        let _ = std::fs::remove_file(&config);
        let out = answer?;
        let status = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("curl gave no status for {method} {path}"))?;
        let text = std::fs::read_to_string(&body).unwrap_or_default();
        let _ = std::fs::remove_file(&body);
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A stand-in `aws` that answers from `dir`: the list and the query
    /// from files, and records every delete it is sent.
    fn stand_in(dir: &std::path::Path, listed: &Value, queried: &Value, scanned: &Value) -> String {
        std::fs::write(dir.join("listed.json"), listed.to_string()).unwrap();
        std::fs::write(dir.join("queried.json"), queried.to_string()).unwrap();
        std::fs::write(dir.join("scanned.json"), scanned.to_string()).unwrap();
        crate::process::stand_in(
            dir,
            "aws",
            &format!(
                r#"d={dir}
case "$1 $2" in
  "s3api list-object-versions") cat "$d/listed.json" ;;
  "dynamodb query") cat "$d/queried.json" ;;
  "dynamodb scan") cat "$d/scanned.json" ;;
  "configure export-credentials") echo '{{"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "S/K+q", "SessionToken": "T"}}' ;;
  "s3api delete-objects"|"dynamodb batch-write-item")
    for a in "$@"; do case "$a" in file://*) cat "${{a#file://}}" >> "$d/sent"; echo >> "$d/sent" ;; esac; done
    echo '{{}}' ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"#,
                dir = dir.display()
            ),
        )
    }

    /// A stand-in `curl` for the search domain: it checks the config file
    /// carries the credentials and the signing scope, records each call,
    /// and answers the count from `dir/count.json` (404 once deleted).
    fn curl(dir: &std::path::Path, documents: usize) -> String {
        std::fs::write(
            dir.join("count.json"),
            json!({"hits": {"total": {"value": documents}}}).to_string(),
        )
        .unwrap();
        crate::process::stand_in(
            dir,
            "curl",
            &format!(
                r#"d={dir}
cfg="$2"
value() {{ sed -n "s/^$1 = \"\(.*\)\"$/\1/p" "$cfg"; }}
[ "$(stat -c %a "$cfg")" = 600 ] || {{ echo "the config is readable by others" >&2; exit 2; }}
[ "$(value user)" = 'AK:S/K+q' ] || {{ echo "no credentials: $(value user)" >&2; exit 2; }}
[ "$(value aws-sigv4)" = "aws:amz:eu-west-1:es" ] || {{ echo "wrong scope" >&2; exit 2; }}
[ "$(value header)" = "x-amz-security-token: T" ] || {{ echo "no token" >&2; exit 2; }}
echo "$(value request) $(value url)" >> "$d/curl-sent"
out=$(value output)
if [ -e "$d/deleted" ]; then echo '{{}}' > "$out"; printf 404; exit 0; fi
case "$(value request)" in
  GET) cat "$d/count.json" > "$out"; printf 200 ;;
  DELETE) touch "$d/deleted"; echo '{{"acknowledged": true}}' > "$out"; printf 200 ;;
esac
"#,
                dir = dir.display()
            ),
        )
    }

    fn deployed() -> Deployed {
        Deployed {
            name: "app".into(),
            outputs: BTreeMap::from([
                ("BucketName".into(), "bucket".into()),
                ("TableName".into(), "items".into()),
                ("SearchEndpoint".into(), "https://search.example".into()),
            ]),
            parameters: BTreeMap::new(),
            region: "eu-west-1".into(),
        }
    }

    /// Every version and delete marker under the tenant's prefix goes, in
    /// batches S3 takes, and every item of its partition, in batches
    /// DynamoDB takes: nothing of another tenant whose id it prefixes; a
    /// dry run deletes nothing.
    #[test]
    fn every_version_marker_and_item_of_the_tenant_goes_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("purge-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join("sent"));
        let versions: Vec<Value> = (0..1_500)
            .map(|n| json!({"Key": format!("acme_home/k{n}"), "VersionId": format!("v{n}")}))
            .chain([json!({"Key": "acme2_home/other", "VersionId": "x"})])
            .collect();
        let listed = json!({
            "Versions": versions,
            "DeleteMarkers": [{"Key": "acme_home/gone", "VersionId": "m1"}],
        });
        let items: Vec<Value> = (0..30)
            .map(|n| json!({"tenant_id": {"S": "acme"}, "item_id": {"S": format!("i{n}")}}))
            .collect();
        // Its users' own items, and (what a careless filter would take)
        // another tenant's whose id acme prefixes.
        let users: Vec<Value> = ["acme#user-a", "acme#user-b", "acme2#user-a"]
            .iter()
            .map(|p| json!({"tenant_id": {"S": p}, "item_id": {"S": "mine"}}))
            .collect();
        let aws = stand_in(
            &dir,
            &listed,
            &json!({"Items": items}),
            &json!({"Items": users}),
        );
        let _ = std::fs::remove_file(dir.join("deleted"));
        let _ = std::fs::remove_file(dir.join("curl-sent"));
        let curl = curl(&dir, 7);

        let dry = purge(&aws, &curl, &deployed(), "acme", true).unwrap();
        assert_eq!(
            dry,
            Purged {
                versions: 1_500,
                markers: 1,
                items: 32,
                documents: 7,
            }
        );
        assert!(!dir.join("sent").exists(), "a dry run deletes nothing");
        assert!(!dir.join("deleted").exists(), "a dry run deletes no index");

        let purged = purge(&aws, &curl, &deployed(), "acme", false).unwrap();
        assert_eq!(purged, dry);
        assert_eq!(
            std::fs::read_to_string(dir.join("curl-sent")).unwrap(),
            "GET https://search.example/acme.docs/_search?size=0\n\
             GET https://search.example/acme.docs/_search?size=0\n\
             DELETE https://search.example/acme.docs\n",
            "the tenant's own index only"
        );
        let sent: Vec<Value> = std::fs::read_to_string(dir.join("sent"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let s3: Vec<&Value> = sent.iter().filter(|s| s.get("Objects").is_some()).collect();
        assert_eq!(
            s3.iter()
                .map(|s| s["Objects"].as_array().unwrap().len())
                .collect::<Vec<_>>(),
            [1_000, 501],
            "batches of at most 1,000, versions and the marker"
        );
        assert!(
            s3.iter()
                .flat_map(|s| s["Objects"].as_array().unwrap())
                .all(|o| o["Key"].as_str().unwrap().starts_with("acme_home/")),
            "nothing of acme2"
        );
        let writes: Vec<usize> = sent
            .iter()
            .filter_map(|s| s.get("items"))
            .map(|b| b.as_array().unwrap().len())
            .collect();
        assert_eq!(writes, [25, 7], "batches of at most 25");
        let deleted: Vec<&str> = sent
            .iter()
            .filter_map(|s| s.get("items"))
            .flat_map(|b| b.as_array().unwrap())
            .map(|r| {
                r["DeleteRequest"]["Key"]["tenant_id"]["S"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert!(
            deleted
                .iter()
                .all(|p| *p == "acme" || p.starts_with("acme#")),
            "nothing of acme2: {deleted:?}"
        );
        // Run again: the index is gone, nothing to count or delete.
        let again = purge(&aws, &curl, &deployed(), "acme", false).unwrap();
        assert_eq!(again.documents, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
