//! Raw requests against the local AWS front: HTTP sent by hand, not through
//! the SDK, trying each way past the front that AWS would refuse. Every
//! refusal must be the front's (`local-front` in the answer), with the code
//! the service itself gives, so a check removed from the front shows here
//! even where moto would refuse on its own.
//!
//! Signatures are made with the SDK's own signer (`aws-sigv4`), then the
//! request is changed where a test needs it.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use test_support::{Stack, http_full};

/// A tenant's sessions, as the functions create them under role-per-tenant.
struct Tenant {
    s3: Credentials,
    dynamodb: Credentials,
}

async fn tenant(stack: &Stack, tenant: &str) -> Tenant {
    let sdk = stack.sdk_config().await;
    let s3 = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&stack.lookup()).expect("s3-fetch config"),
        &sdk,
    );
    let items = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&stack.lookup()).expect("dynamodb-items config"),
        &sdk,
    );
    let caller = stack
        .caller(tenant, "role-per-tenant", "raw-requests")
        .await;
    let s3 = s3.sessions().session(&caller).await.expect("an S3 session");
    let dynamodb = items
        .sessions()
        .session(&caller)
        .await
        .expect("a DynamoDB session");
    Tenant {
        s3: s3.credentials().clone(),
        dynamodb: dynamodb.credentials().clone(),
    }
}

