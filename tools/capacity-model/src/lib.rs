//! What a deployment's load costs in the limits AWS sets, before it is
//! deployed: the model behind `cargo xtask capacity` and the bench's
//! capacity chart (`bench/capacity.svg`).
//!
//! Given tenants, requests per second, how skewed the requests are over the
//! tenants (a Zipf exponent), containers and the functions' settings, it
//! predicts per container and in all: the tenants a container sees, its
//! cached sessions and STS calls, its open database connections and new IAM
//! logins, KMS calls and memory; and compares each with its AWS limit
//! (Aurora's `max_connections` by instance class, RDS Proxy's pool, RDS's
//! 200 new IAM connections per second, STS's and KMS's request quotas),
//! naming the first one the load reaches.
//!
//! The model: a container serves `rps / containers` requests per second,
//! each for a tenant drawn by popularity (rank `i` with weight `1 / i^skew`).
//! The tenants a container sees in a period of `k` requests are
//! `Σ 1 - (1 - p_i)^k`; a least-recently-used cache of `c` entries holds the
//! `c` most popular with the hit ratio of Che's approximation. Sessions are
//! replaced ahead of expiry once per session life, connections once per
//! maximum age. Calibrated with the bench's own figures: a cached session
//! costs 3.8 KB, a container 13 MiB at cold start (docs/capacity.md says
//! how its predictions compare with the bench's runs).

use std::fmt::Write as _;

/// What the model is asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub tenants: usize,
    pub rps: f64,
    pub skew: f64,
    pub containers: usize,
    /// `TENANT_CACHE_CAPACITY`.
    pub cache_capacity: usize,
    /// `DB_CONNECTION_CAPACITY`.
    pub db_capacity: usize,
    /// The share of requests that go to the database (aurora-query).
    pub db_share: f64,
    /// The share of requests that read or write an object (s3-fetch): one
    /// KMS call each, since Bucket Keys are off.
    pub s3_share: f64,
    /// `TENANT_SESSION_SECONDS`.
    pub session_seconds: f64,
    /// `DB_CONNECTION_MAX_AGE_SECONDS`.
    pub max_age_seconds: f64,
    /// The cluster's writer instance class, for `max_connections`.
    pub instance_class: String,
    /// Whether an RDS Proxy pools the connections (its pool: 100% of
    /// `max_connections` by default).
    pub proxy: bool,
    /// KMS's shared quota for cryptographic operations in the region.
    pub kms_quota: f64,
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs {
            tenants: 1000,
            rps: 100.0,
            skew: 1.1,
            containers: 10,
            cache_capacity: 10_000,
            db_capacity: 20,
            db_share: 0.3,
            s3_share: 0.4,
            session_seconds: 900.0,
            max_age_seconds: 900.0,
            instance_class: "db.r6g.large".to_owned(),
            proxy: false,
            kms_quota: 10_000.0,
        }
    }
}

/// STS's default quota for one account, calls per second.
pub const STS_QUOTA: f64 = 600.0;
/// RDS's limit on new IAM-authenticated connections per second (per
/// instance).
pub const IAM_LOGINS_PER_SECOND: f64 = 200.0;
/// A cached session (its credentials and its registry state), bytes: the
/// bench's session-memory scenario.
pub const SESSION_BYTES: f64 = 3_800.0;
/// A container at cold start, bytes: the bench's cold-start peak RSS.
pub const CONTAINER_BYTES: f64 = 13.0 * 1024.0 * 1024.0;
/// An open database connection's client side (tokio-postgres, rustls
/// buffers), bytes: an assumption, not measured.
pub const CONNECTION_BYTES: f64 = 64.0 * 1024.0;
/// Sessions are replaced this long before they expire, at most.
const REFRESH_AHEAD_SECONDS: f64 = 300.0;

/// Aurora PostgreSQL's default `max_connections`:
/// `LEAST(DBInstanceClassMemory / 9531392, 5000)`, by the class's memory.
pub fn max_connections(instance_class: &str) -> Option<f64> {
    let gib = match instance_class {
        "db.t4g.medium" | "db.t3.medium" => 4.0,
        "db.t4g.large" | "db.t3.large" => 8.0,
        "db.r6g.large" | "db.r7g.large" | "db.r5.large" => 16.0,
        "db.r6g.xlarge" | "db.r7g.xlarge" | "db.r5.xlarge" => 32.0,
        "db.r6g.2xlarge" | "db.r7g.2xlarge" | "db.r5.2xlarge" => 64.0,
        "db.r6g.4xlarge" | "db.r7g.4xlarge" | "db.r5.4xlarge" => 128.0,
        _ => return None,
    };
    // The instance's memory less what the OS keeps, as RDS reports it:
    // about 94% of the class's.
    let bytes: f64 = gib * 1024.0 * 1024.0 * 1024.0 * 0.94;
    Some((bytes / 9_531_392.0).floor().min(5000.0))
}

