//! The search domain, one index per tenant, enforced on the local stack
//! under every strategy.
//!
//! Each test takes the search sessions search-docs really creates (through
//! its own `App`) and goes around the crate with them: raw requests signed
//! for `es` with the session's credentials, to the paths a bug or an
//! attacker would try. tenant1 must reach its own index, and nothing of
//! tenant2's: not by name, not through an index expression (`_all`, `*`,
//! `tenant1*`, a comma list), not through a multi-index API whose body
//! names tenant2's index (`_bulk`, `_mget`, `_msearch`), not through an
//! alias, not by listing indices (`_cat/indices`), and not through a tenant
//! id of which its own is a prefix (`tenant10`). Every refusal is the local
//! front's (it evaluates `es:ESHttp*` on the domain ARN and the path with
//! the deployed policies), and says so. The engine behind it is a stand-in
//! that does resolve expressions and aliases (its unit tests), so a
//! refusal here is IAM's, not the stand-in's lack.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};
use tenant_access::search::DocId;
use test_support::{Stack, http_full};

const STRATEGIES: [&str; 5] = [
    "role-per-tenant",
    "session-tags",
    "session-policy",
    "session-tags+session-policy",
    "identity-pool",
];

/// What the domain answered: status, whether the front refused it (its
/// request id), and the JSON body.
type Answer = (u16, bool, Value);

