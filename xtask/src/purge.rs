//! `cargo xtask tenant purge ID --aws --stack NAME`: what is left of an
//! offboarded tenant outside the database, removed for good.
//!
//! - **S3**: every object version and delete marker under the tenant's
//!   prefix (the bucket is versioned, so `aws s3 rm` would only add delete
//!   markers), `delete-objects` in batches of 1,000;
//! - **DynamoDB**: every item of its partition, `batch-write-item` in
//!   batches of 25, unprocessed items sent again.
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
}

/// Purge tenant `id`'s objects and items from the deployed stack, with the
/// `aws` program `aws` (the CLI; a stand-in in tests). With `dry_run`,
/// list what would go and delete nothing.
pub fn purge(aws: &str, deployed: &Deployed, id: &str, dry_run: bool) -> Result<Purged> {
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
    let keys: Vec<Value> = queried["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["tenant_id"]["S"] == id)
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
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A stand-in `aws` that answers from `dir`: the list and the query
    /// from files, and records every delete it is sent.
    fn stand_in(dir: &std::path::Path, listed: &Value, queried: &Value) -> String {
        std::fs::write(dir.join("listed.json"), listed.to_string()).unwrap();
        std::fs::write(dir.join("queried.json"), queried.to_string()).unwrap();
        crate::process::stand_in(
            dir,
            "aws",
            &format!(
                r#"d={dir}
case "$1 $2" in
  "s3api list-object-versions") cat "$d/listed.json" ;;
  "dynamodb query") cat "$d/queried.json" ;;
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

    fn deployed() -> Deployed {
        Deployed {
            name: "app".into(),
            outputs: BTreeMap::from([
                ("BucketName".into(), "bucket".into()),
                ("TableName".into(), "items".into()),
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
        let aws = stand_in(&dir, &listed, &json!({"Items": items}));

        let dry = purge(&aws, &deployed(), "acme", true).unwrap();
        assert_eq!(
            dry,
            Purged {
                versions: 1_500,
                markers: 1,
                items: 30
            }
        );
        assert!(!dir.join("sent").exists(), "a dry run deletes nothing");

        let purged = purge(&aws, &deployed(), "acme", false).unwrap();
        assert_eq!(purged, dry);
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
        assert_eq!(writes, [25, 5], "batches of at most 25");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
