//! SigV4 as AWS checks it: the header and the query-string (presigned)
//! forms, parsed from a raw request and verified by signing the same
//! request again with the AWS SDK's own signer (`aws-sigv4`), never with a
//! hand-written canonical request.
//!
//! What is checked, as the services check it:
//! - the `Authorization` header or the `X-Amz-*` query parameters are
//!   complete and well formed, and not both at once;
//! - the credential scope ends in `aws4_request` and its date is the
//!   signing date;
//! - the signature is the one the key's secret gives for the request's
//!   method, path, query, signed headers and payload hash;
//! - a hex `x-amz-content-sha256` is the body's hash;
//! - a header-signed request is within 15 minutes of now, and a presigned
//!   one is used within its `X-Amz-Expires` (at most 7 days);
//! - the session token sent is the one the key was issued with.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

/// The query parameters of a presigned request that carry its signature.
const AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// How far a header-signed request's time may be from now.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest a presigned URL may be valid (`X-Amz-Expires`).
pub const MAX_EXPIRES: u64 = 604_800;

/// A request's SigV4 signature, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The access key id of the credential scope.
    pub access_key_id: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service (`s3`, `sts`, `dynamodb`, ...).
    pub service: String,
    /// The signed header names, lowercase, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
    /// `X-Amz-Date` (header or query).
    pub signed_at: SystemTime,
    /// `X-Amz-Expires` of a presigned request; `None` for the header form.
    pub expires_in: Option<u64>,
    /// The session token sent (`X-Amz-Security-Token`, header or query).
    pub session_token: Option<String>,
}

impl Signature {
    /// Whether it came in the query string (a presigned URL).
    pub fn presigned(&self) -> bool {
        self.expires_in.is_some()
    }
}

/// Why a signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Both an `Authorization` header and query-string auth.
    Conflicting,
    /// An incomplete or malformed signature (the text says what).
    Malformed(String),
    /// The access key is not known.
    UnknownKey,
    /// The session token is missing or not the key's.
    BadToken,
    /// The signature does not verify.
    Mismatch,
    /// A header-signed request more than 15 minutes from now.
    Skewed,
    /// A presigned request past its `X-Amz-Expires`.
    Expired,
    /// The body is not what `x-amz-content-sha256` says.
    ContentMismatch,
}

/// The secret side of an access key, as the front knows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token a temporary key was issued with.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret").finish_non_exhaustive()
    }
}

/// A raw request's parts the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    /// The query string as sent (no `?`), empty for none.
    pub query: &'a str,
    /// Every header as sent, names in any case.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl Signed<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query_params(&self) -> impl Iterator<Item = (String, String)> + '_ {
        form_pairs(self.query)
    }
}

/// The decoded pairs of a query string (`+` is a space, as servers read it).
pub fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(k), decode(v))
    })
}

