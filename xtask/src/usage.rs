//! `cargo xtask usage [FILE]`: each tenant's usage, summed from the
//! functions' per-request records (the metrics line, `tenant_access::metrics`)
//! in a log: by default the one `cargo xtask dev` writes,
//! `target/local-stack/functions.log`. On AWS the same records are in the
//! functions' log groups, where Logs Insights and the template's Contributor
//! Insights rules rank tenants (docs/capacity.md).

use std::collections::BTreeMap;

use serde_json::Value;

/// One tenant's usage.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Usage {
    pub requests: u64,
    /// Answers of 4xx.
    pub client_errors: u64,
    /// Answers of 5xx.
    pub server_errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub db_ms: f64,
    pub aws_calls: u64,
    pub latency_ms: f64,
}

/// Every tenant's usage in `log`: its lines that are per-request records
/// (a JSON object with `tenant` and `Requests`), other lines skipped.
pub fn summarize(log: &str) -> BTreeMap<String, Usage> {
    let mut tenants: BTreeMap<String, Usage> = BTreeMap::new();
    for line in log.lines() {
        // A record may follow a prefix the watcher adds to a line.
        let Some(start) = line.find('{') else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<Value>(&line[start..]) else {
            continue;
        };
        let (Some(tenant), Some(_)) = (record["tenant"].as_str(), record["Requests"].as_u64())
        else {
            continue;
        };
        let number = |name: &str| record[name].as_f64().unwrap_or(0.0);
        let usage = tenants.entry(tenant.to_owned()).or_default();
        usage.requests += 1;
        match record["status"].as_u64().unwrap_or(0) {
            400..=499 => usage.client_errors += 1,
            500..=599 => usage.server_errors += 1,
            _ => {}
        }
        usage.bytes_in += number("bytesIn") as u64;
        usage.bytes_out += number("bytesOut") as u64;
        usage.db_ms += number("dbMs");
        usage.aws_calls += number("awsCalls") as u64;
        usage.latency_ms += number("Latency");
    }
    tenants
}

/// The table `cargo xtask usage` prints: one row per tenant, most
/// requests first.
pub fn table(tenants: &BTreeMap<String, Usage>) -> String {
    let mut rows: Vec<(&String, &Usage)> = tenants.iter().collect();
    rows.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
    let mut out = format!(
        "{:<24} {:>9} {:>7} {:>7} {:>12} {:>12} {:>10} {:>9} {:>12}\n",
        "tenant",
        "requests",
        "4xx",
        "5xx",
        "bytes in",
        "bytes out",
        "db ms",
        "AWS calls",
        "mean ms"
    );
    for (tenant, u) in rows {
        out.push_str(&format!(
            "{:<24} {:>9} {:>7} {:>7} {:>12} {:>12} {:>10.1} {:>9} {:>12.2}\n",
            tenant,
            u.requests,
            u.client_errors,
            u.server_errors,
            u.bytes_in,
            u.bytes_out,
            u.db_ms,
            u.aws_calls,
            u.latency_ms / u.requests.max(1) as f64
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_summed_per_tenant_and_other_lines_skipped() {
        let log = r#"
INFO cargo lambda watch: starting
{"Function":"s3-fetch","Requests":1,"Latency":2.0,"status":200,"tenant":"tenant1","bytesIn":0,"bytesOut":1024,"dbMs":0,"awsCalls":1}
{"Function":"s3-fetch","Requests":1,"Latency":4.0,"status":404,"tenant":"tenant1","bytesIn":0,"bytesOut":60,"dbMs":0,"awsCalls":0}
 INFO aurora-query {"Function":"aurora-query","Requests":1,"Latency":9.0,"status":503,"tenant":"tenant2","bytesIn":30,"bytesOut":70,"dbMs":7.5,"awsCalls":2}
{"Function":"s3-fetch","Requests":1,"Latency":1.0,"status":401}
{"level":"INFO","tenant":"tenant1","message":"request served"}
not json {
"#;
        let usage = summarize(log);
        assert_eq!(usage.len(), 2, "{usage:?}");
        let t1 = &usage["tenant1"];
        assert_eq!(
            (
                t1.requests,
                t1.client_errors,
                t1.server_errors,
                t1.bytes_out,
                t1.aws_calls
            ),
            (2, 1, 0, 1084, 1)
        );
        let t2 = &usage["tenant2"];
        assert_eq!((t2.requests, t2.server_errors, t2.bytes_in), (1, 1, 30));
        assert_eq!(t2.db_ms, 7.5);
        let table = table(&usage);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].starts_with("tenant1"),
            "most requests first: {table}"
        );
        assert!(lines[1].contains("1084"));
    }
}
