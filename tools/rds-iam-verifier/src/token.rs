//! Parsing an RDS IAM auth token: `host:port/?Action=connect&DBUser=...&X-Amz-...`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::Refusal;

/// The fields of a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// `host:port` the token was signed for.
    pub host: String,
    /// Port the token was signed for.
    pub port: u16,
    /// Every query parameter, decoded.
    pub params: BTreeMap<String, String>,
    /// Access key id from `X-Amz-Credential`.
    pub access_key_id: String,
    /// Region from the credential scope.
    pub region: String,
    /// Service from the credential scope.
    pub service: String,
    /// `X-Amz-Date`.
    pub signed_at: SystemTime,
    /// `X-Amz-Expires`.
    pub expires_in: Duration,
}

impl Token {
    /// Parse a token; any deviation from the RDS format is a refusal.
    pub fn parse(raw: &str) -> Result<Token, Refusal> {
        let bad = |why: &str| Refusal::Malformed(why.to_owned());
        let (authority, query) = raw
            .split_once("/?")
            .ok_or_else(|| bad("not host:port/?query"))?;
        let (host, port) = authority.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad("port is not a number"))?;
        let mut params = BTreeMap::new();
        for pair in query.split('&') {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad("query pair without '='"))?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
            };
            let (k, v) = (
                decode(k).map_err(|_| bad("bad encoding"))?,
                decode(v).map_err(|_| bad("bad encoding"))?,
            );
            if params.insert(k, v).is_some() {
                return Err(bad("repeated query parameter"));
            }
        }
        let get = |k: &str| {
            params
                .get(k)
                .cloned()
                .ok_or_else(|| Refusal::Malformed(format!("missing {k}")))
        };
        if get("Action")? != "connect" {
            return Err(bad("Action is not connect"));
        }
        if get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
            return Err(bad("unsupported algorithm"));
        }
        if get("X-Amz-SignedHeaders")? != "host" {
            return Err(bad("signed headers are not exactly host"));
        }
        let credential = get("X-Amz-Credential")?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, _date, region, service, terminator] = scope[..] else {
            return Err(bad("credential scope has the wrong shape"));
        };
        if terminator != "aws4_request" {
            return Err(bad("credential scope does not end in aws4_request"));
        }
        let signed_at = parse_amz_date(&get("X-Amz-Date")?).ok_or_else(|| bad("bad X-Amz-Date"))?;
        if !_date.is_empty() && !get("X-Amz-Date")?.starts_with(_date) {
            return Err(bad("credential scope date differs from X-Amz-Date"));
        }
        let expires_in: u64 = get("X-Amz-Expires")?
            .parse()
            .map_err(|_| bad("bad X-Amz-Expires"))?;
        get("DBUser")?;
        get("X-Amz-Signature")?;
        Ok(Token {
            host: host.to_owned(),
            port,
            access_key_id: access_key_id.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_at,
            expires_in: Duration::from_secs(expires_in),
            params,
        })
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// `YYYYMMDDTHHMMSSZ` to a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTOCORE: &str =
        include_str!("../../../shared/tenant-access/tests/fixtures/botocore-auth-token.txt");

    #[test]
    fn parses_botocores_token() {
        let t = Token::parse(BOTOCORE.trim()).unwrap();
        assert_eq!(
            t.host,
            "tenants.cluster-abc123example.us-west-2.rds.amazonaws.com"
        );
        assert_eq!(t.port, 5432);
        assert_eq!(t.param("DBUser"), Some("tenant1_dbuser"));
        assert_eq!(t.access_key_id, "ASIAEXAMPLEPINNED01");
        assert_eq!(
            (t.region.as_str(), t.service.as_str()),
            ("us-west-2", "rds-db")
        );
        assert_eq!(
            t.signed_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045)
        );
        assert_eq!(t.expires_in, Duration::from_secs(900));
        assert_eq!(
            t.param("X-Amz-Security-Token"),
            Some("IQoJb3JpZ2luX2VjEXAMPLE+/token=")
        );
    }

    #[test]
    fn refuses_what_is_not_a_token() {
        for raw in [
            "hunter2",
            "",
            "host/?Action=connect",
            "h:1/?Action=connect&Action=connect",
        ] {
            assert!(Token::parse(raw).is_err(), "{raw:?}");
        }
        let wrong_action = BOTOCORE.trim().replace("Action=connect", "Action=other");
        assert!(Token::parse(&wrong_action).is_err());
    }
}