/// The signature a request carries: `Ok(None)` for an unsigned one.
///
/// ```
/// use local_front::sigv4::{Signed, parse};
/// let headers = vec![
///     ("Authorization".to_owned(), format!("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={}", "ab".repeat(32))),
///     ("X-Amz-Date".to_owned(), "20260101T000000Z".to_owned()),
/// ];
/// let request = Signed { method: "GET", path: "/b/k", query: "", headers: &headers, body: b"" };
/// let signature = parse(&request).unwrap().unwrap();
/// assert_eq!((signature.access_key_id.as_str(), signature.service.as_str()), ("AKID", "s3"));
/// assert!(!signature.presigned());
/// let unsigned = Signed { headers: &[], ..request };
/// assert_eq!(parse(&unsigned).unwrap(), None);
/// ```
pub fn parse(request: &Signed<'_>) -> Result<Option<Signature>, AuthError> {
    let bad = |what: &str| AuthError::Malformed(what.to_owned());
    let authorization = request.header("authorization");
    let query: Vec<(String, String)> = request.query_params().collect();
    let param = |name: &str| {
        let mut found = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (found.next(), found.next()) {
            (Some(v), None) => Ok(Some(v.as_str())),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(AuthError::Malformed(format!("{name} is repeated"))),
        }
    };
    let presigned = param("X-Amz-Algorithm")?.is_some()
        || param("X-Amz-Signature")?.is_some()
        || param("X-Amz-Credential")?.is_some();
    let (algorithm, credential, signed_headers, signature, date, expires, token) =
        match (authorization, presigned) {
            (Some(_), true) => return Err(AuthError::Conflicting),
            (None, false) => return Ok(None),
            (Some(auth), false) => {
                let (algorithm, rest) = auth
                    .split_once(' ')
                    .ok_or_else(|| bad("Authorization header is not `AWS4-HMAC-SHA256 ...`"))?;
                let mut fields = std::collections::HashMap::new();
                for field in rest.split(',') {
                    let (k, v) = field
                        .trim()
                        .split_once('=')
                        .ok_or_else(|| bad("Authorization field without '='"))?;
                    if fields.insert(k, v).is_some() {
                        return Err(bad("Authorization field repeated"));
                    }
                }
                let field = |name: &str| {
                    fields.get(name).copied().ok_or_else(|| {
                        AuthError::Malformed(format!("Authorization header requires '{name}'"))
                    })
                };
                (
                    algorithm,
                    field("Credential")?,
                    field("SignedHeaders")?,
                    field("Signature")?,
                    request.header("x-amz-date"),
                    None,
                    request.header("x-amz-security-token"),
                )
            }
            (None, true) => {
                let need = |name: &str| {
                    param(name)?.ok_or_else(|| {
                        AuthError::Malformed(format!(
                            "Query-string authentication requires the {name} parameter"
                        ))
                    })
                };
                (
                    need("X-Amz-Algorithm")?,
                    need("X-Amz-Credential")?,
                    need("X-Amz-SignedHeaders")?,
                    need("X-Amz-Signature")?,
                    Some(need("X-Amz-Date")?),
                    Some(need("X-Amz-Expires")?),
                    param("X-Amz-Security-Token")?,
                )
            }
        };
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(bad("the only algorithm is AWS4-HMAC-SHA256"));
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, day, region, service, "aws4_request"] = scope[..] else {
        return Err(bad(
            "Credential must be <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(bad("Credential has an empty part"));
    }
    let date = date.ok_or_else(|| bad("X-Amz-Date is required"))?;
    let signed_at =
        parse_amz_date(date).ok_or_else(|| bad("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
    if !date.starts_with(day) || day.len() != 8 {
        return Err(bad("the credential scope's date is not X-Amz-Date's"));
    }
    let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(bad("the host header must be signed"));
    }
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || *h != h.to_ascii_lowercase())
    {
        return Err(bad("SignedHeaders must be lowercase names"));
    }
    let expires_in = match expires {
        Some(text) => {
            let seconds: u64 = text
                .parse()
                .map_err(|_| bad("X-Amz-Expires must be a number of seconds"))?;
            if seconds == 0 || seconds > MAX_EXPIRES {
                return Err(bad(
                    "X-Amz-Expires must be more than 0 and at most 604800 seconds",
                ));
            }
            Some(seconds)
        }
        None => None,
    };
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the signature is not 64 hex digits"));
    }
    Ok(Some(Signature {
        access_key_id: access_key_id.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        signed_at,
        expires_in,
        session_token: token.map(str::to_owned),
    }))
}

/// The signing settings a service's requests are signed with: S3 signs the
/// path as sent, every other service a normalized, doubly encoded one.
fn settings(service: &str) -> SigningSettings {
    let mut settings = SigningSettings::default();
    // Sign exactly the headers the client listed, whatever they are.
    settings.excluded_headers = None;
    if service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    settings
}

/// Verify `signature` on `request` with the key's `secret`, at `now`.
pub fn verify(
    request: &Signed<'_>,
    signature: &Signature,
    secret: &Secret,
    now: SystemTime,
) -> Result<(), AuthError> {
    match (&secret.session_token, &signature.session_token) {
        (Some(known), Some(sent)) if known == sent => {}
        (None, None) => {}
        _ => return Err(AuthError::BadToken),
    }
    match signature.expires_in {
        None => {
            let skew = now
                .duration_since(signature.signed_at)
                .or_else(|_| signature.signed_at.duration_since(now))
                .unwrap_or_default();
            if skew > MAX_SKEW {
                return Err(AuthError::Skewed);
            }
        }
        Some(seconds) => {
            if signature.signed_at > now + MAX_SKEW {
                return Err(AuthError::Malformed(
                    "X-Amz-Date is in the future".to_owned(),
                ));
            }
            if now > signature.signed_at + Duration::from_secs(seconds) {
                return Err(AuthError::Expired);
            }
        }
    }
    let expected = expected_signature(request, signature, secret)?;
    if expected != signature.signature {
        return Err(AuthError::Mismatch);
    }
    Ok(())
}