/// The front's `host:port`.
fn front(stack: &Stack) -> String {
    stack
        .var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A request to sign: method, path (encoded), query, extra headers, body.
#[derive(Clone)]
struct Raw {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn new(method: &'static str, path: &str) -> Raw {
        Raw {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn query(mut self, query: &str) -> Raw {
        self.query = query.to_owned();
        self
    }

    fn header(mut self, name: &str, value: &str) -> Raw {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn body(mut self, body: &[u8]) -> Raw {
        self.body = body.to_vec();
        self
    }

    fn url(&self, host: &str) -> String {
        if self.query.is_empty() {
            format!("http://{host}{}", self.path)
        } else {
            format!("http://{host}{}?{}", self.path, self.query)
        }
    }
}

fn settings(service: &str) -> SigningSettings {
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    settings
}

/// `raw` signed in the header form by `creds` for `service` at `at`: the
/// headers to send (the request's own and the signature's).
fn signed(
    host: &str,
    raw: &Raw,
    creds: &Credentials,
    service: &str,
    at: SystemTime,
) -> Vec<(String, String)> {
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(at)
        .settings(settings(service))
        .build()
        .unwrap()
        .into();
    let mut headers = raw.headers.clone();
    headers.push(("host".into(), host.to_owned()));
    let signable = SignableRequest::new(
        raw.method,
        raw.url(host),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&raw.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    headers.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    headers.retain(|(k, _)| k != "host");
    headers
}

/// `raw` presigned (S3) by `creds` at `at` for `expires`: its URL.
fn presigned(host: &str, raw: &Raw, creds: &Credentials, at: SystemTime, expires: u64) -> String {
    let identity = creds.clone().into();
    let mut settings = settings("s3");
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut headers = raw.headers.clone();
    headers.push(("host".into(), host.to_owned()));
    let signable = SignableRequest::new(
        raw.method,
        raw.url(host),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut query: Vec<String> = if raw.query.is_empty() {
        Vec::new()
    } else {
        vec![raw.query.clone()]
    };
    for (k, v) in instructions.params() {
        query.push(format!(
            "{k}={}",
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
        ));
    }
    format!("http://{host}{}?{}", raw.path, query.join("&"))
}

/// What came back: status, whether the front answered (its request id,
/// in S3's XML body or the JSON protocols' header), and the body.
type Answer = (u16, bool, String);

/// Send `url` with `headers` and `body`.
async fn send_url(
    method: &'static str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let (status, answer_headers, body) = http_full(method, url, headers, body).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    let by_front = body.contains("<RequestId>local-front</RequestId>")
        || answer_headers
            .iter()
            .any(|(k, v)| k == "x-amzn-requestid" && v == "local-front");
    (status, by_front, body)
}

/// Send `raw` with `headers`.
async fn send(host: &str, raw: &Raw, headers: &[(String, String)]) -> Answer {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send_url(raw.method, &raw.url(host), &headers, &raw.body).await
}

/// Assert the front (not moto) refused with `status` and `code`.
#[track_caller]
fn refused_by_front(answer: &Answer, status: u16, code: &str, what: &str) {
    let (got, by_front, body) = answer;
    assert_eq!(*got, status, "{what}: {body}");
    assert!(body.contains(code), "{what}: wanted {code}: {body}");
    assert!(*by_front, "{what}: not the front's: {body}");
}

/// A DynamoDB `GetItem` of `tenant`'s item, as JSON.
fn get_item(table: &str, tenant: &str) -> Vec<u8> {
    serde_json::json!({
        "TableName": table,
        "Key": {"tenant_id": {"S": tenant}, "item_id": {"S": "x"}},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn the_service_is_the_credential_scope_s_and_a_foreign_target_is_refused() {
    let stack = Stack::load();
    let host = front(&stack);
    let tenant1 = tenant(&stack, "tenant1").await;
    let table = stack.var("TENANT_TABLE");
    let now = SystemTime::now();

    // tenant2's item with a target that is not DynamoDB's own: moto would
    // dispatch it as GetItem, and nothing else would look at it.
    for target in [
        "X_20120810.GetItem",
        "TrentService.GetItem",
        "DynamoDB_20120810.",
    ] {
        let raw = Raw::new("POST", "/")
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .body(&get_item(&table, "tenant2"));
        let answer = send(
            &host,
            &raw,
            &signed(&host, &raw, &tenant1.dynamodb, "dynamodb", now),
        )
        .await;
        refused_by_front(&answer, 400, "UnknownOperationException", target);
    }
    // With DynamoDB's own target it is decided as GetItem: not tenant1's key.
    let raw = Raw::new("POST", "/")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body(&get_item(&table, "tenant2"));
    let answer = send(
        &host,
        &raw,
        &signed(&host, &raw, &tenant1.dynamodb, "dynamodb", now),
    )
    .await;
    refused_by_front(
        &answer,
        400,
        "AccessDeniedException",
        "GetItem of tenant2's key",
    );
    // A query string on a JSON service (moto reads parameters from it).
    let raw = raw.query("TableName=other");
    let answer = send(
        &host,
        &raw,
        &signed(&host, &raw, &tenant1.dynamodb, "dynamodb", now),
    )
    .await;
    refused_by_front(
        &answer,
        400,
        "UnknownOperationException",
        "a JSON call with a query",
    );

    // An S3 read of tenant2's object with a KMS target added stays S3.
    let raw = Raw::new("GET", "/tenant-data/tenant2_home/tenant.info")
        .header("x-amz-target", "TrentService.Decrypt");
    let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "s3", now)).await;
    refused_by_front(&answer, 403, "AccessDenied", "S3 with a KMS target");

    // A service the stack does not serve.
    let raw = Raw::new("POST", "/").body(b"Action=ListFunctions");
    let answer = send(
        &host,
        &raw,
        &signed(&host, &raw, &tenant1.s3, "lambda", now),
    )
    .await;
    refused_by_front(
        &answer,
        403,
        "SignatureDoesNotMatch",
        "a service the stack does not serve",
    );
}

#[tokio::test]
async fn sts_parameters_are_read_from_the_query_and_the_body_alike() {
    let stack = Stack::load();
    let host = front(&stack);
    let exec = Credentials::new(
        stack.var("AWS_ACCESS_KEY_ID"),
        stack.var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "test",
    );
    let now = SystemTime::now();
    let role = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftenant%2FassumeRole-tenant1";
    // A tag value `*` (a wildcard once substituted into a policy), in the
    // query string: STS validates it wherever it comes from.
    let raw = Raw::new("POST", "/")
        .query(&format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={role}&RoleSessionName=raw&Tags.member.1.Key=TenantID&Tags.member.1.Value=%2A"
        ))
        .header("content-type", "application/x-www-form-urlencoded");
    let answer = send(&host, &raw, &signed(&host, &raw, &exec, "sts", now)).await;
    refused_by_front(
        &answer,
        400,
        "ValidationError",
        "AssumeRole in the query string",
    );
    // A role that does not exist, in the query string.
    let raw = Raw::new("POST", "/")
        .query("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftenant%2FassumeRole-nobody&RoleSessionName=raw")
        .header("content-type", "application/x-www-form-urlencoded");
    let answer = send(&host, &raw, &signed(&host, &raw, &exec, "sts", now)).await;
    refused_by_front(&answer, 403, "AccessDenied", "AssumeRole of a missing role");
    // One parameter in both places: which one counts is not guessed.
    let raw = Raw::new("POST", "/")
        .query(&format!("Action=AssumeRole&RoleArn={role}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("Version=2011-06-15&RoleArn={role}&RoleSessionName=raw").as_bytes());
    let answer = send(&host, &raw, &signed(&host, &raw, &exec, "sts", now)).await;
    refused_by_front(
        &answer,
        400,
        "InvalidParameterCombination",
        "a parameter given twice",
    );
    // The trust policies, decided on every AssumeRole: the tenant role
    // only with its function's Scope tag and no other tag, the shared
    // session-tags role only with a TenantID tag.
    for (role, tags, allowed, what) in [
        (
            "tenant/assumeRole-tenant1",
            "",
            false,
            "a tenant role without Scope",
        ),
        (
            "tenant/assumeRole-tenant1",
            "&Tags.member.1.Key=Scope&Tags.member.1.Value=s3&Tags.member.2.Key=TenantID&Tags.member.2.Value=tenant2",
            false,
            "a tenant role with a tag beside Scope",
        ),
        (
            "tenant/assumeRole-tenant1",
            "&Tags.member.1.Key=Scope&Tags.member.1.Value=s3",
            true,
            "a tenant role with its Scope",
        ),
        (
            "tenant-access-shared-s3-tagged",
            "",
            false,
            "the tagged shared role untagged",
        ),
        (
            "tenant-access-shared-s3-tagged",
            "&Tags.member.1.Key=TenantID&Tags.member.1.Value=tenant1",
            true,
            "the tagged shared role with TenantID",
        ),
    ] {
        let raw = Raw::new("POST", "/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                format!(
                    "Action=AssumeRole&Version=2011-06-15&RoleSessionName=raw&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2F{}{tags}",
                    role.replace('/', "%2F")
                )
                .as_bytes(),
            );
        let answer = send(&host, &raw, &signed(&host, &raw, &exec, "sts", now)).await;
        if allowed {
            assert_eq!(answer.0, 200, "{what}: {}", answer.2);
        } else {
            refused_by_front(&answer, 403, "AccessDenied", what);
        }
    }
    // The same call, well formed, is served (the door refuses only what
    // STS refuses).
    let raw = Raw::new("POST", "/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"Action=GetCallerIdentity&Version=2011-06-15");
    let (status, _, body) = send(&host, &raw, &signed(&host, &raw, &exec, "sts", now)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn every_signature_is_verified_and_unsigned_calls_are_anonymous() {
    let stack = Stack::load();
    let host = front(&stack);
    let tenant1 = tenant(&stack, "tenant1").await;
    let now = SystemTime::now();
    let own = Raw::new("GET", "/tenant-data/tenant1_home/tenant.info");

    let (status, _, body) = send(&host, &own, &signed(&host, &own, &tenant1.s3, "s3", now)).await;
    assert_eq!(status, 200, "tenant1 reads its own object: {body}");

    // Signed for its own object, sent for tenant2's.
    let headers = signed(&host, &own, &tenant1.s3, "s3", now);
    let theirs = Raw::new("GET", "/tenant-data/tenant2_home/tenant.info");
    refused_by_front(
        &send(&host, &theirs, &headers).await,
        403,
        "SignatureDoesNotMatch",
        "a signature moved to another path",
    );
    // A signed header changed after signing.
    let with_range = own.clone().header("range", "bytes=0-1");
    let mut headers = signed(&host, &with_range, &tenant1.s3, "s3", now);
    for (k, v) in &mut headers {
        if k == "range" {
            *v = "bytes=0-100".into();
        }
    }
    refused_by_front(
        &send(&host, &with_range, &headers).await,
        403,
        "SignatureDoesNotMatch",
        "a signed header changed",
    );
    // A body that is not the one hashed.
    let put = Raw::new("PUT", "/tenant-data/tenant1_home/raw.txt")
        .header("x-amz-server-side-encryption", "aws:kms")
        .body(b"signed");
    let headers = signed(&host, &put, &tenant1.s3, "s3", now);
    refused_by_front(
        &send(&host, &put.clone().body(b"swapped"), &headers).await,
        400,
        "XAmzContentSHA256Mismatch",
        "a body swapped after signing",
    );
    // Another secret for the same access key.
    let forged = Credentials::new(
        tenant1.s3.access_key_id(),
        "not-the-secret",
        tenant1.s3.session_token().map(str::to_owned),
        None,
        "forged",
    );
    refused_by_front(
        &send(&host, &own, &signed(&host, &own, &forged, "s3", now)).await,
        403,
        "SignatureDoesNotMatch",
        "a forged secret",
    );
    // A session token that is not the key's.
    let other_token = Credentials::new(
        tenant1.s3.access_key_id(),
        tenant1.s3.secret_access_key(),
        Some("not-the-token".to_owned()),
        None,
        "forged",
    );
    refused_by_front(
        &send(&host, &own, &signed(&host, &own, &other_token, "s3", now)).await,
        400,
        "InvalidToken",
        "another session token",
    );
    // An access key no one was given.
    let unknown = Credentials::new("ASIAUNKNOWNKEY000000", "secret", None, None, "unknown");
    refused_by_front(
        &send(&host, &own, &signed(&host, &own, &unknown, "s3", now)).await,
        403,
        "InvalidAccessKeyId",
        "an unknown key",
    );
    // A request signed 20 minutes ago.
    let old = now - Duration::from_secs(20 * 60);
    refused_by_front(
        &send(&host, &own, &signed(&host, &own, &tenant1.s3, "s3", old)).await,
        403,
        "RequestTimeTooSkewed",
        "a request signed 20 minutes ago",
    );
    // Unsigned: anonymous, and the bucket grants anonymous nothing; moto's
    // own API is not AWS's and is not served through the front.
    refused_by_front(
        &send(&host, &own, &[]).await,
        403,
        "AccessDenied",
        "an unsigned read",
    );
    let reset = Raw::new("POST", "/moto-api/reset-auth").body(b"1000");
    refused_by_front(
        &send(&host, &reset, &[]).await,
        403,
        "AccessDenied",
        "moto's own API",
    );
    // Header and query auth at once.
    let url_signed = presigned(&host, &own, &tenant1.s3, now, 60);
    let query = url_signed.split_once('?').unwrap().1.to_owned();
    let both = own.clone().query(&query);
    let headers = signed(&host, &own, &tenant1.s3, "s3", now);
    refused_by_front(
        &send(&host, &both, &headers).await,
        400,
        "InvalidArgument",
        "two auth mechanisms",
    );
}

#[tokio::test]
async fn presigned_urls_work_with_moto_enforcing_and_any_change_is_refused() {
    let stack = Stack::load();
    let host = front(&stack);
    let tenant1 = tenant(&stack, "tenant1").await;
    let now = SystemTime::now();
    let own = Raw::new("GET", "/tenant-data/tenant1_home/tenant.info");

    let url = presigned(&host, &own, &tenant1.s3, now, 300);
    let (status, _, body) = send_url("GET", &url, &[], b"").await;
    assert_eq!(status, 200, "a presigned GET, used as given: {body}");
    assert!(body.starts_with("tenant1"));

    let cases = [
        (
            url.replace("tenant1_home/tenant.info", "tenant2_home/tenant.info"),
            403,
            "SignatureDoesNotMatch",
            "another object",
        ),
        (
            url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
            403,
            "SignatureDoesNotMatch",
            "a longer expiry",
        ),
        (
            presigned(&host, &own, &tenant1.s3, now - Duration::from_secs(120), 60),
            403,
            "Request has expired",
            "an expired URL",
        ),
        (
            url.replace("X-Amz-Expires=300", "X-Amz-Expires=999999"),
            400,
            "AuthorizationQueryParametersError",
            "an expiry past 7 days",
        ),
    ];
    for (url, status, code, what) in cases {
        refused_by_front(&send_url("GET", &url, &[], b"").await, status, code, what);
    }

    // A presigned PUT signed with its SSE headers: the headers must come.
    let put = Raw::new("PUT", "/tenant-data/tenant1_home/raw-presigned.txt")
        .header("x-amz-server-side-encryption", "aws:kms")
        .header(
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant1",
        );
    let url = presigned(&host, &put, &tenant1.s3, now, 300);
    let sse = [
        ("x-amz-server-side-encryption", "aws:kms"),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant1",
        ),
    ];
    let (status, _, body) = send_url("PUT", &url, &sse, b"uploaded").await;
    assert_eq!(status, 200, "a presigned PUT: {body}");
    let tenant2_key = [
        ("x-amz-server-side-encryption", "aws:kms"),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant2",
        ),
    ];
    refused_by_front(
        &send_url("PUT", &url, &tenant2_key, b"uploaded").await,
        403,
        "SignatureDoesNotMatch",
        "a presigned PUT with another key's header",
    );
}

#[tokio::test]
async fn s3_sub_resources_copies_batches_and_uploads_are_their_own_actions() {
    let stack = Stack::load();
    let host = front(&stack);
    let tenant1 = tenant(&stack, "tenant1").await;
    let now = SystemTime::now();
    let object = "/tenant-data/tenant1_home/tenant.info";

    // On tenant1's own object, what its policy does not grant: refused by
    // the front, not served as the GetObject it is not.
    for (method, query, what) in [
        ("GET", "tagging", "GetObjectTagging"),
        ("PUT", "tagging", "PutObjectTagging"),
        ("GET", "acl", "GetObjectAcl"),
        ("PUT", "acl", "PutObjectAcl"),
        ("GET", "versionId=null", "GetObjectVersion"),
        ("DELETE", "versionId=null", "DeleteObjectVersion"),
        ("GET", "policy", "an unknown object sub-resource"),
    ] {
        let raw = Raw::new(method, object).query(query);
        let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "s3", now)).await;
        refused_by_front(&answer, 403, "AccessDenied", what);
    }
    for (method, query, what) in [
        ("GET", "policy", "GetBucketPolicy"),
        ("PUT", "policy", "PutBucketPolicy"),
        ("GET", "acl", "GetBucketAcl"),
        (
            "GET",
            "versions&prefix=tenant1_home%2F",
            "ListBucketVersions",
        ),
    ] {
        let raw = Raw::new(method, "/tenant-data").query(query);
        let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "s3", now)).await;
        refused_by_front(&answer, 403, "AccessDenied", what);
    }

    // S3's refusals name who was refused, what, and the policy that
    // decided: the role's own for another tenant's object, the bucket
    // policy's deny for a write without SSE-KMS.
    let raw = Raw::new("GET", "/tenant-data/tenant2_home/tenant.info");
    let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "s3", now)).await;
    refused_by_front(&answer, 403, "AccessDenied", "GetObject of tenant2's");
    assert!(
        answer.2.contains("is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::tenant-data/tenant2_home/tenant.info\" because no identity-based policy allows the s3:GetObject action"),
        "{}",
        answer.2
    );
    let raw = Raw::new("PUT", "/tenant-data/tenant1_home/plain.txt").body(b"x");
    let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "s3", now)).await;
    refused_by_front(&answer, 403, "AccessDenied", "a write without SSE-KMS");
    assert!(
        answer.2.contains("s3:PutObject")
            && answer
                .2
                .contains("with an explicit deny in a resource-based policy"),
        "{}",
        answer.2
    );

    // A copy of tenant2's object into tenant1's prefix reads tenant2's.
    let copy = Raw::new("PUT", "/tenant-data/tenant1_home/copied.info")
        .header("x-amz-copy-source", "/tenant-data/tenant2_home/tenant.info")
        .header("x-amz-server-side-encryption", "aws:kms")
        .header(
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant1",
        );
    let answer = send(&host, &copy, &signed(&host, &copy, &tenant1.s3, "s3", now)).await;
    refused_by_front(&answer, 403, "AccessDenied", "CopyObject from tenant2");

    // A batch delete naming one of tenant2's keys.
    let batch = b"<Delete><Object><Key>tenant1_home/nothing</Key></Object><Object><Key>tenant2_home/tenant.info</Key></Object></Delete>";
    let raw = Raw::new("POST", "/tenant-data").query("delete").body(batch);
    let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "s3", now)).await;
    refused_by_front(
        &answer,
        403,
        "AccessDenied",
        "DeleteObjects naming tenant2's key",
    );

    // A multipart upload into tenant1's prefix under tenant2's key: KMS
    // refuses S3 the data key.
    let create = Raw::new("POST", "/tenant-data/tenant1_home/multi.bin")
        .query("uploads")
        .header("x-amz-server-side-encryption", "aws:kms")
        .header(
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant2",
        );
    let answer = send(
        &host,
        &create,
        &signed(&host, &create, &tenant1.s3, "s3", now),
    )
    .await;
    refused_by_front(
        &answer,
        403,
        "AccessDenied",
        "CreateMultipartUpload under tenant2's key",
    );
    // Under its own key it begins.
    let create = Raw::new("POST", "/tenant-data/tenant1_home/multi.bin")
        .query("uploads")
        .header("x-amz-server-side-encryption", "aws:kms")
        .header(
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant1",
        );
    let (status, _, body) = send(
        &host,
        &create,
        &signed(&host, &create, &tenant1.s3, "s3", now),
    )
    .await;
    assert_eq!(
        status, 200,
        "CreateMultipartUpload under its own key: {body}"
    );
}

