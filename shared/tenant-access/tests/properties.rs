//! Property tests of everything that parses client or authorizer input:
//! no input panics, and whatever is accepted keeps a request inside its
//! tenant.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};
use proptest::prelude::*;
use serde_json::{Map, Value};
use tenant_access::config::S3Config;
use tenant_access::http::{cursor, json_body};
use tenant_access::s3::{ByteRange, KeyPrefix, ListPosition, ObjectKey, TenantBucket};
use tenant_access::{Caller, TenantId};

/// Strings biased towards what attacks keys and ids: separators, dots,
/// encodings, unicode, control characters.
fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("/".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("\\".to_owned()),
            Just("%2f".to_owned()),
            Just("%2e".to_owned()),
            Just("\u{0}".to_owned()),
            Just("tenant2".to_owned()),
            Just("_home".to_owned()),
            "[a-z0-9_-]{1,8}",
            any::<String>(),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn bucket() -> TenantBucket {
    let config = S3Config::from_lookup(|name: &str| match name {
        "TENANT_BUCKET" => Some("shared".to_owned()),
        _ => None,
    })
    .unwrap();
    TenantBucket::new(&config)
}

/// An HTTP API v2 event whose JWT authorizer verified `claims`, with an
/// `x-tenant-id` header of the caller's choosing (which must never count).
fn event_with_claims(claims: Value, header_tenant: &str) -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": "GET /tenant", "rawPath": "/tenant", "rawQueryString": "",
        "headers": {"x-tenant-id": header_tenant}, "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "example.com",
            "domainPrefix": "api", "requestId": "req-1", "routeKey": "GET /tenant",
            "stage": "$default", "time": "", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/tenant", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "prop"},
            "authorizer": {"jwt": {"claims": claims, "scopes": null}}
        }
    })
    .to_string()
}

/// Arbitrary JSON values, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The tenant claim of a generated event: absent, a well-formed tenant id
/// (often `tenant2`, the id the header claims too), or a hostile string.
/// Always a string when present: API Gateway's JWT claims are strings, so
/// every generated event parses and reaches `Caller::from_request`.
fn tenant_claim() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some("tenant2".to_owned())),
        4 => "[a-z0-9][a-z0-9_-]{0,62}".prop_map(Some),
        3 => nasty().prop_map(Some),
    ]
}

/// What the caller writes in the `x-tenant-id` header: another tenant's
/// id, as an attacker would.
fn header_tenant() -> impl Strategy<Value = String> {
    prop_oneof![Just("tenant2".to_owned()), "[a-z0-9][a-z0-9_-]{0,20}"]
}