/// The signature the key's secret gives for `request`, signed as the
/// client said it signed it (same time, scope, headers and expiry).
fn expected_signature(
    request: &Signed<'_>,
    signature: &Signature,
    secret: &Secret,
) -> Result<String, AuthError> {
    let mut settings = settings(&signature.service);
    let token_signed = signature
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-security-token");
    let content_sha = request.header("x-amz-content-sha256");
    let body = if signature.presigned() {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = signature.expires_in.map(Duration::from_secs);
        // A presigned URL's token is always part of its query.
        settings.session_token_mode = if signature.session_token.is_some() {
            SessionTokenMode::Include
        } else {
            SessionTokenMode::Exclude
        };
        SignableBody::UnsignedPayload
    } else {
        settings.session_token_mode = if token_signed {
            SessionTokenMode::Include
        } else {
            SessionTokenMode::Exclude
        };
        match content_sha {
            Some(hash) => {
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let actual = sha256_hex(request.body);
                    if !actual.eq_ignore_ascii_case(hash) {
                        return Err(AuthError::ContentMismatch);
                    }
                }
                if signature
                    .signed_headers
                    .iter()
                    .any(|h| h == "x-amz-content-sha256")
                {
                    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                }
                SignableBody::Precomputed(hash.to_owned())
            }
            None => SignableBody::Bytes(request.body),
        }
    };
    // The headers the client signed, as sent; the signer adds the date and
    // the token itself, from the time and the identity.
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for name in &signature.signed_headers {
        if matches!(name.as_str(), "x-amz-date" | "x-amz-security-token") {
            continue;
        }
        if name == "x-amz-content-sha256"
            && settings.payload_checksum_kind == PayloadChecksumKind::XAmzSha256
        {
            continue;
        }
        let values: Vec<&str> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            // S3 and the others answer a signed header left out as a
            // signature that does not match.
            return Err(AuthError::Mismatch);
        }
        headers.extend(values.into_iter().map(|v| (name.as_str(), v)));
    }
    if !signature.presigned() && !signature.signed_headers.iter().any(|h| h == "x-amz-date") {
        return Err(AuthError::Malformed("x-amz-date must be signed".to_owned()));
    }
    let query: Vec<String> = request
        .query
        .split('&')
        .filter(|pair| {
            !pair.is_empty()
                && !AUTH_PARAMS
                    .iter()
                    .any(|p| pair.split('=').next() == Some(*p))
        })
        .map(str::to_owned)
        .collect();
    let host = request.header("host").unwrap_or("localhost");
    let uri = if query.is_empty() {
        format!("http://{host}{}", request.path)
    } else {
        format!("http://{host}{}?{}", request.path, query.join("&"))
    };
    let scope = Scope {
        access_key_id: &signature.access_key_id,
        region: &signature.region,
        service: &signature.service,
        time: signature.signed_at,
    };
    let output = sign_with(
        &scope,
        secret,
        settings,
        request.method,
        uri,
        &headers,
        body,
    )?;
    Ok(output.signature().to_owned())
}

/// Who signs, for where, and when.
struct Scope<'a> {
    access_key_id: &'a str,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
}

