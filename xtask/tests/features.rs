//! The crate's features keep a Lambda lean: an S3-only build pulls in no
//! Postgres, RDS or DynamoDB crate (`cargo tree`, nothing compiled).

use std::process::Command;

fn tree(features: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "tree",
            "-p",
            "tenant-access",
            "--no-default-features",
            "--features",
            features,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_s3_only_build_compiles_no_postgres_and_no_dynamodb() {
    let s3 = tree("s3,lambda-http");
    assert!(s3.lines().any(|l| l.starts_with("aws-sdk-s3 ")), "{s3}");
    for absent in ["tokio-postgres ", "aws-sdk-rds ", "aws-sdk-dynamodb "] {
        assert!(
            !s3.lines().any(|l| l.starts_with(absent)),
            "{absent}in an S3-only build"
        );
    }
    // Without lambda-http (whose runtime brings its own), no log subscriber
    // unless `telemetry` asks for one.
    let bare = tree("s3");
    for absent in ["lambda_http ", "tracing-subscriber "] {
        assert!(!bare.lines().any(|l| l.starts_with(absent)), "{absent}");
    }
    // And the default build has them all: the check above can fail.
    let all = tree("s3,postgres,dynamodb,lambda-http,telemetry,metrics");
    for present in [
        "aws-sdk-s3 ",
        "tokio-postgres ",
        "aws-sdk-rds ",
        "aws-sdk-dynamodb ",
    ] {
        assert!(
            all.lines().any(|l| l.starts_with(present)),
            "{present}missing"
        );
    }
}
