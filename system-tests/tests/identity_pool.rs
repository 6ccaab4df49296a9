//! The identity-pool strategy's failures: no valid token, no credentials.
//!
//! A front of its own stands before moto (so its clock can be moved and its
//! counts read), serving the local identity pool from the seed's registry.
//! - Through the function: a caller's own token is exchanged once and then
//!   served from the cache; an event whose claims have no valid token
//!   behind them (none, another user's, a forged one) answers 401, and the
//!   first two make no AWS call at all.
//! - At the pool: a token of another user pool, an expired token, a token
//!   whose claims were altered, and a user whose tenant claim is not a valid
//!   session tag value get no credentials.
//!
//! One test, in steps: the last step pauses moto's IAM enforcement to add a
//! user, which must not overlap other tests' refusals.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use lambda_http::{Body, Response};
use local_front::HttpFront;
use serde_json::{Value, json};
use test_support::{Stack, http_with};

/// An HTTP API v2 event for `GET /items` whose JWT authorizer claims name
/// `tenant`, with `token` (if any) in the Authorization header.
fn event(tenant: &str, token: Option<&str>) -> lambda_http::Request {
    let mut headers = json!({});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let event = json!({
        "version": "2.0", "routeKey": "GET /items", "rawPath": "/items", "rawQueryString": "",
        "headers": headers, "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "localhost",
            "domainPrefix": "api", "requestId": "identity-pool-test", "routeKey": "GET /items",
            "stage": "$default", "time": "", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/items", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": {"custom:tenant_id": tenant, "sub": "forged"}, "scopes": null}}
        }
    });
    test_support::request(&event)
}

fn status_and_code(response: &Response<Body>) -> (u16, String) {
    let body = test_support::body_json(response);
    (
        response.status().as_u16(),
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `token` with its payload's `claim` set to `value`, signature unchanged.
fn altered(token: &str, claim: &str, value: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    payload[claim] = json!(value);
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(payload.to_string()),
        parts[2]
    )
}

/// An unsigned token (`alg: none`) with the pool's issuer and audience,
/// claiming `tenant`: what a forger who can invoke the function would send.
fn forged(issuer: &str, audience: &str, tenant: &str) -> String {
    let header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(
        json!({"iss": issuer, "aud": audience, "sub": "forged", "token_use": "id",
               "custom:tenant_id": tenant, "exp": 4_102_444_800u64})
        .to_string(),
    );
    format!("{header}.{payload}.")
}

/// One identity-pool call at `front`: status and the error type (or the
/// answer).
async fn pool_call(front: &str, operation: &str, body: Value) -> (u16, Value) {
    let (status, answer) = http_with(
        "POST",
        &format!("{front}/"),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                &format!("AWSCognitoIdentityService.{operation}"),
            ),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    )
}

/// GetId then GetCredentialsForIdentity with `token`: the credentials'
/// access key, or the refusal's type.
async fn exchange(front: &str, pool: &str, provider: &str, token: &str) -> Result<String, String> {
    let logins = json!({ provider: token });
    let (status, id) = pool_call(
        front,
        "GetId",
        json!({"IdentityPoolId": pool, "Logins": logins}),
    )
    .await;
    if status != 200 {
        return Err(id["__type"].as_str().unwrap_or("?").to_owned());
    }
    let (status, creds) = pool_call(
        front,
        "GetCredentialsForIdentity",
        json!({"IdentityId": id["IdentityId"], "Logins": logins}),
    )
    .await;
    match creds["Credentials"]["AccessKeyId"].as_str() {
        Some(key) if status == 200 => Ok(key.to_owned()),
        _ => Err(creds["__type"].as_str().unwrap_or("?").to_owned()),
    }
}

/// A front of the test's own before moto (IAM enforced, serving the
/// identity pool), the stack's environment under `identity-pool` pointing
/// at it, a clock the test moves, and dynamodb-items on both.
async fn pool_app(stack: &Stack) -> (HttpFront, Stack, test_support::Clock, dynamodb_items::App) {
    let front = HttpFront::start_enforcing(
        "127.0.0.1:0".parse().unwrap(),
        stack.moto_addr(),
        stack.registry_file(),
    )
    .await
    .expect("a front");
    let env = stack
        .with_strategy("identity-pool")
        .with(&[("AWS_ENDPOINT_URL", &front.endpoint())]);
    let clock = test_support::Clock::default();
    let app = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&env.lookup()).expect("config"),
        &env.sdk_config()
            .await
            .into_builder()
            .time_source(aws_smithy_async::time::SharedTimeSource::new(clock.clone()))
            .build(),
    );
    (front, env, clock, app)
}

