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

/// An HTTP API v2 event whose JWT authorizer verified `claims`.
fn event_with_claims(claims: Value) -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": "GET /tenant", "rawPath": "/tenant", "rawQueryString": "",
        "headers": {"x-tenant-id": "tenant2"}, "isBase64Encoded": false,
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A tenant id is exactly the documented alphabet and length.
    #[test]
    fn tenant_ids_follow_the_one_rule(s in nasty()) {
        let rule = !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        prop_assert_eq!(s.parse::<TenantId>().is_ok(), rule);
    }

    /// Whatever the claim holds, extraction answers without panicking, and
    /// an accepted tenant is the claim itself (never the header).
    #[test]
    fn claims_give_the_claimed_tenant_or_a_refusal(value in json(), claim in nasty()) {
        let event = event_with_claims(serde_json::json!({"custom:tenant_id": value.clone(), "other": claim}));
        let Ok(request) = lambda_http::request::from_str(&event) else {
            return Ok(());
        };
        match Caller::from_request(&request, "custom:tenant_id") {
            Ok(caller) => {
                prop_assert_eq!(Some(caller.tenant.as_str()), value.as_str());
                prop_assert_ne!(caller.tenant.as_str(), "tenant2");
            }
            Err(err) => prop_assert_eq!(err.status().as_u16(), 403),
        }
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