/// The popularity of each of `n` tenants, most popular first, summing to 1.
pub fn popularity(n: usize, skew: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|rank| 1.0 / (rank as f64).powf(skew)).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// Distinct tenants expected among `k` requests.
pub fn distinct(p: &[f64], k: f64) -> f64 {
    p.iter().map(|pi| 1.0 - (1.0 - pi).powf(k)).sum()
}

/// The hit ratio of a least-recently-used cache of `capacity` entries under
/// requests drawn by `p` (Che's approximation); 1 when every tenant fits.
pub fn lru_hit_ratio(p: &[f64], capacity: usize) -> f64 {
    if capacity >= p.len() {
        return 1.0;
    }
    if capacity == 0 {
        return 0.0;
    }
    // The characteristic time T: Σ (1 - e^{-p_i T}) = capacity.
    let occupancy = |t: f64| p.iter().map(|pi| 1.0 - (-pi * t).exp()).sum::<f64>();
    let (mut low, mut high) = (0.0, 1.0);
    while occupancy(high) < capacity as f64 {
        high *= 2.0;
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if occupancy(mid) < capacity as f64 {
            low = mid;
        } else {
            high = mid;
        }
    }
    p.iter().map(|pi| pi * (1.0 - (-pi * high).exp())).sum()
}

/// One predicted quantity, per container and in all, with its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: &'static str,
    pub per_container: f64,
    pub total: f64,
    /// The AWS limit the total is held against, and its name.
    pub limit: Option<(f64, String)>,
}

impl Line {
    /// The share of its limit the total takes.
    pub fn used(&self) -> Option<f64> {
        self.limit.as_ref().map(|(limit, _)| self.total / limit)
    }
}

/// Every prediction for `inputs`.
pub fn predict(inputs: &Inputs) -> Vec<Line> {
    let p = popularity(inputs.tenants, inputs.skew);
    let c = inputs.containers.max(1) as f64;
    let per_container = inputs.rps / c;
    // Sessions: the tenants a container sees within a session's life.
    let seen = distinct(&p, per_container * inputs.session_seconds);
    let cached = seen.min(inputs.cache_capacity as f64);
    let session_hit = if seen <= inputs.cache_capacity as f64 {
        1.0
    } else {
        lru_hit_ratio(&p, inputs.cache_capacity)
    };
    let refresh_period = (inputs.session_seconds - REFRESH_AHEAD_SECONDS).max(60.0);
    let sts = per_container * (1.0 - session_hit) + cached / refresh_period;
    // Connections: the database tenants a container sees within a
    // connection's life.
    let db_rate = per_container * inputs.db_share;
    let db_seen = distinct(&p, db_rate * inputs.max_age_seconds);
    let open = db_seen.min(inputs.db_capacity as f64);
    let db_hit = if db_seen <= inputs.db_capacity as f64 {
        1.0
    } else {
        lru_hit_ratio(&p, inputs.db_capacity)
    };
    let logins = db_rate * (1.0 - db_hit) + open / inputs.max_age_seconds;
    let kms = per_container * inputs.s3_share;
    let memory = CONTAINER_BYTES + cached * SESSION_BYTES + open * CONNECTION_BYTES;
    let connections_limit = max_connections(&inputs.instance_class).map(|m| {
        let name = if inputs.proxy {
            format!(
                "RDS Proxy's pool ({} max_connections)",
                inputs.instance_class
            )
        } else {
            format!("{} max_connections", inputs.instance_class)
        };
        (m, name)
    });
    vec![
        Line {
            name: "tenants seen per session life",
            per_container: seen,
            total: distinct(&p, inputs.rps * inputs.session_seconds),
            limit: None,
        },
        Line {
            name: "cached sessions",
            per_container: cached,
            total: cached * c,
            limit: None,
        },
        Line {
            name: "STS calls/s",
            per_container: sts,
            total: sts * c,
            limit: Some((STS_QUOTA, "STS's account quota".to_owned())),
        },
        Line {
            name: "open DB connections",
            per_container: open,
            // Behind a proxy the cluster sees the proxy's pool, which
            // multiplexes; the functions' side is still these.
            total: open * c,
            limit: connections_limit,
        },
        Line {
            name: "new IAM logins/s",
            per_container: logins,
            total: logins * c,
            limit: Some((
                IAM_LOGINS_PER_SECOND,
                "RDS's IAM connection rate".to_owned(),
            )),
        },
        Line {
            name: "KMS calls/s",
            per_container: kms,
            total: kms * c,
            limit: Some((inputs.kms_quota, "KMS's regional quota".to_owned())),
        },
        Line {
            name: "memory MiB",
            per_container: memory / 1024.0 / 1024.0,
            total: memory * c / 1024.0 / 1024.0,
            limit: None,
        },
    ]
}