/// `method path?query` with `body`, signed for `es` by `creds`.
async fn es(
    host: &str,
    creds: &Credentials,
    method: &'static str,
    path: &str,
    query: &str,
    body: &[u8],
) -> Answer {
    let url = if query.is_empty() {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}{path}?{query}")
    };
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("es")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers = vec![
        ("host".to_owned(), host.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let signable = SignableRequest::new(
        method,
        url.clone(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    headers.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    headers.retain(|(k, _)| k != "host");
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, answer_headers, body) = http_full(method, &url, &headers, body).await;
    let by_front = status == 403
        && answer_headers
            .iter()
            .any(|(k, v)| k == "x-amzn-requestid" && v == "local-front");
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, by_front, body)
}

/// tenant1's and tenant2's search sessions under `isolation`, as
/// search-docs creates them, with tenant2's index holding `secret`.
async fn sessions(stack: &Stack, isolation: &str) -> (Credentials, Credentials) {
    let env = stack.with_strategy(isolation);
    let app = search_docs::App::new(
        &search_docs::Config::from_lookup(&env.lookup()).expect("search-docs config"),
        &env.sdk_config().await,
    )
    .expect("TLS roots");
    let mut out = Vec::new();
    for tenant in ["tenant1", "tenant2"] {
        let caller = stack
            .caller(tenant, isolation, &format!("search-{isolation}"))
            .await;
        let session = app
            .sessions()
            .session(&caller)
            .await
            .unwrap_or_else(|e| panic!("{isolation}: {tenant}'s session: {e:?}"));
        let (id, doc) = if tenant == "tenant2" {
            ("secret", json!({"title": "tenant2 secret plans"}))
        } else {
            ("mine", json!({"title": "tenant1 own plans"}))
        };
        app.index()
            .put(&session, &DocId::parse(id).unwrap(), &doc)
            .await
            .unwrap_or_else(|e| panic!("{isolation}: {tenant} indexes its own: {e:?}"));
        out.push(session.credentials().clone());
    }
    let tenant2 = out.pop().unwrap();
    (out.pop().unwrap(), tenant2)
}

fn host(stack: &Stack) -> String {
    stack
        .var("SEARCH_ENDPOINT")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

#[track_caller]
fn refused(answer: &Answer, what: &str) {
    let (status, by_front, body) = answer;
    assert_eq!(*status, 403, "{what}: {body}");
    assert!(*by_front, "{what}: not the front's refusal: {body}");
    assert!(
        !body.to_string().contains("secret plans"),
        "{what}: tenant2's document leaked: {body}"
    );
}

#[tokio::test]
async fn a_tenant_s_search_session_reaches_its_own_index_and_nothing_else_under_every_strategy() {
    let stack = Stack::load();
    let host = host(&stack);
    for isolation in STRATEGIES {
        let (tenant1, tenant2) = sessions(&stack, isolation).await;
        let call = |creds: &Credentials, method, path: &str, query: &str, body: &[u8]| {
            let creds = creds.clone();
            let host = host.clone();
            let path = path.to_owned();
            let query = query.to_owned();
            let body = body.to_vec();
            async move { es(&host, &creds, method, &path, &query, &body).await }
        };

        // Its own index: documents and search.
        let (status, _, body) = call(&tenant1, "GET", "/tenant1.docs/_doc/mine", "", b"").await;
        assert_eq!(status, 200, "{isolation}: its own document: {body}");
        let (status, _, body) =
            call(&tenant1, "GET", "/tenant1.docs/_search", "q=plans", b"").await;
        assert_eq!(status, 200, "{isolation}: its own search: {body}");
        assert_eq!(body["hits"]["total"]["value"], 1, "{isolation}: {body}");
        // tenant2 sees its own, so what tenant1 is refused exists.
        let (status, _, _) = call(&tenant2, "GET", "/tenant2.docs/_doc/secret", "", b"").await;
        assert_eq!(status, 200, "{isolation}: tenant2 reads its own");

        // Another tenant's index, by name.
        for (method, path, body) in [
            ("GET", "/tenant2.docs/_doc/secret", &b""[..]),
            ("GET", "/tenant2.docs/_search", b""),
            (
                "PUT",
                "/tenant2.docs/_doc/planted",
                br#"{"title":"planted"}"#,
            ),
            ("DELETE", "/tenant2.docs/_doc/secret", b""),
            // A tenant id of which tenant1 is a prefix.
            ("GET", "/tenant10.docs/_search", b""),
        ] {
            let answer = call(&tenant1, method, path, "q=plans", body).await;
            refused(&answer, &format!("{isolation}: {method} {path}"));
        }
        // Index expressions, which the engine would resolve to tenant2's.
        for path in [
            "/_all/_search",
            "/*/_search",
            "/tenant*/_search",
            "/tenant1*/_search",
            "/tenant1.*/_search",
            "/tenant1.docs,tenant2.docs/_search",
            "/_search",
        ] {
            let answer = call(&tenant1, "GET", path, "q=plans", b"").await;
            refused(&answer, &format!("{isolation}: GET {path}"));
        }
        // Multi-index APIs whose bodies name tenant2's index, on tenant1's
        // index and on none.
        let bulk = b"{\"index\":{\"_index\":\"tenant2.docs\",\"_id\":\"planted\"}}\n{\"title\":\"planted\"}\n";
        let mget = br#"{"docs":[{"_index":"tenant2.docs","_id":"secret"}]}"#;
        let msearch = b"{\"index\":\"tenant2.docs\"}\n{\"query\":{\"match_all\":{}}}\n";
        for (method, path, body) in [
            ("POST", "/tenant1.docs/_bulk", &bulk[..]),
            ("POST", "/_bulk", bulk),
            ("POST", "/tenant1.docs/_mget", mget),
            ("GET", "/_mget", mget),
            ("POST", "/tenant1.docs/_msearch", msearch),
            ("GET", "/_msearch", msearch),
        ] {
            let answer = call(&tenant1, method, path, "", body).await;
            refused(&answer, &format!("{isolation}: {method} {path}"));
        }
        // Aliases: tenant1 pointing one at tenant2's index, or tenant2
        // naming one of its own with tenant1's index name.
        let aliases = br#"{"actions":[{"add":{"index":"tenant2.docs","alias":"tenant1.view"}}]}"#;
        for (creds, method, path, body) in [
            (&tenant1, "POST", "/_aliases", &aliases[..]),
            (&tenant1, "PUT", "/tenant2.docs/_alias/tenant1.view", b""),
            (&tenant1, "PUT", "/tenant1.docs/_alias/tenant1.view", b""),
            (&tenant2, "PUT", "/tenant2.docs/_alias/tenant1.docs2", b""),
        ] {
            let answer = call(creds, method, path, "", body).await;
            refused(&answer, &format!("{isolation}: {method} {path}"));
        }
        // The function's own identity (its execution role) reaches no
        // index at all: only tenant sessions do.
        let execution = Credentials::new(
            stack.var("AWS_ACCESS_KEY_ID"),
            stack.var("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "execution",
        );
        let answer = call(&execution, "GET", "/tenant1.docs/_search", "", b"").await;
        refused(
            &answer,
            &format!("{isolation}: the execution identity searching"),
        );
        // Listing the domain's indices.
        let answer = call(&tenant1, "GET", "/_cat/indices", "", b"").await;
        refused(&answer, &format!("{isolation}: GET /_cat/indices"));

        // Nothing reached tenant2's index.
        let (status, _, body) = call(&tenant2, "GET", "/tenant2.docs/_doc/planted", "", b"").await;
        assert_eq!(status, 404, "{isolation}: nothing was planted: {body}");
        let (status, _, body) = call(&tenant2, "GET", "/tenant2.docs/_doc/secret", "", b"").await;
        assert_eq!(status, 200, "{isolation}: nothing was deleted: {body}");
    }
}

/// A crooked path (a dot segment, an encoded `/`) could stretch a grant's
/// `*` across segments: the front refuses it before IAM, as AWS normalizes
/// it, and no session can name another index that way.
#[tokio::test]
async fn crooked_paths_are_refused_before_iam() {
    let stack = Stack::load();
    let host = host(&stack);
    let (tenant1, _) = sessions(&stack, "role-per-tenant").await;
    for path in [
        "/tenant1.docs/_doc/x/../../tenant2.docs/_doc/secret",
        "/tenant1.docs/_doc/a%2F..%2F..%2Ftenant2.docs",
        "/tenant1.docs//_search",
    ] {
        let (status, _, body) = es(&host, &tenant1, "GET", path, "", b"").await;
        assert!(
            status == 400 || status == 403,
            "{path}: refused, not served: {status} {body}"
        );
        assert!(!body.to_string().contains("secret plans"), "{path}: {body}");
    }
}