#[tokio::test]
async fn no_valid_token_no_credentials() {
    let stack = Stack::load();
    // The function's own clock, which the expiry step moves.
    let (front, env, clock, app) = pool_app(&stack).await;
    let endpoint = front.endpoint();
    let pool = env.var("TENANT_IDENTITY_POOL_ID");
    let provider = env.var("TENANT_IDENTITY_PROVIDER");
    let issuer = format!("https://{provider}");
    let token = stack.id_token("tenant1@example.com").await;
    let serve = |request| dynamodb_items::function_handler(&app, request);

    // The caller's own token: exchanged once, then served from the cache.
    let first = serve(event("tenant1", Some(&token))).await.unwrap();
    assert_eq!(first.status().as_u16(), 200, "{:?}", first.body());
    let again = serve(event("tenant1", Some(&token))).await.unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(app.sessions().identity_pool_calls(), 1);
    assert_eq!(app.sessions().assume_role_calls(), 0);
    assert_eq!(front.identity_credentials_issued(), 1);
    assert!(
        front.assume_role_requests().is_empty(),
        "the function assumed no role itself"
    );

    // Forged claims with no valid token behind them: 401, no AWS call.
    let passed = front.passed();
    for (tenant, token) in [
        ("tenant2", None),
        ("tenant2", Some(token.as_str())),
        ("tenant2", Some("not.a.jwt")),
    ] {
        let response = serve(event(tenant, token)).await.unwrap();
        assert_eq!(
            status_and_code(&response),
            (401, "unauthenticated".to_owned()),
            "claims of {tenant} with token {:?}",
            token.map(|t| &t[..8.min(t.len())])
        );
    }
    assert_eq!(app.sessions().identity_pool_calls(), 1, "no exchange tried");
    assert_eq!(front.passed(), passed, "no call reached AWS");

    // A forged token with matching claims: Cognito (the local pool) refuses
    // it, so 401 and still no credentials.
    let fake = forged(&issuer, &env.var("STACK_USER_POOL_CLIENT_ID"), "tenant2");
    let response = serve(event("tenant2", Some(&fake))).await.unwrap();
    assert_eq!(status_and_code(&response), (401, "unauthenticated".into()));
    assert_eq!(front.identity_credentials_issued(), 1);

    // The caller's own token, once the function's clock is past its `exp`
    // (an hour and a half on): its cached session is not served, and no
    // exchange is tried. The pool's clock is not moved; the function
    // decides alone.
    let exchanges = app.sessions().identity_pool_calls();
    let served = serve(event("tenant1", Some(&token))).await.unwrap();
    assert_eq!(served.status().as_u16(), 200, "while the token lives");
    assert_eq!(app.sessions().identity_pool_calls(), exchanges, "cached");
    let passed = front.passed();
    clock.advance(std::time::Duration::from_secs(5400));
    let response = serve(event("tenant1", Some(&token))).await.unwrap();
    assert_eq!(
        status_and_code(&response),
        (401, "unauthenticated".to_owned()),
        "an expired token at the function"
    );
    assert_eq!(
        app.sessions().identity_pool_calls(),
        exchanges,
        "no exchange tried"
    );
    assert_eq!(front.passed(), passed, "no call reached AWS");

    // At the pool itself.
    assert!(exchange(&endpoint, &pool, &provider, &token).await.is_ok());
    let other_pool = test_support::cognito_id_token(
        &stack.var("AWS_ENDPOINT_URL"),
        &stack.var("STACK_OTHER_POOL_CLIENT_ID"),
        "tenant1@example.com",
        &stack.var("STACK_USER_PASSWORD"),
    )
    .await
    .expect("a user of the other pool signs in");
    for (what, token) in [
        ("another user pool's token", other_pool),
        (
            "a token whose tenant claim was altered",
            altered(&token, "custom:tenant_id", "tenant2"),
        ),
        ("a forged, unsigned token", fake.clone()),
    ] {
        assert_eq!(
            exchange(&endpoint, &pool, &provider, &token).await,
            Err("NotAuthorizedException".to_owned()),
            "{what}"
        );
    }
    // Expired: the same token an hour and a half later.
    front.skew_identity_clock(5400);
    assert_eq!(
        exchange(&endpoint, &pool, &provider, &token).await,
        Err("NotAuthorizedException".to_owned()),
        "an expired token"
    );
    front.skew_identity_clock(0);
    assert!(exchange(&endpoint, &pool, &provider, &token).await.is_ok());
    let issued = front.identity_credentials_issued();

    // A user whose tenant claim STS would refuse as a tag value ("*" would
    // otherwise widen ${aws:PrincipalTag/TenantID}_home/* to every prefix).
    let user = "wildcard@example.com";
    {
        let _paused = stack.pause_iam_enforcement();
        let admin = |operation: &'static str, body: Value| {
            let moto = stack.var("STACK_MOTO_URL");
            async move {
                http_with(
                    "POST",
                    &format!("{moto}/"),
                    &[
                        ("content-type", "application/x-amz-json-1.1"),
                        (
                            "x-amz-target",
                            &format!("AWSCognitoIdentityProviderService.{operation}"),
                        ),
                    ],
                    body.to_string().as_bytes(),
                )
                .await
            }
        };
        let pool_id = stack.var("STACK_USER_POOL_ID");
        let (status, body) = admin(
            "AdminCreateUser",
            json!({"UserPoolId": pool_id, "Username": user, "MessageAction": "SUPPRESS",
                   "UserAttributes": [{"Name": "email", "Value": user},
                                      {"Name": "custom:tenant_id", "Value": "*"}]}),
        )
        .await;
        // Created, or there from an earlier run on this stack; nothing
        // else.
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert!(
            status == 200
                || (status == 400
                    && body["__type"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("UsernameExistsException"))),
            "AdminCreateUser: {status} {body}"
        );
        let (status, _) = admin(
            "AdminSetUserPassword",
            json!({"UserPoolId": pool_id, "Username": user,
                   "Password": stack.var("STACK_USER_PASSWORD"), "Permanent": true}),
        )
        .await;
        assert_eq!(status, 200, "AdminSetUserPassword");
    }
    let wildcard = stack.id_token(user).await;
    assert_eq!(
        exchange(&endpoint, &pool, &provider, &wildcard).await,
        Err("InvalidParameterException".to_owned())
    );
    assert_eq!(front.identity_credentials_issued(), issued, "none issued");
}