/// JSON values that are not strings: what no JWT authorizer puts in a
/// claim.
fn non_string_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::collection::vec(json(), 0..4).prop_map(Value::Array),
        prop::collection::btree_map(any::<String>(), json(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// Cases of the claim property; most must get past the event's parsing.
const CLAIM_CASES: u32 = 512;

/// Whatever string the claim holds, and whatever the header says,
/// extraction answers: the claimed tenant when the claim is a tenant id,
/// else a 403 naming why; the header never counts. Every generated event
/// parses, and a large share of cases is accepted and a large share
/// refused, so both branches are exercised.
#[test]
fn claims_give_the_claimed_tenant_or_a_refusal() {
    use proptest::test_runner::{TestCaseError, TestRunner};
    use std::cell::Cell;

    let accepted = Cell::new(0u32);
    let refused = Cell::new(0u32);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CLAIM_CASES));
    let strategy = (tenant_claim(), header_tenant(), nasty());
    let result = runner.run(&strategy, |(claim, header, other)| {
        let mut claims = Map::new();
        claims.insert("other".to_owned(), Value::String(other));
        if let Some(claim) = &claim {
            claims.insert("custom:tenant_id".to_owned(), Value::String(claim.clone()));
        }
        let event = event_with_claims(Value::Object(claims), &header);
        let request = lambda_http::request::from_str(&event)
            .map_err(|e| TestCaseError::fail(format!("a string claim must parse: {e}")))?;
        let valid = claim
            .as_deref()
            .is_some_and(|c| c.parse::<TenantId>().is_ok());
        match Caller::from_request(&request, "custom:tenant_id") {
            Ok(caller) => {
                accepted.set(accepted.get() + 1);
                prop_assert!(valid, "accepted {:?} for claim {:?}", caller.tenant, claim);
                prop_assert_eq!(Some(caller.tenant.as_str()), claim.as_deref());
                if claim.as_deref() != Some(header.as_str()) {
                    prop_assert_ne!(caller.tenant.as_str(), header.as_str());
                }
            }
            Err(err) => {
                refused.set(refused.get() + 1);
                prop_assert!(!valid, "refused the valid claim {:?}: {:?}", claim, err);
                prop_assert_eq!(err.status().as_u16(), 403);
                let code = if claim.is_none() {
                    "tenant_claim_missing"
                } else {
                    "invalid_tenant"
                };
                prop_assert_eq!(err.code(), code, "{:?}", claim);
            }
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (accepted, refused) = (accepted.get(), refused.get());
    assert_eq!(
        accepted + refused,
        CLAIM_CASES,
        "every case reached the extraction"
    );
    assert!(
        accepted >= CLAIM_CASES / 4,
        "only {accepted} of {CLAIM_CASES} cases accepted"
    );
    assert!(
        refused >= CLAIM_CASES / 8,
        "only {refused} of {CLAIM_CASES} cases refused"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A claim that is not a string (a number, an object, null...) is no
    /// API Gateway JWT event: the event is refused as a whole when it is
    /// parsed (an error, not a panic), so no handler ever sees it.
    #[test]
    fn non_string_claims_are_refused_when_the_event_is_parsed(value in non_string_json()) {
        let event = event_with_claims(serde_json::json!({"custom:tenant_id": value}), "tenant2");
        prop_assert!(lambda_http::request::from_str(&event).is_err());
    }

    /// A tenant id is exactly the documented alphabet and length.
    #[test]
    fn tenant_ids_follow_the_one_rule(s in nasty()) {
        let rule = !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        prop_assert_eq!(s.parse::<TenantId>().is_ok(), rule);
    }

    /// An accepted object key stays under the tenant's prefix: the full key
    /// starts with it and no segment can climb out of it.
    #[test]
    fn accepted_keys_stay_under_the_tenant_prefix(key in nasty()) {
        let tenant: TenantId = "tenant1".parse().unwrap();
        match ObjectKey::parse(&key) {
            Ok(parsed) => {
                let full = bucket().full_key(&tenant, &parsed);
                prop_assert!(full.starts_with("tenant1_home/"));
                for segment in full.split('/') {
                    prop_assert!(!segment.is_empty() && segment != "." && segment != "..", "{}", full);
                }
                prop_assert!(!full.contains('\\') && !full.chars().any(char::is_control));
            }
            Err(err) => prop_assert_eq!(err.status().as_u16(), 400),
        }
        if let Ok(prefix) = KeyPrefix::parse(&key) {
            let trimmed = prefix.as_str().strip_suffix('/').unwrap_or(prefix.as_str());
            prop_assert!(trimmed.is_empty() || ObjectKey::parse(trimmed).is_ok());
        }
    }

    /// Listing cursors round-trip for any key S3 can hold, and any string
    /// offered as a cursor is answered without panicking.
    #[test]
    fn listing_cursors_round_trip(key in "\\PC{1,300}", junk in any::<String>()) {
        prop_assume!(key.len() <= 1024);
        let token = cursor::encode(&key);
        let back = cursor::decode(&token).unwrap();
        let position = ListPosition::parse(&back).unwrap();
        prop_assert_eq!(position.as_str(), key.as_str());
        if let Err(err) = cursor::decode(&junk).and_then(|k| ListPosition::parse(&k)) {
            prop_assert_eq!(err.status().as_u16(), 400);
        }
    }

    /// A `Range` is refused or is one well-formed range that prints back
    /// the same.
    #[test]
    fn ranges_parse_or_are_refused(header in prop_oneof![
        "bytes=[0-9]{0,21}-[0-9]{0,21}",
        any::<String>(),
    ]) {
        match ByteRange::parse(&header) {
            Ok(range) => {
                let printed = range.to_string();
                prop_assert_eq!(ByteRange::parse(&printed).unwrap(), range);
                if let ByteRange::Closed(a, b) = range {
                    prop_assert!(a <= b);
                }
            }
            Err(err) => prop_assert_eq!(err.status().as_u16(), 400),
        }
    }

    /// JSON bodies: any bytes and content type are answered with the
    /// documented client errors, never a panic or a 5xx.
    #[test]
    fn json_bodies_are_parsed_or_refused(
        body in prop_oneof![
            json().prop_map(|v| v.to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..64),
        ],
        content_type in prop_oneof![
            Just("application/json"),
            Just("application/merge-patch+json"),
            Just("text/plain"),
            Just(""),
        ],
    ) {
        let mut request = Request::new(Body::Binary(body));
        if !content_type.is_empty() {
            request.headers_mut().insert(CONTENT_TYPE, content_type.parse().unwrap());
        }
        match json_body::<Map<String, Value>>(&request, 48) {
            Ok(_) => prop_assert!(content_type.ends_with("json")),
            Err(err) => prop_assert!(
                [400, 413, 415, 422].contains(&err.status().as_u16()),
                "{:?}", err
            ),
        }
    }
}

/// The key property above checks accepted keys only when the strategy
/// produces some: count them over the same strategy, so a strategy (or a
/// parser) that refuses everything cannot pass it vacuously.
#[test]
fn the_key_strategy_yields_accepted_and_refused_keys() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..512 {
        let key = nasty().new_tree(&mut runner).unwrap().current();
        match ObjectKey::parse(&key) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(accepted >= 50, "only {accepted} of 512 keys accepted");
    assert!(refused >= 50, "only {refused} of 512 keys refused");
}
