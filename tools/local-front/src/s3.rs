//! What an S3 request asks IAM for, as S3 authorizes it: the REST method,
//! the path (path-style: `/<bucket>/<key>`) and the sub-resource in the
//! query decide the operation, and each operation names its IAM actions
//! and resources. A sub-resource this does not know is an operation no
//! policy allows, so nothing passes the front unclassified.

use std::collections::BTreeMap;

/// One IAM check an S3 operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Check {
    /// The IAM action (`s3:GetObject`).
    pub action: &'static str,
    /// The resource ARN (`arn:aws:s3:::bucket/key`, decoded).
    pub resource: String,
    /// `s3:prefix` for a listing.
    pub prefix: Option<String>,
}

/// What KMS work S3 does for the operation with the caller's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsWork {
    /// None that the front must check (reads are checked on the answer).
    None,
    /// A new object (PutObject, CreateMultipartUpload, CopyObject's
    /// destination): a data key from the key the request names.
    NewObject,
    /// A part of, or the end of, a multipart upload: the upload's key.
    Upload {
        /// The upload id.
        upload_id: String,
    },
}

/// A classified S3 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Operation {
    /// The operation's name, as S3's API reference gives it.
    pub name: &'static str,
    /// Every IAM check it needs; all must allow.
    pub checks: Vec<S3Check>,
    /// The object a copy reads: (bucket, key, version id).
    pub copy_source: Option<(String, String, Option<String>)>,
    /// The KMS work S3 does for it.
    pub kms: KmsWork,
}