/// The authenticated role's trust policy decides every exchange, as STS
/// decides `AssumeRoleWithWebIdentity`: the pool's own id as `aud` and an
/// authenticated `amr`. A role whose trust names another pool gives the
/// caller's valid token no credentials.
#[tokio::test]
async fn the_role_s_trust_policy_decides_each_exchange() {
    let stack = Stack::load();
    let env = stack.with_strategy("identity-pool");
    let pool = env.var("TENANT_IDENTITY_POOL_ID");
    let provider = env.var("TENANT_IDENTITY_PROVIDER");
    let token = stack.id_token("tenant1@example.com").await;

    let registry: Value =
        serde_json::from_str(&std::fs::read_to_string(stack.registry_file()).unwrap()).unwrap();
    let role = registry["identity_pools"][&pool]["role_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let trust = registry["roles"][&role]["trust"].to_string();
    assert!(
        trust.contains("cognito-identity.amazonaws.com:aud") && trust.contains(&pool),
        "the deployed trust policy is in the registry: {trust}"
    );
    for (what, changed, expected) in [
        ("as deployed", registry.clone(), Ok(())),
        (
            "another pool's aud",
            serde_json::from_str(
                &registry
                    .to_string()
                    .replace(&pool, "us-east-1:another-pool"),
            )
            .unwrap(),
            Err("InvalidIdentityPoolConfigurationException".to_owned()),
        ),
        (
            "unauthenticated identities only",
            serde_json::from_str(
                &registry
                    .to_string()
                    .replace(":amr\":\"authenticated\"", ":amr\":\"unauthenticated\""),
            )
            .unwrap(),
            Err("InvalidIdentityPoolConfigurationException".to_owned()),
        ),
    ] {
        // The pool itself keeps its id: only the role's trust changes.
        let mut changed: Value = changed;
        if what == "another pool's aud" {
            let pools = changed["identity_pools"].as_object_mut().unwrap();
            let entry = pools.remove("us-east-1:another-pool").unwrap();
            pools.insert(pool.clone(), entry);
        }
        assert_eq!(
            changed == registry,
            what == "as deployed",
            "{what}: only the cases that change the trust policy differ"
        );
        let path = std::env::temp_dir().join(format!(
            "trust-{}-{}.json",
            std::process::id(),
            what.replace(' ', "-").replace('\'', "")
        ));
        std::fs::write(&path, changed.to_string()).unwrap();
        let front = HttpFront::start_enforcing(
            "127.0.0.1:0".parse().unwrap(),
            stack.moto_addr(),
            path.clone(),
        )
        .await
        .expect("a front");
        let got = exchange(&front.endpoint(), &pool, &provider, &token)
            .await
            .map(|_| ());
        assert_eq!(got, expected, "{what}");
        std::fs::remove_file(path).unwrap();
    }
}

/// The `exp` claim of `token`.
fn expires_at(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    claims["exp"].as_u64().expect("an exp claim")
}

/// A user's session, not a token's: the user's second token costs one
/// exchange and no second cache entry, and then either token is served
/// from the one session; a token that only names the user (its payload
/// altered, so its signature no longer holds) is exchanged, refused, and
/// its refusal locks out nobody but itself; and a token's last minute
/// costs at most one exchange, not one per request.
#[tokio::test]
async fn a_user_s_session_serves_each_token_the_pool_accepted_and_no_other() {
    let stack = Stack::load();
    let (front, env, clock, app) = pool_app(&stack).await;
    let serve = |request| dynamodb_items::function_handler(&app, request);
    let status = |response: Response<Body>| response.status().as_u16();
    let user = "tenant2@example.com";
    let first = stack.id_token(user).await;
    // A second sign-in: a token of its own (tokens of the same second may
    // be the same bytes).
    let mut second = stack.id_token(user).await;
    for _ in 0..3 {
        if second != first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        second = stack.id_token(user).await;
    }
    assert_ne!(first, second, "two sign-ins, two tokens");

    assert_eq!(
        status(serve(event("tenant2", Some(&first))).await.unwrap()),
        200
    );
    assert_eq!(
        status(serve(event("tenant2", Some(&second))).await.unwrap()),
        200
    );
    assert_eq!(
        app.sessions().identity_pool_calls(),
        2,
        "each token proven once"
    );
    assert_eq!(app.sessions().cached(), 1, "one session: the user's");
    for token in [&first, &second, &first, &second] {
        assert_eq!(
            status(serve(event("tenant2", Some(token))).await.unwrap()),
            200
        );
    }
    assert_eq!(
        app.sessions().identity_pool_calls(),
        2,
        "both served from it"
    );

    // A token naming the same user, tenant, issuer and expiry, but not one
    // the pool signed: never served the user's session.
    let named = altered(&first, "auth_time", "1");
    let response = serve(event("tenant2", Some(&named))).await.unwrap();
    assert_eq!(
        status_and_code(&response),
        (401, "unauthenticated".to_owned())
    );
    assert_eq!(
        app.sessions().identity_pool_calls(),
        3,
        "the pool was asked"
    );
    assert_eq!(front.identity_credentials_issued(), 2, "and issued nothing");
    let response = serve(event("tenant2", Some(&named))).await.unwrap();
    assert_eq!(
        status_and_code(&response),
        (401, "unauthenticated".to_owned())
    );
    assert_eq!(
        app.sessions().identity_pool_calls(),
        3,
        "its refusal remembered"
    );
    // The refusal is that token's: the user's own tokens are still served.
    assert_eq!(
        status(serve(event("tenant2", Some(&first))).await.unwrap()),
        200
    );
    assert_eq!(
        status(serve(event("tenant2", Some(&second))).await.unwrap()),
        200
    );
    assert_eq!(app.sessions().identity_pool_calls(), 3);
    // And a new sign-in of the user is exchanged, not answered with the
    // other token's refusal.
    let third = stack.id_token(user).await;
    assert_eq!(
        status(serve(event("tenant2", Some(&third))).await.unwrap()),
        200
    );
    assert_eq!(app.sessions().identity_pool_calls(), 4);
    assert_eq!(app.sessions().cached(), 1, "still the one session");

    // The first token's last half minute, by the function's clock and the
    // pool's: six sessions asked for cost at most one exchange (the
    // session's credentials may be within a minute of their own end), never
    // one each. Asked of the cache itself: the exchange is unsigned, while
    // a signed call at a clock an hour ahead would be refused as skewed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ahead = expires_at(&first) - 30 - now;
    clock.advance(std::time::Duration::from_secs(ahead));
    front.skew_identity_clock(ahead as i64);
    let caller = tenant_access::Caller::from_request(
        &event("tenant2", Some(&first)),
        &env.var("TENANT_CLAIM"),
    )
    .expect("the caller");
    let before = app.sessions().identity_pool_calls();
    for _ in 0..6 {
        app.sessions()
            .session(&caller)
            .await
            .expect("a session in the token's last half minute");
    }
    let spent = app.sessions().identity_pool_calls() - before;
    front.skew_identity_clock(0);
    assert!(
        spent <= 1,
        "{spent} exchanges in the token's last half minute"
    );
}