#[tokio::test]
async fn kms_names_keys_as_kms_does_and_no_write_escapes_the_tenant_key() {
    let stack = Stack::load();
    let host = front(&stack);
    let tenant1 = tenant(&stack, "tenant1").await;
    let exec = Credentials::new(
        stack.var("AWS_ACCESS_KEY_ID"),
        stack.var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "test",
    );
    let now = SystemTime::now();
    let kms = |operation: &str, body: serde_json::Value| {
        Raw::new("POST", "/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &format!("TrentService.{operation}"))
            .body(body.to_string().as_bytes())
    };

    // ScheduleKeyDeletion and DisableKey take a key id or key ARN; an alias
    // (name or ARN) is refused whoever asks.
    for (operation, key) in [
        ("ScheduleKeyDeletion", "alias/tenant/tenant1".to_owned()),
        ("DisableKey", "alias/tenant/tenant1".to_owned()),
        (
            "DisableKey",
            "arn:aws:kms:us-east-1:123456789012:alias/tenant/tenant1".to_owned(),
        ),
    ] {
        let raw = kms(
            operation,
            serde_json::json!({"KeyId": key, "PendingWindowInDays": 7}),
        );
        let answer = send(&host, &raw, &signed(&host, &raw, &exec, "kms", now)).await;
        refused_by_front(
            &answer,
            400,
            "NotFoundException",
            &format!("{operation} of {key}"),
        );
    }
    // A tenant session may use its own key only through S3: a direct call
    // is refused, even on its own key.
    for operation in ["GenerateDataKey", "DescribeKey"] {
        let raw = kms(
            operation,
            serde_json::json!({"KeyId": "alias/tenant/tenant1", "KeySpec": "AES_256"}),
        );
        let answer = send(&host, &raw, &signed(&host, &raw, &tenant1.s3, "kms", now)).await;
        refused_by_front(
            &answer,
            400,
            "AccessDeniedException",
            &format!("tenant1's direct {operation}"),
        );
    }

    // The AWS-managed key exists, and its own policy would let any session
    // of the account write through S3 with it; the tenant policies' deny of
    // keys without a TenantID tag stops that, as does naming no key at all
    // (S3 then uses aws/s3).
    for key in [Some("alias/aws/s3"), None] {
        let mut put = Raw::new("PUT", "/tenant-data/tenant1_home/managed-key.txt")
            .header("x-amz-server-side-encryption", "aws:kms")
            .body(b"escapes the tenant key");
        if let Some(key) = key {
            put = put.header("x-amz-server-side-encryption-aws-kms-key-id", key);
        }
        let answer = send(&host, &put, &signed(&host, &put, &tenant1.s3, "s3", now)).await;
        refused_by_front(
            &answer,
            403,
            "AccessDenied",
            &format!("a write under {key:?}"),
        );
        assert!(
            answer.2.contains("kms:GenerateDataKey"),
            "refused at S3's KMS call: {}",
            answer.2
        );
    }
    // Under its own key the same write goes through.
    let put = Raw::new("PUT", "/tenant-data/tenant1_home/managed-key.txt")
        .header("x-amz-server-side-encryption", "aws:kms")
        .header(
            "x-amz-server-side-encryption-aws-kms-key-id",
            "alias/tenant/tenant1",
        )
        .body(b"under its own key");
    let (status, _, body) = send(&host, &put, &signed(&host, &put, &tenant1.s3, "s3", now)).await;
    assert_eq!(status, 200, "{body}");
}
