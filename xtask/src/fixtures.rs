//! `cargo xtask fixtures [--check]`: write (or check) the API Gateway events
//! under `events/` from one table, so every route has the same event shapes
//! for HTTP API v2 (JWT authorizer claims) and REST v1 (the tenant
//! authorizer's context under `authorizer`, as the template's REST API
//! passes it). What each fixture must answer is recorded by hand in
//! `events/expectations.json`, which the fixture table tests read.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::process::Result;

/// Who the event says is calling.
#[derive(Clone)]
pub enum Auth {
    /// Verified claims with this tenant.
    Tenant(String),
    /// No authorizer context at all (a route without an authorizer).
    None,
    /// Verified claims without the tenant claim, and a tenant in a header
    /// (which must be ignored).
    ClaimMissing,
    /// A tenant claim that is not a valid tenant id.
    BadClaim(&'static str),
    /// A valid tenant, with a `sub` that is not a user id.
    BadUser(String),
}

pub struct Case {
    function: &'static str,
    name: String,
    method: &'static str,
    /// The API Gateway route, e.g. `/files/{key+}`.
    route: &'static str,
    path: String,
    path_param: Option<(&'static str, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    auth: Auth,
    /// Also write a REST v1 twin, `<name>-v1.json`.
    v1: bool,
}

impl Case {
    pub fn new(
        function: &'static str,
        name: impl Into<String>,
        method: &'static str,
        route: &'static str,
        path: &str,
    ) -> Self {
        Case {
            function,
            name: name.into(),
            method,
            route,
            path: path.to_owned(),
            path_param: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            auth: Auth::None,
            v1: false,
        }
    }
    pub fn param(mut self, name: &'static str, value: &str) -> Self {
        self.path_param = Some((name, value.to_owned()));
        self
    }
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }
    pub fn body(mut self, content_type: &str, body: &str) -> Self {
        self.headers
            .push(("content-type".to_owned(), content_type.to_owned()));
        self.body = Some(body.to_owned());
        self
    }
    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    pub fn tenant(self, tenant: &str) -> Self {
        self.auth(Auth::Tenant(tenant.to_owned()))
    }
    fn with_v1(mut self) -> Self {
        self.v1 = true;
        self
    }
}

const S3: &str = "s3-fetch";
const DB: &str = "aurora-query";
const ITEMS: &str = "dynamodb-items";
const DOCS: &str = "search-docs";
const TENANTS: [&str; 2] = ["tenant1", "tenant2"];

/// ETag of the seeded `<tenant>_home/tenant.info` ("<tenant> info\n"): its MD5.
fn etag(tenant: &str) -> &'static str {
    match tenant {
        "tenant1" => "\"2c0f37286c498286e727ba6e8650a29c\"",
        _ => "\"947609f6bfab1223da441b0e344d7807\"",
    }
}

/// Seeded record ids (db/local/90_seed.sql).
fn record_id(tenant: &str, which: &str) -> &'static str {
    match (tenant, which) {
        ("tenant1", "welcome") => "11111111-1111-4111-8111-111111111111",
        ("tenant1", "to-delete") => "11111111-1111-4111-8111-111111111112",
        ("tenant1", "to-delete-v1") => "11111111-1111-4111-8111-111111111113",
        ("tenant2", "welcome") => "22222222-2222-4222-8222-222222222221",
        ("tenant2", "to-delete") => "22222222-2222-4222-8222-222222222222",
        _ => "22222222-2222-4222-8222-222222222223",
    }
}