/// Query keys that are plain parameters, not sub-resources.
const PLAIN_PARAMS: [&str; 19] = [
    "x-id",
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
    "marker",
    "key-marker",
    "version-id-marker",
    "upload-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "partNumber",
    "versionId",
    "uploadId",
];

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Classify an S3 request: `None` for one that names no bucket.
///
/// ```
/// use local_front::s3::operation;
/// let get = operation("GET", "/b/t1_home/a%20b.txt", "x-id=GetObject", None, b"").unwrap();
/// assert_eq!((get.name, get.checks[0].action, get.checks[0].resource.as_str()), ("GetObject", "s3:GetObject", "arn:aws:s3:::b/t1_home/a b.txt"));
/// let version = operation("GET", "/b/k", "versionId=3", None, b"").unwrap();
/// assert_eq!(version.checks[0].action, "s3:GetObjectVersion");
/// let list = operation("GET", "/b", "list-type=2&prefix=t1_home%2F", None, b"").unwrap();
/// assert_eq!((list.checks[0].action, list.checks[0].prefix.as_deref()), ("s3:ListBucket", Some("t1_home/")));
/// let unknown = operation("GET", "/b/k", "anything", None, b"").unwrap();
/// assert_eq!(unknown.checks[0].action, "s3:UnknownOperation");
/// ```
pub fn operation(
    method: &str,
    path: &str,
    query: &str,
    copy_source: Option<&str>,
    body: &[u8],
) -> Option<S3Operation> {
    let path = path.strip_prefix('/')?;
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return None;
    }
    let params: BTreeMap<String, String> = crate::sigv4::form_pairs(query).collect();
    let has = |name: &str| params.contains_key(name);
    // The sub-resources named: every key that is not a plain parameter.
    let sub: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !PLAIN_PARAMS.contains(k) && !k.starts_with("response-"))
        .collect();
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let check = |action: &'static str, resource: &str| S3Check {
        action,
        resource: resource.to_owned(),
        prefix: None,
    };
    let one = |name: &'static str, action: &'static str, resource: &str| S3Operation {
        name,
        checks: vec![check(action, resource)],
        copy_source: None,
        kms: KmsWork::None,
    };
    let unknown = |resource: &str| one("Unknown", "s3:UnknownOperation", resource);
    if key.is_empty() {
        let listing = |name, action| S3Operation {
            checks: vec![S3Check {
                action,
                resource: bucket_arn.clone(),
                prefix: Some(params.get("prefix").cloned().unwrap_or_default()),
            }],
            ..one(name, action, &bucket_arn)
        };
        return Some(match (method, sub.as_slice()) {
            ("GET" | "HEAD", []) if has("uploadId") || has("versionId") => unknown(&bucket_arn),
            ("GET" | "HEAD", []) => listing("ListObjects", "s3:ListBucket"),
            ("GET", ["versions"]) => listing("ListObjectVersions", "s3:ListBucketVersions"),
            ("GET", ["uploads"]) => one(
                "ListMultipartUploads",
                "s3:ListBucketMultipartUploads",
                &bucket_arn,
            ),
            ("POST", ["delete"]) => delete_objects(bucket, body),
            ("PUT", []) => one("CreateBucket", "s3:CreateBucket", &bucket_arn),
            ("DELETE", []) => one("DeleteBucket", "s3:DeleteBucket", &bucket_arn),
            (method, [sub]) => match bucket_action(method, sub) {
                Some((name, action)) => one(name, action, &bucket_arn),
                None => unknown(&bucket_arn),
            },
            _ => unknown(&bucket_arn),
        });
    }
    let object_arn = format!("arn:aws:s3:::{bucket}/{}", decode(key));
    let versioned = has("versionId");
    let pick = |plain: &'static str, version: &'static str| if versioned { version } else { plain };
    let op = match (method, sub.as_slice()) {
        ("GET" | "HEAD", []) if has("uploadId") => {
            one("ListParts", "s3:ListMultipartUploadParts", &object_arn)
        }
        ("GET" | "HEAD", []) => one(
            if method == "GET" {
                "GetObject"
            } else {
                "HeadObject"
            },
            pick("s3:GetObject", "s3:GetObjectVersion"),
            &object_arn,
        ),
        ("PUT", []) if has("uploadId") => S3Operation {
            kms: KmsWork::Upload {
                upload_id: params["uploadId"].clone(),
            },
            ..copying(one("UploadPart", "s3:PutObject", &object_arn), copy_source)
        },
        ("PUT", []) => S3Operation {
            kms: KmsWork::NewObject,
            ..copying(one("PutObject", "s3:PutObject", &object_arn), copy_source)
        },
        ("POST", []) if has("uploadId") => S3Operation {
            kms: KmsWork::Upload {
                upload_id: params["uploadId"].clone(),
            },
            ..one("CompleteMultipartUpload", "s3:PutObject", &object_arn)
        },
        ("POST", ["uploads"]) => S3Operation {
            kms: KmsWork::NewObject,
            ..one("CreateMultipartUpload", "s3:PutObject", &object_arn)
        },
        ("DELETE", []) if has("uploadId") => one(
            "AbortMultipartUpload",
            "s3:AbortMultipartUpload",
            &object_arn,
        ),
        ("DELETE", []) => one(
            "DeleteObject",
            pick("s3:DeleteObject", "s3:DeleteObjectVersion"),
            &object_arn,
        ),
        ("GET", ["tagging"]) => one(
            "GetObjectTagging",
            pick("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            &object_arn,
        ),
        ("PUT", ["tagging"]) => one(
            "PutObjectTagging",
            pick("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            &object_arn,
        ),
        ("DELETE", ["tagging"]) => one(
            "DeleteObjectTagging",
            pick("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            &object_arn,
        ),
        ("GET", ["acl"]) => one(
            "GetObjectAcl",
            pick("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            &object_arn,
        ),
        ("PUT", ["acl"]) => one(
            "PutObjectAcl",
            pick("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            &object_arn,
        ),
        ("GET", ["attributes"]) => one(
            "GetObjectAttributes",
            pick("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            &object_arn,
        ),
        ("GET", ["retention"]) => one("GetObjectRetention", "s3:GetObjectRetention", &object_arn),
        ("PUT", ["retention"]) => one("PutObjectRetention", "s3:PutObjectRetention", &object_arn),
        ("GET", ["legal-hold"]) => one("GetObjectLegalHold", "s3:GetObjectLegalHold", &object_arn),
        ("PUT", ["legal-hold"]) => one("PutObjectLegalHold", "s3:PutObjectLegalHold", &object_arn),
        ("POST", ["restore"]) => one("RestoreObject", "s3:RestoreObject", &object_arn),
        ("GET", ["torrent"]) => one("GetObjectTorrent", "s3:GetObjectTorrent", &object_arn),
        _ => unknown(&object_arn),
    };
    Some(op)
}

/// An operation that also reads `x-amz-copy-source`: read on the source
/// (its version, if one is named), besides the write.
fn copying(mut op: S3Operation, copy_source: Option<&str>) -> S3Operation {
    let Some(source) = copy_source else {
        return op;
    };
    let source = decode(source);
    let (source, version) = match source.split_once("?versionId=") {
        Some((s, v)) => (s.to_owned(), Some(v.to_owned())),
        None => (source, None),
    };
    let source = source.trim_start_matches('/');
    let Some((bucket, key)) = source
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
    else {
        op.checks.push(S3Check {
            action: "s3:UnknownOperation",
            resource: "arn:aws:s3:::invalid-copy-source".to_owned(),
            prefix: None,
        });
        return op;
    };
    if op.name == "PutObject" {
        op.name = "CopyObject";
    } else {
        op.name = "UploadPartCopy";
    }
    op.checks.push(S3Check {
        action: if version.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        },
        resource: format!("arn:aws:s3:::{bucket}/{key}"),
        prefix: None,
    });
    op.copy_source = Some((bucket.to_owned(), key.to_owned(), version));
    op
}

/// `DeleteObjects`: `s3:DeleteObject` (or `s3:DeleteObjectVersion`) on
/// every key its XML body names; a body with no key deletes nothing and
/// is refused as S3 refuses it (`MalformedXML`, here: no check allows it).
fn delete_objects(bucket: &str, body: &[u8]) -> S3Operation {
    let text = String::from_utf8_lossy(body);
    let mut checks = Vec::new();
    for object in text.split("<Object>").skip(1) {
        let object = object.split("</Object>").next().unwrap_or_default();
        let field = |tag: &str| {
            let start = object.find(&format!("<{tag}>"))? + tag.len() + 2;
            let end = object[start..].find(&format!("</{tag}>"))? + start;
            Some(xml_unescape(&object[start..end]))
        };
        let Some(key) = field("Key") else { continue };
        checks.push(S3Check {
            action: if field("VersionId").is_some() {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            },
            resource: format!("arn:aws:s3:::{bucket}/{key}"),
            prefix: None,
        });
    }
    if checks.is_empty() {
        checks.push(S3Check {
            action: "s3:UnknownOperation",
            resource: format!("arn:aws:s3:::{bucket}"),
            prefix: None,
        });
    }
    S3Operation {
        name: "DeleteObjects",
        checks,
        copy_source: None,
        kms: KmsWork::None,
    }
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A bucket sub-resource's operation and IAM action.
fn bucket_action(method: &str, sub: &str) -> Option<(&'static str, &'static str)> {
    Some(match (method, sub) {
        ("GET", "location") => ("GetBucketLocation", "s3:GetBucketLocation"),
        ("GET", "policy") => ("GetBucketPolicy", "s3:GetBucketPolicy"),
        ("PUT", "policy") => ("PutBucketPolicy", "s3:PutBucketPolicy"),
        ("DELETE", "policy") => ("DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
        ("GET", "policyStatus") => ("GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
        ("GET", "acl") => ("GetBucketAcl", "s3:GetBucketAcl"),
        ("PUT", "acl") => ("PutBucketAcl", "s3:PutBucketAcl"),
        ("GET", "versioning") => ("GetBucketVersioning", "s3:GetBucketVersioning"),
        ("PUT", "versioning") => ("PutBucketVersioning", "s3:PutBucketVersioning"),
        ("GET", "tagging") => ("GetBucketTagging", "s3:GetBucketTagging"),
        ("PUT" | "DELETE", "tagging") => ("PutBucketTagging", "s3:PutBucketTagging"),
        ("GET", "encryption") => ("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
        ("PUT" | "DELETE", "encryption") => {
            ("PutBucketEncryption", "s3:PutEncryptionConfiguration")
        }
        ("GET", "lifecycle") => (
            "GetBucketLifecycleConfiguration",
            "s3:GetLifecycleConfiguration",
        ),
        ("PUT" | "DELETE", "lifecycle") => (
            "PutBucketLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        ("GET", "cors") => ("GetBucketCors", "s3:GetBucketCORS"),
        ("PUT" | "DELETE", "cors") => ("PutBucketCors", "s3:PutBucketCORS"),
        ("GET", "publicAccessBlock") => ("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        ("PUT" | "DELETE", "publicAccessBlock") => {
            ("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock")
        }
        ("GET", "ownershipControls") => (
            "GetBucketOwnershipControls",
            "s3:GetBucketOwnershipControls",
        ),
        ("PUT" | "DELETE", "ownershipControls") => (
            "PutBucketOwnershipControls",
            "s3:PutBucketOwnershipControls",
        ),
        ("GET", "notification") => ("GetBucketNotification", "s3:GetBucketNotification"),
        ("PUT", "notification") => ("PutBucketNotification", "s3:PutBucketNotification"),
        ("GET", "logging") => ("GetBucketLogging", "s3:GetBucketLogging"),
        ("PUT", "logging") => ("PutBucketLogging", "s3:PutBucketLogging"),
        ("GET", "object-lock") => (
            "GetObjectLockConfiguration",
            "s3:GetBucketObjectLockConfiguration",
        ),
        ("PUT", "object-lock") => (
            "PutObjectLockConfiguration",
            "s3:PutBucketObjectLockConfiguration",
        ),
        ("GET", "replication") => ("GetBucketReplication", "s3:GetReplicationConfiguration"),
        ("PUT" | "DELETE", "replication") => {
            ("PutBucketReplication", "s3:PutReplicationConfiguration")
        }
        ("GET", "website") => ("GetBucketWebsite", "s3:GetBucketWebsite"),
        ("PUT", "website") => ("PutBucketWebsite", "s3:PutBucketWebsite"),
        ("DELETE", "website") => ("DeleteBucketWebsite", "s3:DeleteBucketWebsite"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(method: &str, path: &str, query: &str, copy: Option<&str>) -> Vec<&'static str> {
        operation(method, path, query, copy, b"")
            .unwrap()
            .checks
            .iter()
            .map(|c| c.action)
            .collect()
    }

    #[test]
    fn sub_resources_are_their_own_actions() {
        for (method, query, action) in [
            ("GET", "versionId=1", "s3:GetObjectVersion"),
            ("GET", "tagging", "s3:GetObjectTagging"),
            ("GET", "tagging&versionId=1", "s3:GetObjectVersionTagging"),
            ("PUT", "tagging", "s3:PutObjectTagging"),
            ("DELETE", "tagging", "s3:DeleteObjectTagging"),
            ("GET", "acl", "s3:GetObjectAcl"),
            ("PUT", "acl", "s3:PutObjectAcl"),
            ("DELETE", "versionId=1", "s3:DeleteObjectVersion"),
            ("POST", "uploads", "s3:PutObject"),
            ("PUT", "partNumber=1&uploadId=u", "s3:PutObject"),
            ("POST", "uploadId=u", "s3:PutObject"),
            ("DELETE", "uploadId=u", "s3:AbortMultipartUpload"),
            ("GET", "uploadId=u", "s3:ListMultipartUploadParts"),
            (
                "GET",
                "response-content-disposition=attachment",
                "s3:GetObject",
            ),
            ("GET", "policy", "s3:UnknownOperation"),
        ] {
            assert_eq!(
                actions(method, "/b/k", query, None),
                [action],
                "{method} ?{query}"
            );
        }
        for (method, query, action) in [
            ("GET", "policy", "s3:GetBucketPolicy"),
            ("PUT", "policy", "s3:PutBucketPolicy"),
            ("GET", "acl", "s3:GetBucketAcl"),
            ("GET", "versions&prefix=a", "s3:ListBucketVersions"),
            ("GET", "uploads", "s3:ListBucketMultipartUploads"),
            ("PUT", "", "s3:CreateBucket"),
            ("GET", "nonsense", "s3:UnknownOperation"),
        ] {
            assert_eq!(
                actions(method, "/b", query, None),
                [action],
                "{method} ?{query}"
            );
        }
    }

    #[test]
    fn a_copy_reads_its_source_and_a_batch_deletes_every_key() {
        let copy = operation("PUT", "/b/t1_home/x", "", Some("/b/t2_home/secret"), b"").unwrap();
        assert_eq!(copy.name, "CopyObject");
        assert_eq!(
            copy.checks
                .iter()
                .map(|c| (c.action, c.resource.as_str()))
                .collect::<Vec<_>>(),
            [
                ("s3:PutObject", "arn:aws:s3:::b/t1_home/x"),
                ("s3:GetObject", "arn:aws:s3:::b/t2_home/secret")
            ]
        );
        let versioned = operation("PUT", "/b/k", "", Some("b%2Fsrc%3FversionId%3D7"), b"").unwrap();
        assert_eq!(versioned.checks[1].action, "s3:GetObjectVersion");
        let body = b"<Delete><Object><Key>t1_home/a</Key></Object><Object><Key>t2_home/b</Key><VersionId>3</VersionId></Object></Delete>";
        let batch = operation("POST", "/b", "delete", None, body).unwrap();
        assert_eq!(
            batch
                .checks
                .iter()
                .map(|c| (c.action, c.resource.as_str()))
                .collect::<Vec<_>>(),
            [
                ("s3:DeleteObject", "arn:aws:s3:::b/t1_home/a"),
                ("s3:DeleteObjectVersion", "arn:aws:s3:::b/t2_home/b")
            ]
        );
    }
}