/// The SDK's signer over one request: the one place the front signs.
fn sign_with(
    scope: &Scope<'_>,
    secret: &Secret,
    settings: SigningSettings,
    method: &str,
    uri: String,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
) -> Result<aws_sigv4::SigningOutput<aws_sigv4::http_request::SigningInstructions>, AuthError> {
    let failed = |e: &dyn std::fmt::Display| AuthError::Malformed(format!("cannot sign: {e}"));
    let identity = aws_credential_types::Credentials::new(
        scope.access_key_id.to_owned(),
        secret.secret_access_key.clone(),
        secret.session_token.clone(),
        None,
        "local-front",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let signable =
        SignableRequest::new(method, uri, headers.iter().copied(), body).map_err(|e| failed(&e))?;
    sign(signable, &params).map_err(|e| failed(&e))
}

/// Sign `request` (its query without presigning parameters) in the header
/// form with `access_key_id`'s `secret`, now: the headers to add, so a
/// verified presigned request reaches moto as one it can authenticate.
pub fn header_signature(
    request: &Signed<'_>,
    access_key_id: &str,
    secret: &Secret,
    region: &str,
    service: &str,
) -> Result<Vec<(String, String)>, AuthError> {
    let mut settings = settings(service);
    settings.excluded_headers = SigningSettings::default().excluded_headers;
    if service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let host = request.header("host").unwrap_or("localhost");
    let uri = if request.query.is_empty() {
        format!("http://{host}{}", request.path)
    } else {
        format!("http://{host}{}?{}", request.path, request.query)
    };
    let scope = Scope {
        access_key_id,
        region,
        service,
        time: SystemTime::now(),
    };
    let output = sign_with(
        &scope,
        secret,
        settings,
        request.method,
        uri,
        &[("host", host)],
        SignableBody::Bytes(request.body),
    )?;
    let (instructions, _) = output.into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

/// The query string without the presigning parameters.
pub fn without_auth_params(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            !pair.is_empty()
                && !AUTH_PARAMS
                    .iter()
                    .any(|p| pair.split('=').next() == Some(*p))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The hex SHA-256 of `data`.
fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `YYYYMMDDTHHMMSSZ` to a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    let parsed = DateTime::from_str(&iso, Format::DateTime).ok()?;
    SystemTime::try_from(parsed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request signed by the SDK's signer in the header form, as a
    /// client would (the front's own [`header_signature`], signing now).
    fn signed(
        secret: &Secret,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let host = [("host".to_owned(), "localhost:1".to_owned())];
        let request = Signed {
            method,
            path,
            query,
            headers: &host,
            body,
        };
        let mut headers = header_signature(&request, "AKIDEXAMPLE", secret, "us-east-1", "s3")
            .expect("the SDK signs");
        headers.push(("host".into(), "localhost:1".into()));
        headers
    }

    fn secret() -> Secret {
        Secret {
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("token".into()),
        }
    }

    #[test]
    fn a_request_signed_by_the_sdk_verifies_and_any_change_does_not() {
        let now = SystemTime::now();
        let headers = signed(
            &secret(),
            "PUT",
            "/b/t1_home/a%20b",
            "x-id=PutObject",
            b"body",
        );
        let request = Signed {
            method: "PUT",
            path: "/b/t1_home/a%20b",
            query: "x-id=PutObject",
            headers: &headers,
            body: b"body",
        };
        let signature = parse(&request).unwrap().unwrap();
        assert_eq!(verify(&request, &signature, &secret(), now), Ok(()));

        let other_path = Signed {
            path: "/b/t2_home/a%20b",
            ..request
        };
        assert_eq!(
            verify(&other_path, &signature, &secret(), now),
            Err(AuthError::Mismatch)
        );
        let other_body = Signed {
            body: b"bodz",
            ..request
        };
        assert_eq!(
            verify(&other_body, &signature, &secret(), now),
            Err(AuthError::ContentMismatch)
        );
        let other_secret = Secret {
            secret_access_key: "x".into(),
            ..secret()
        };
        assert_eq!(
            verify(&request, &signature, &other_secret, now),
            Err(AuthError::Mismatch)
        );
        let other_token = Secret {
            session_token: Some("other".into()),
            ..secret()
        };
        assert_eq!(
            verify(&request, &signature, &other_token, now),
            Err(AuthError::BadToken)
        );
        assert_eq!(
            verify(
                &request,
                &signature,
                &secret(),
                now + Duration::from_secs(16 * 60)
            ),
            Err(AuthError::Skewed)
        );
    }

    #[test]
    fn both_forms_at_once_and_broken_scopes_are_malformed() {
        let headers = vec![(
            "authorization".to_owned(),
            "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".to_owned(),
        )];
        let both = Signed {
            method: "GET",
            path: "/b",
            query: "X-Amz-Signature=00",
            headers: &headers,
            body: b"",
        };
        assert_eq!(parse(&both), Err(AuthError::Conflicting));
        let short_scope = Signed {
            query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20260101%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            headers: &[],
            ..both
        };
        assert!(matches!(parse(&short_scope), Err(AuthError::Malformed(_))));
    }
}