/// The limit the load reaches first (the largest share of its limit), if
/// any line has one.
pub fn first_limit(lines: &[Line]) -> Option<&Line> {
    lines
        .iter()
        .filter(|l| l.used().is_some())
        .max_by(|a, b| a.used().unwrap_or(0.0).total_cmp(&b.used().unwrap_or(0.0)))
}

/// The report `cargo xtask capacity` prints.
pub fn report(inputs: &Inputs) -> String {
    let lines = predict(inputs);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} tenants, {} requests/s (skew {}), {} containers; cache {}, DB connections {} per container; {} of requests to the database, {} to objects",
        inputs.tenants,
        inputs.rps,
        inputs.skew,
        inputs.containers,
        inputs.cache_capacity,
        inputs.db_capacity,
        inputs.db_share,
        inputs.s3_share
    );
    let _ = writeln!(
        out,
        "{:<32} {:>14} {:>14} {:>10}  limit",
        "", "per container", "total", "of limit"
    );
    for line in &lines {
        let used = line
            .used()
            .map_or_else(|| "-".to_owned(), |u| format!("{:.0}%", u * 100.0));
        let limit = line
            .limit
            .as_ref()
            .map_or_else(String::new, |(value, name)| format!("{value:.0} ({name})"));
        let _ = writeln!(
            out,
            "{:<32} {:>14.1} {:>14.1} {:>10}  {}",
            line.name, line.per_container, line.total, used, limit
        );
    }
    match first_limit(&lines) {
        Some(line) if line.used().unwrap_or(0.0) >= 1.0 => {
            let _ = writeln!(
                out,
                "first limit hit: {} ({:.0}% of {})",
                line.name,
                line.used().unwrap_or(0.0) * 100.0,
                line.limit.as_ref().map_or("", |(_, n)| n.as_str())
            );
        }
        Some(line) => {
            let _ = writeln!(
                out,
                "no limit reached; the nearest: {} at {:.0}%",
                line.name,
                line.used().unwrap_or(0.0) * 100.0
            );
        }
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_tenants_and_the_lru_follow_the_popularity() {
        let uniform = popularity(100, 0.0);
        assert!((distinct(&uniform, 1.0) - 1.0).abs() < 1e-9);
        assert!(distinct(&uniform, 10_000.0) > 99.9);
        // Uniform requests over twice the cache: about half hit.
        let half = lru_hit_ratio(&popularity(200, 0.0), 100);
        assert!((half - 0.5).abs() < 0.02, "{half}");
        // A skewed mix hits far more than its share of the tenants.
        let skewed = lru_hit_ratio(&popularity(10_000, 1.1), 1000);
        assert!(skewed > 0.7, "{skewed}");
        assert_eq!(lru_hit_ratio(&uniform, 100), 1.0);
    }

    /// The bench's Zipf scenario (2,000 tenants, s = 1.1, 4,000 warm-up
    /// requests then 1,000 measured): it measured 893 tenants seen and 101
    /// AssumeRole calls per 1,000 (first touches). The model's distinct
    /// counts give the same within 25%.
    #[test]
    fn the_model_predicts_the_bench_s_zipf_run() {
        let p = popularity(2000, 1.1);
        let seen = distinct(&p, 5000.0);
        assert!((seen - 893.0).abs() / 893.0 < 0.25, "seen {seen}");
        let first_touches = distinct(&p, 5000.0) - distinct(&p, 4000.0);
        assert!(
            (first_touches - 101.0).abs() / 101.0 < 0.25,
            "first touches per 1000: {first_touches}"
        );
    }

    #[test]
    fn the_first_limit_is_named_and_grows_with_the_load() {
        let small = Inputs {
            tenants: 100,
            rps: 50.0,
            containers: 5,
            ..Inputs::default()
        };
        let report = super::report(&small);
        assert!(report.contains("no limit reached"), "{report}");
        let large = Inputs {
            tenants: 100_000,
            rps: 5_000.0,
            skew: 0.8,
            containers: 500,
            db_capacity: 100,
            ..Inputs::default()
        };
        let lines = predict(&large);
        let first = first_limit(&lines).unwrap();
        assert!(first.used().unwrap() >= 1.0, "{lines:?}");
        assert!(super::report(&large).contains("first limit hit"));
        assert_eq!(max_connections("db.r6g.large"), Some(1694.0));
        assert_eq!(max_connections("db.r6g.2xlarge"), Some(5000.0));
    }
}