fn other(tenant: &str) -> &'static str {
    if tenant == "tenant1" {
        "tenant2"
    } else {
        "tenant1"
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let file = |name: String, key: &str| {
        Case::new(S3, name, "GET", "/files/{key+}", &format!("/files/{key}")).param("key", key)
    };
    let record = |name: String, method: &'static str, id: &str| {
        Case::new(DB, name, method, "/records/{id}", &format!("/records/{id}")).param("id", id)
    };
    for t in TENANTS {
        // s3-fetch: every route, both API formats.
        cases.push(
            Case::new(S3, format!("{t}-list"), "GET", "/files", "/files")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            Case::new(S3, format!("{t}-list-page"), "GET", "/files", "/files")
                .query("prefix", "docs/")
                .query("limit", "1")
                .tenant(t)
                .with_v1(),
        );
        cases.push(file(format!("{t}-get"), "tenant.info").tenant(t).with_v1());
        cases.push(
            file(format!("{t}-get-docs"), "docs/readme.md")
                .tenant(t)
                .with_v1(),
        );
        let mut head = file(format!("{t}-head"), "tenant.info").tenant(t).with_v1();
        head.method = "HEAD";
        cases.push(head);
        cases.push(
            file(format!("{t}-range"), "tenant.info")
                .header("range", "bytes=0-6")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            file(format!("{t}-if-none-match"), "tenant.info")
                .header("if-none-match", etag(t))
                .tenant(t)
                .with_v1(),
        );
        cases.push(file(format!("{t}-big"), "big.bin").tenant(t).with_v1());
        cases.push(
            file(format!("{t}-download-url"), "tenant.info")
                .query("download", "url")
                .tenant(t)
                .with_v1(),
        );
        // s3-fetch: what must not work.
        cases.push(file(format!("{t}-missing"), "no-such-file.txt").tenant(t));
        // The other tenant's key as a relative key: answered like a missing key.
        cases.push(
            file(
                format!("{t}-other-tenant-key"),
                &format!("{}_home/tenant.info", other(t)),
            )
            .tenant(t),
        );
        cases.push(
            file(
                format!("{t}-traversal"),
                &format!("../{}_home/tenant.info", other(t)),
            )
            .tenant(t),
        );
        cases.push(
            Case::new(S3, format!("{t}-list-traversal"), "GET", "/files", "/files")
                .query("prefix", &format!("../{}_home/", other(t)))
                .tenant(t),
        );

        // aurora-query: every route, both API formats.
        cases.push(
            Case::new(DB, format!("{t}-tenant"), "GET", "/tenant", "/tenant")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            Case::new(DB, format!("{t}-records"), "GET", "/records", "/records")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            Case::new(
                DB,
                format!("{t}-records-page"),
                "GET",
                "/records",
                "/records",
            )
            .query("limit", "1")
            .tenant(t)
            .with_v1(),
        );
        cases.push(
            record(format!("{t}-record"), "GET", record_id(t, "welcome"))
                .tenant(t)
                .with_v1(),
        );
        // Creates and deletes change state, so their REST v1 versions are cases
        // of their own (a name ending in `-v1` is written as a v1 event).
        cases.push(
            Case::new(DB, format!("{t}-create"), "POST", "/records", "/records")
                .body(
                    "application/json",
                    r#"{"name": "created-by-fixture", "data": {"source": "events"}}"#,
                )
                .tenant(t),
        );
        cases.push(
            Case::new(DB, format!("{t}-create-v1"), "POST", "/records", "/records")
                .body(
                    "application/json; charset=utf-8",
                    r#"{"name": "created-by-fixture-v1"}"#,
                )
                .tenant(t),
        );
        cases.push(record(format!("{t}-delete"), "DELETE", record_id(t, "to-delete")).tenant(t));
        cases.push(
            record(
                format!("{t}-delete-v1"),
                "DELETE",
                record_id(t, "to-delete-v1"),
            )
            .tenant(t),
        );
        // aurora-query: what must not work.
        cases.push(
            record(
                format!("{t}-other-tenant-record"),
                "GET",
                record_id(other(t), "welcome"),
            )
            .tenant(t),
        );
        cases.push(
            record(
                format!("{t}-delete-other-tenant-record"),
                "DELETE",
                record_id(other(t), "welcome"),
            )
            .tenant(t),
        );
    }

    // The user's own files (`/me/files`, under <home>/users/<sub>/).
    let t = "tenant1";
    let mine = |name: &str, method: &'static str, key: &str| {
        let mut c = Case::new(
            S3,
            name.to_owned(),
            method,
            "/me/files/{key+}",
            &format!("/me/files/{key}"),
        )
        .param("key", key)
        .tenant(t);
        c.method = method;
        c
    };
    cases.push(Case::new(S3, "tenant1-me-list", "GET", "/me/files", "/me/files").tenant(t));
    cases.push(
        mine("tenant1-me-put", "PUT", "notes/fixture.txt")
            .body("text/plain", "user-of-tenant1's own\n"),
    );
    // The tenant's shared file is not in the user's area.
    cases.push(mine("tenant1-me-shared-file", "GET", "tenant.info"));
    // Another user's area through the tenant's routes: refused before S3.
    cases.push(
        file(
            "tenant1-files-in-user-area".into(),
            "users/user-of-tenant1/notes/fixture.txt",
        )
        .tenant(t),
    );
    cases.push(mine("me-bad-user", "GET", "notes/fixture.txt").auth(Auth::BadUser(t.to_owned())));

    // Negative cases, tenant1 unless the case is about the identity.
    cases.push(file("no-authorizer".into(), "tenant.info"));
    cases.push(
        file("claim-missing".into(), "tenant.info")
            .header("x-tenant-id", "tenant2")
            .auth(Auth::ClaimMissing),
    );
    cases.push(file("bad-tenant".into(), "tenant.info").auth(Auth::BadClaim("Tenant1; DROP")));
    cases.push({
        let mut c = file("method-not-allowed".into(), "tenant.info").tenant(t);
        c.method = "PATCH";
        c
    });
    // Writes: SSE-KMS with the tenant's key, conditional, presigned.
    let write = |name: &str, method: &'static str, key: &str| {
        let mut c = file(name.to_owned(), key).tenant(t);
        c.method = method;
        c
    };
    cases.push(
        write("tenant1-put", "PUT", "fixture/written.txt")
            .body("text/plain", "written by a fixture\n"),
    );
    cases.push(
        write("tenant1-put-exists", "PUT", "tenant.info")
            .body("text/plain", "overwritten\n")
            .header("if-none-match", "*"),
    );
    cases.push(
        write("tenant1-put-stale", "PUT", "tenant.info")
            .body("text/plain", "overwritten\n")
            .header("if-match", "\"00000000000000000000000000000000\""),
    );
    cases.push(
        write("tenant1-upload-url", "PUT", "fixture/large.bin")
            .query("upload", "url")
            .query("size", "8"),
    );
    cases.push(write("bad-upload", "PUT", "fixture/large.bin").query("upload", "zip"));
    cases.push(
        write("bad-if-none-match", "PUT", "fixture/x.txt")
            .body("text/plain", "x")
            .header("if-none-match", "\"abc\""),
    );
    cases.push(write(
        "tenant1-delete-file",
        "DELETE",
        "fixture/deleted.txt",
    ));
    // The REST API (v1) shapes of a write and a delete.
    cases.push(
        write("tenant1-put-v1", "PUT", "fixture/written-v1.txt")
            .body("text/plain", "written through the REST API\n"),
    );
    cases.push(write(
        "tenant1-delete-file-v1",
        "DELETE",
        "fixture/written-v1.txt",
    ));
    cases.push(
        write(
            "tenant1-put-traversal",
            "PUT",
            "../tenant2_home/planted.txt",
        )
        .body("text/plain", "x"),
    );
    cases.push(Case::new(S3, "unknown-route", "GET", "/$default", "/nothing-here").tenant(t));
    cases.push(
        Case::new(S3, "bad-limit", "GET", "/files", "/files")
            .query("limit", "0")
            .tenant(t),
    );
    cases.push(
        Case::new(S3, "bad-cursor", "GET", "/files", "/files")
            .query("cursor", "not-a-cursor!")
            .tenant(t),
    );
    cases.push(
        Case::new(S3, "unknown-parameter", "GET", "/files", "/files")
            .query("prefx", "docs/")
            .tenant(t),
    );
    cases.push(
        file("bad-range".into(), "tenant.info")
            .header("range", "bytes=9-2")
            .tenant(t),
    );
    cases.push(
        file("unsatisfiable-range".into(), "tenant.info")
            .header("range", "bytes=1000000-")
            .tenant(t),
    );
    cases.push(
        file("bad-download".into(), "tenant.info")
            .query("download", "zip")
            .tenant(t),
    );

    let tenant_route = |name: &str| Case::new(DB, name.to_owned(), "GET", "/tenant", "/tenant");
    let create =
        |name: &str| Case::new(DB, name.to_owned(), "POST", "/records", "/records").tenant(t);
    cases.push(tenant_route("no-authorizer"));
    cases.push(
        tenant_route("claim-missing")
            .header("x-tenant-id", "tenant2")
            .auth(Auth::ClaimMissing),
    );
    cases.push(tenant_route("bad-tenant").auth(Auth::BadClaim("../tenant2")));
    cases.push(
        tenant_route("method-not-allowed")
            .tenant(t)
            .body("application/json", "{}"),
    );
    cases.last_mut().expect("just pushed").method = "PUT";
    cases.push(Case::new(DB, "unknown-route", "GET", "/$default", "/tenants").tenant(t));
    cases.push(create("bad-json").body("application/json", r#"{"name": "x","#));
    cases.push(create("wrong-content-type").body("text/plain", "name=x"));
    cases.push(create("tenant-id-in-body").body(
        "application/json",
        r#"{"name": "sneaky", "tenant_id": "tenant2_dbuser"}"#,
    ));
    cases.push(
        create("unknown-field").body("application/json", r#"{"name": "x", "owner": "tenant2"}"#),
    );
    cases.push(create("blank-name").body("application/json", r#"{"name": "   "}"#));
    cases.push(
        create("data-not-object").body("application/json", r#"{"name": "x", "data": [1, 2]}"#),
    );
    cases.push(create("duplicate-name").body("application/json", r#"{"name": "welcome"}"#));
    let oversized = format!(
        r#"{{"name": "big", "data": {{"blob": "{}"}}}}"#,
        "x".repeat(17 * 1024)
    );
    cases.push(create("oversized-body").body("application/json", &oversized));
    cases.push(record("invalid-record-id".into(), "GET", "42").tenant(t));
    cases.push(
        Case::new(DB, "records-bad-cursor", "GET", "/records", "/records")
            .query("cursor", "bm9wZQ")
            .tenant(t),
    );
    cases.extend(item_cases());
    cases.extend(doc_cases());
    cases
}

/// search-docs: every route in both API formats, and what must not work.
/// The fixture test gives each tenant the documents `welcome` and
/// `to-delete` (and tenant2 `only-tenant2`) and removes `fixture-*` before
/// it runs.
fn doc_cases() -> Vec<Case> {
    let doc = |name: String, method: &'static str, id: &str| {
        Case::new(DOCS, name, method, "/docs/{id}", &format!("/docs/{id}")).param("id", id)
    };
    let search = |name: String| Case::new(DOCS, name, "GET", "/docs", "/docs");
    let json = "application/json";
    let mut cases = Vec::new();
    for t in TENANTS {
        cases.push(
            search(format!("{t}-search"))
                .query("q", "welcome")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            search(format!("{t}-search-page"))
                .query("limit", "1")
                .tenant(t),
        );
        cases.push(
            doc(format!("{t}-doc"), "GET", "welcome")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            doc(format!("{t}-put-doc"), "PUT", "fixture-put")
                .body(json, r#"{"title": "a red fox", "size": 3}"#)
                .tenant(t),
        );
        cases.push(doc(format!("{t}-delete-doc"), "DELETE", "to-delete").tenant(t));
        cases.push(
            doc(
                format!("{t}-delete-missing-doc"),
                "DELETE",
                "fixture-never-written",
            )
            .tenant(t),
        );
    }
    // tenant1 asking for tenant2's only document: the index is tenant1's,
    // so no such document.
    let t = "tenant1";
    cases.push(doc(format!("{t}-other-tenant-doc"), "GET", "only-tenant2").tenant(t));
    cases.push(
        doc(
            format!("{t}-delete-other-tenant-doc"),
            "DELETE",
            "only-tenant2",
        )
        .tenant(t),
    );
    cases.push(
        search(format!("{t}-search-other-tenant"))
            .query("q", "only")
            .tenant(t),
    );
    cases.push(search("no-authorizer".into()));
    cases.push(
        search("claim-missing".into())
            .header("x-tenant-id", "tenant2")
            .auth(Auth::ClaimMissing),
    );
    cases.push(search("bad-tenant".into()).auth(Auth::BadClaim("tenant2#x")));
    cases.push({
        let mut c = search("method-not-allowed".into()).tenant(t);
        c.method = "POST";
        c
    });
    cases.push({
        let mut c = doc("doc-method-not-allowed".into(), "GET", "welcome").tenant(t);
        c.method = "PATCH";
        c
    });
    cases.push(Case::new(DOCS, "unknown-route", "GET", "/$default", "/docs/a/b").tenant(t));
    cases.push(search("bad-limit".into()).query("limit", "101").tenant(t));
    cases.push(
        search("bad-cursor".into())
            .query("cursor", "not-a-cursor!")
            .tenant(t),
    );
    cases.push(
        search("index-parameter".into())
            .query("index", "tenant2.docs")
            .tenant(t),
    );
    cases.push(doc("other-index-as-id".into(), "GET", "tenant2.docs").tenant(t));
    cases.push(
        doc("wrong-content-type".into(), "PUT", "fixture-x")
            .body("text/plain", "title=fox")
            .tenant(t),
    );
    cases.push(
        doc("bad-json".into(), "PUT", "fixture-x")
            .body(json, r#"{"title": "#)
            .tenant(t),
    );
    cases.push(
        doc("not-an-object".into(), "PUT", "fixture-x")
            .body(json, r#"["a", "b"]"#)
            .tenant(t),
    );
    let oversized = format!(r#"{{"blob": "{}"}}"#, "x".repeat(65 * 1024));
    cases.push(
        doc("oversized-body".into(), "PUT", "fixture-x")
            .body(json, &oversized)
            .tenant(t),
    );
    cases
}

/// dynamodb-items: every route in both API formats, writes, preconditions,
/// and what must not work. The seed gives each tenant the items `welcome`
/// and `to-delete` (and tenant2 `only-tenant2`); the fixture test puts
/// `to-delete` back and removes `fixture-*` before it runs.
fn item_cases() -> Vec<Case> {
    let item = |name: String, method: &'static str, id: &str| {
        Case::new(ITEMS, name, method, "/items/{id}", &format!("/items/{id}")).param("id", id)
    };
    let list = |name: String| Case::new(ITEMS, name, "GET", "/items", "/items");
    let json = "application/json";
    let mut cases = Vec::new();
    // The user's own items (`/me/items`, partition <tenant>#<sub>): the
    // tenant's welcome item is not among them.
    cases.push(
        Case::new(ITEMS, "tenant1-me-items", "GET", "/me/items", "/me/items").tenant("tenant1"),
    );
    cases.push(
        Case::new(
            ITEMS,
            "tenant1-me-welcome",
            "GET",
            "/me/items/{id}",
            "/me/items/welcome",
        )
        .param("id", "welcome")
        .tenant("tenant1"),
    );
    for t in TENANTS {
        cases.push(list(format!("{t}-items")).tenant(t).with_v1());
        cases.push(
            list(format!("{t}-items-page"))
                .query("limit", "1")
                .tenant(t),
        );
        cases.push(
            item(format!("{t}-item"), "GET", "welcome")
                .tenant(t)
                .with_v1(),
        );
        cases.push(
            item(format!("{t}-put"), "PUT", "fixture-put")
                .body(json, r#"{"colour": "blue", "size": 3}"#)
                .header("if-none-match", "*")
                .tenant(t),
        );
        cases.push(
            item(format!("{t}-put-v1"), "PUT", "fixture-put-v1")
                .body(json, r#"{"colour": "green"}"#)
                .tenant(t),
        );
        cases.push(item(format!("{t}-delete"), "DELETE", "to-delete").tenant(t));
        cases.push(
            item(
                format!("{t}-delete-missing-v1"),
                "DELETE",
                "fixture-never-written",
            )
            .tenant(t),
        );
        cases.push(
            item(format!("{t}-put-stale"), "PUT", "welcome")
                .body(json, r#"{"overwritten": true}"#)
                .header("if-match", "\"999\"")
                .tenant(t),
        );
        cases.push(
            item(format!("{t}-put-exists"), "PUT", "welcome")
                .body(json, r#"{"overwritten": true}"#)
                .header("if-none-match", "*")
                .tenant(t),
        );
    }
    // tenant1 asking for tenant2's only item: the key is tenant1's, so no item.
    let t = "tenant1";
    cases.push(item(format!("{t}-other-tenant-item"), "GET", "only-tenant2").tenant(t));
    cases.push(
        item(
            format!("{t}-delete-other-tenant-item"),
            "DELETE",
            "only-tenant2",
        )
        .tenant(t),
    );
    cases.push(list("no-authorizer".into()));
    cases.push(
        list("claim-missing".into())
            .header("x-tenant-id", "tenant2")
            .auth(Auth::ClaimMissing),
    );
    cases.push(list("bad-tenant".into()).auth(Auth::BadClaim("tenant2#x")));
    cases.push({
        let mut c = list("method-not-allowed".into()).tenant(t);
        c.method = "POST";
        c
    });
    cases.push({
        let mut c = item("item-method-not-allowed".into(), "GET", "welcome").tenant(t);
        c.method = "PATCH";
        c
    });
    cases.push(Case::new(ITEMS, "unknown-route", "GET", "/$default", "/items/a/b").tenant(t));
    cases.push(list("bad-limit".into()).query("limit", "501").tenant(t));
    cases.push(
        list("bad-cursor".into())
            .query("cursor", "not-a-cursor!")
            .tenant(t),
    );
    cases.push(
        list("unknown-parameter".into())
            .query("tenant", "tenant2")
            .tenant(t),
    );
    cases.push(item("invalid-item-id".into(), "GET", "a b").tenant(t));
    cases.push(
        item("wrong-content-type".into(), "PUT", "fixture-x")
            .body("text/plain", "colour=blue")
            .tenant(t),
    );
    cases.push(
        item("bad-json".into(), "PUT", "fixture-x")
            .body(json, r#"{"colour": "#)
            .tenant(t),
    );
    let oversized = format!(r#"{{"blob": "{}"}}"#, "x".repeat(65 * 1024));
    cases.push(
        item("oversized-body".into(), "PUT", "fixture-x")
            .body(json, &oversized)
            .tenant(t),
    );
    cases.push(
        item("bad-if-match".into(), "PUT", "fixture-x")
            .body(json, "{}")
            .header("if-match", "3")
            .tenant(t),
    );
    cases
}

/// Everything but RFC 3986's unreserved characters.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` (a path).
const RESERVED_IN_PATH: &AsciiSet = &RESERVED.remove(b'/');

/// Percent-encode for a query string or path (unreserved characters kept,
/// and `/` too in a path).
fn encode(s: &str, keep_slash: bool) -> String {
    let set = if keep_slash {
        RESERVED_IN_PATH
    } else {
        RESERVED
    };
    utf8_percent_encode(s, set).to_string()
}

fn claims(auth: &Auth) -> Option<Value> {
    let mut claims = Map::new();
    let (sub, tenant) = match auth {
        Auth::None => return None,
        Auth::Tenant(t) => (format!("user-of-{t}"), Some(t.as_str())),
        Auth::ClaimMissing => ("user-without-tenant".to_owned(), None),
        Auth::BadClaim(v) => ("user-with-bad-tenant".to_owned(), Some(*v)),
        Auth::BadUser(t) => ("../user-of-tenant2".to_owned(), Some(t.as_str())),
    };
    claims.insert("sub".into(), sub.into());
    claims.insert(
        "iss".into(),
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example".into(),
    );
    claims.insert("token_use".into(), "id".into());
    if let Some(t) = tenant {
        claims.insert("custom:tenant_id".into(), t.into());
    }
    Some(Value::Object(claims))
}

pub fn v2(case: &Case) -> Value {
    let route_key = if case.route == "/$default" {
        "$default".to_owned()
    } else {
        format!("{} {}", case.method, case.route)
    };
    let raw_path = encode(&case.path, true);
    let raw_query = case
        .query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = Map::new();
    headers.insert("accept".into(), "*/*".into());
    headers.insert("host".into(), "api.example.com".into());
    headers.insert("user-agent".into(), "curl/8.5.0".into());
    if !matches!(&case.auth, Auth::None) {
        headers.insert(
            "authorization".into(),
            "Bearer <JWT verified by API Gateway>".into(),
        );
    }
    for (k, v) in &case.headers {
        headers.insert(k.clone(), v.clone().into());
    }
    if let Some(body) = &case.body {
        headers.insert("content-length".into(), body.len().to_string().into());
    }
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "tenantapi",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "requestId": format!("{}-{}", case.function, case.name),
        "routeKey": route_key,
        "stage": "$default",
        "time": "22/Nov/2026:21:00:00 +0000",
        "timeEpoch": 1_795_381_200_000u64,
        "http": {
            "method": case.method,
            "path": case.path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "curl/8.5.0"
        }
    });
    if let Some(claims) = claims(&case.auth) {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false
    });
    if !case.query.is_empty() {
        let params: Map<String, Value> = case
            .query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some((name, value)) = &case.path_param {
        event["pathParameters"] = json!({ *name: value });
    }
    if let Some(body) = &case.body {
        event["body"] = body.clone().into();
    }
    event
}

fn v1(case: &Case) -> Value {
    // REST APIs send header names as the client wrote them.
    let title = |name: &str| -> String {
        name.split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-")
    };
    let mut headers = Map::new();
    headers.insert("Accept".into(), "*/*".into());
    headers.insert("Host".into(), "api.example.com".into());
    if !matches!(&case.auth, Auth::None) {
        headers.insert(
            "Authorization".into(),
            "Bearer <JWT verified by API Gateway>".into(),
        );
    }
    for (k, v) in &case.headers {
        headers.insert(title(k), v.clone().into());
    }
    let multi: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    let (query, multi_query) = if case.query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        let single: Map<String, Value> = case
            .query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
            .collect();
        let multi: Map<String, Value> = case
            .query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!([v])))
            .collect();
        (Value::Object(single), Value::Object(multi))
    };
    let mut context = json!({
        "accountId": "123456789012",
        "resourceId": "abc123",
        "stage": "prod",
        "requestId": format!("{}-{}-v1", case.function, case.name),
        "identity": { "sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0" },
        "resourcePath": case.route,
        "httpMethod": case.method,
        "apiId": "tenantrest",
        "path": format!("/prod{}", case.path)
    });
    if let Some(claims) = claims(&case.auth) {
        // A Lambda authorizer's context, as API Gateway passes it on: the
        // keys the tenant authorizer answers with, the principal, and the
        // authorizer's latency.
        let mut authorizer = Map::new();
        if let Some(tenant) = claims.get("custom:tenant_id") {
            authorizer.insert("tenantId".into(), tenant.clone());
            authorizer.insert("custom:tenant_id".into(), tenant.clone());
        }
        authorizer.insert("sub".into(), claims["sub"].clone());
        authorizer.insert("principalId".into(), claims["sub"].clone());
        authorizer.insert("integrationLatency".into(), 0.into());
        context["authorizer"] = Value::Object(authorizer);
    }
    json!({
        "resource": case.route,
        "path": case.path,
        "httpMethod": case.method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": case.path_param.as_ref().map(|(k, v)| json!({ *k: v })),
        "stageVariables": null,
        "requestContext": context,
        "body": case.body,
        "isBase64Encoded": false
    })
}

/// Every fixture file, relative to `events/`, with its contents.
fn render() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut add = |path: String, event: Value| {
        let text = serde_json::to_string_pretty(&event).expect("events serialize") + "\n";
        assert!(
            files.insert(path.clone(), text).is_none(),
            "two fixtures named {path}"
        );
    };
    for case in cases() {
        let is_v1 = case.name.ends_with("-v1");
        let event = if is_v1 { v1(&case) } else { v2(&case) };
        add(format!("{}/{}.json", case.function, case.name), event);
        if case.v1 {
            add(
                format!("{}/{}-v1.json", case.function, case.name),
                v1(&case),
            );
        }
    }
    files
}

/// Write the fixtures, or with `check` report any that differ, are missing
/// or are not generated.
pub fn run(root: &Path, check: bool) -> Result<()> {
    let events = root.join("events");
    let wanted = render();
    let mut present = BTreeMap::new();
    for function in [S3, DB, ITEMS, DOCS] {
        let dir = events.join(function);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                let text = fs::read_to_string(entry.path())
                    .map_err(|e| format!("{}: {e}", entry.path().display()))?;
                present.insert(format!("{function}/{name}"), text);
            }
        }
    }
    let stale: Vec<&String> = wanted
        .iter()
        .filter(|(p, t)| present.get(*p) != Some(t))
        .map(|(p, _)| p)
        .collect();
    let extra: Vec<&String> = present
        .keys()
        .filter(|p| !wanted.contains_key(*p))
        .collect();
    if check {
        if stale.is_empty() && extra.is_empty() {
            progress!("{} fixtures in events/ match the generator", wanted.len());
            return Ok(());
        }
        return Err(format!(
            "events/ is out of date (run `cargo xtask fixtures`): differ or missing: {stale:?}; not generated: {extra:?}"
        ));
    }
    for path in extra {
        fs::remove_file(events.join(path)).map_err(|e| format!("{path}: {e}"))?;
    }
    for (path, text) in &wanted {
        let file = events.join(path);
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    progress!("wrote {} fixtures to events/", wanted.len());
    Ok(())
}
