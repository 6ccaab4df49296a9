//! OpenSearch: what a request asks IAM for, and the engine that answers it.
//!
//! **What IAM evaluates.** A domain with an IAM-based access policy
//! authorizes each HTTP request as the action `es:ESHttp<Method>` on the
//! resource `<domain ARN>/<path>`: the request's path, literally, wildcards
//! and commas included. So `GET /t1.docs,t2.docs/_search` is the resource
//! `…/t1.docs,t2.docs/_search`, which a grant on `…/t1.docs/_search` does
//! not match, and `GET /t1.*/_search` is `…/t1.*/_search`. Paths that do not
//! name one thing plainly (empty or dot segments, an encoded `/`) are
//! refused before IAM sees them ([`search_request`]), so a grant's `*`
//! can never be stretched across segments.
//!
//! **The engine is a stand-in.** No OpenSearch-compatible engine is
//! installable from the registries this project builds from, so
//! [`Engine`] is a small in-memory one, named and documented as such. It
//! serves exactly what the `search` store of `tenant-access` uses
//! (`PUT`/`GET`/`DELETE /<index>/_doc/<id>`, `GET /<index>/_search?q=`),
//! plus what the isolation tests aim at: index expressions (`_all`, `*`,
//! patterns, comma lists), aliases, `_cat/indices`, and the multi-index
//! APIs (`_bulk`, `_mget`, `_msearch`) under
//! `rest.action.multi.allow_explicit_index: false`, as the template sets
//! it. It resolves expressions and aliases as OpenSearch does, so the tests
//! show IAM stopping them, not the stand-in lacking them. Search quality is
//! not its business: a query string's terms match whole words.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::{Value, json};

/// A request to the domain as IAM evaluates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// `es:ESHttp<Method>`.
    pub action: String,
    /// The path without its leading `/`: what follows the domain ARN in the
    /// resource.
    pub resource_path: String,
}

/// Why a request cannot be evaluated: refused with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// What `method` and `path` ask IAM for, or why the path is refused.
///
/// ```
/// use local_front::search::search_request;
///
/// let r = search_request("GET", "/t1.docs/_search").unwrap();
/// assert_eq!(r.action, "es:ESHttpGet");
/// assert_eq!(r.resource_path, "t1.docs/_search");
/// assert!(search_request("GET", "/t1.docs/_doc/../../t2.docs/_doc/a").is_err());
/// assert!(search_request("GET", "/t1.docs/_doc/a%2Fb").is_err());
/// ```
pub fn search_request(method: &str, path: &str) -> Result<SearchRequest, Unreadable> {
    let verb = match method {
        "GET" => "Get",
        "PUT" => "Put",
        "POST" => "Post",
        "DELETE" => "Delete",
        "HEAD" => "Head",
        "PATCH" => "Patch",
        other => return Err(Unreadable(format!("no method {other} on a domain"))),
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Unreadable("a path starts with /".into()));
    };
    if !rest.is_empty() {
        for segment in rest.split('/') {
            let lower = segment.to_ascii_lowercase();
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(Unreadable(format!(
                    "the path {path} has an empty or dot segment"
                )));
            }
            if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%2e") {
                return Err(Unreadable(format!(
                    "the path {path} has an encoded separator"
                )));
            }
        }
    }
    Ok(SearchRequest {
        action: format!("es:ESHttp{verb}"),
        resource_path: rest.to_owned(),
    })
}

/// One stored document.
#[derive(Debug, Clone)]
struct Doc {
    source: Value,
    version: u64,
}

#[derive(Debug, Default)]
struct State {
    indices: BTreeMap<String, BTreeMap<String, Doc>>,
    /// Alias name to the indices it points at.
    aliases: BTreeMap<String, BTreeSet<String>>,
}

/// The stand-in engine (see the module docs): in memory, one per front.
#[derive(Debug, Default)]
pub struct Engine {
    state: Mutex<State>,
    /// `rest.action.multi.allow_explicit_index`: `false` in the template
    /// (and by default here), so a multi-index body may not name an index.
    allow_explicit_index: bool,
}

/// An engine answer: status and JSON body.
pub type EngineAnswer = (u16, Value);

fn error(status: u16, kind: &str, reason: impl Into<String>) -> EngineAnswer {
    let reason = reason.into();
    (
        status,
        json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}),
    )
}

fn not_found_index(index: &str) -> EngineAnswer {
    error(
        404,
        "index_not_found_exception",
        format!("no such index [{index}]"),
    )
}

/// OpenSearch's rule for an index name it will create.
fn valid_index_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with(['_', '-', '+'])
        && !name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'])
        && name == name.to_lowercase()
}

/// `*` in `pattern` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

/// The words of a document's values, lower-cased.
fn words(value: &Value, field: Option<&str>, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if field.is_none_or(|f| f == k) {
                    words(v, None, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| words(v, None, out)),
        Value::String(s) => out.extend(
            s.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase),
        ),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Null => {}
    }
}

/// How many of the query string's terms `source` matches (OR, as
/// OpenSearch's default operator); `None` when it matches none.
fn score(query: &str, source: &Value) -> Option<u32> {
    let terms: Vec<&str> = query.split_whitespace().collect();
    if terms.is_empty() || terms == ["*"] {
        return Some(1);
    }
    let mut score = 0;
    for term in terms {
        let term = term.trim_matches('"');
        let (field, word) = match term.split_once(':') {
            Some((f, w)) => (Some(f), w),
            None => (None, term),
        };
        let word = word.to_lowercase();
        let mut found = Vec::new();
        if let Value::Object(map) = source {
            words(&Value::Object(map.clone()), field, &mut found);
        }
        let hit = match word.strip_suffix('*') {
            Some(prefix) => found.iter().any(|w| w.starts_with(prefix)),
            None => found.contains(&word),
        };
        if hit {
            score += 1;
        }
    }
    (score > 0).then_some(score)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
}

impl Engine {
    /// An engine with `rest.action.multi.allow_explicit_index` set to
    /// `allow` (the template sets `false`, the default here).
    pub fn with_explicit_index(allow: bool) -> Self {
        Engine {
            allow_explicit_index: allow,
            ..Engine::default()
        }
    }

    /// Answer one request (already authorized by IAM).
    ///
    /// ```
    /// use local_front::search::Engine;
    ///
    /// let engine = Engine::default();
    /// let (status, _) = engine.serve("PUT", "/t1.docs/_doc/a", "", br#"{"title":"red fox"}"#);
    /// assert_eq!(status, 201);
    /// let (status, body) = engine.serve("GET", "/t1.docs/_search", "q=fox", b"");
    /// assert_eq!(status, 200);
    /// assert_eq!(body["hits"]["total"]["value"], 1);
    /// ```
    pub fn serve(&self, method: &str, path: &str, query: &str, body: &[u8]) -> EngineAnswer {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut state = self.state.lock().expect("engine lock poisoned");
        match (method, segments.as_slice()) {
            ("GET" | "HEAD", []) => (
                200,
                json!({"name": "local-front", "version": {"distribution": "opensearch", "number": "2.x (stand-in)"}}),
            ),
            ("GET", ["_cat", "indices"]) => (
                200,
                Value::Array(
                    state
                        .indices
                        .iter()
                        .map(|(name, docs)| json!({"index": name, "docs.count": docs.len().to_string()}))
                        .collect(),
                ),
            ),
            ("POST", ["_aliases"]) => Self::aliases(&mut state, body),
            ("PUT" | "POST", [index, "_alias" | "_aliases", alias]) => {
                if !state.indices.contains_key(*index) {
                    return not_found_index(index);
                }
                state
                    .aliases
                    .entry((*alias).to_owned())
                    .or_default()
                    .insert((*index).to_owned());
                (200, json!({"acknowledged": true}))
            }
            ("POST" | "PUT", ["_bulk"]) => self.bulk(&mut state, None, body),
            ("POST" | "PUT", [index, "_bulk"]) => self.bulk(&mut state, Some(index), body),
            ("GET" | "POST", ["_mget"]) => self.mget(&state, None, body),
            ("GET" | "POST", [index, "_mget"]) => self.mget(&state, Some(index), body),
            ("GET" | "POST", ["_msearch"]) => self.msearch(&state, None, body),
            ("GET" | "POST", [index, "_msearch"]) => self.msearch(&state, Some(index), body),
            ("GET" | "POST", ["_search"]) => Self::search(&state, "_all", query, body),
            ("GET" | "POST", [expression, "_search"]) => {
                Self::search(&state, expression, query, body)
            }
            ("PUT" | "POST", [index, "_doc", id]) => {
                let Ok(source) = serde_json::from_slice::<Value>(body) else {
                    return error(400, "mapper_parsing_exception", "failed to parse the document");
                };
                if !source.is_object() {
                    return error(400, "mapper_parsing_exception", "a document is a JSON object");
                }
                Self::index(&mut state, index, id, source)
            }
            ("GET" | "HEAD", [index, "_doc", id]) => {
                let Some(concrete) = Self::concrete(&state, index) else {
                    return not_found_index(index);
                };
                match state.indices.get(&concrete).and_then(|docs| docs.get(*id)) {
                    Some(doc) => (
                        200,
                        json!({"_index": concrete, "_id": id, "_version": doc.version, "found": true, "_source": doc.source}),
                    ),
                    None => (404, json!({"_index": concrete, "_id": id, "found": false})),
                }
            }
            ("DELETE", [index, "_doc", id]) => {
                let Some(concrete) = Self::concrete(&state, index) else {
                    return not_found_index(index);
                };
                match state
                    .indices
                    .get_mut(&concrete)
                    .and_then(|docs| docs.remove(*id))
                {
                    Some(doc) => (
                        200,
                        json!({"_index": concrete, "_id": id, "_version": doc.version + 1, "result": "deleted"}),
                    ),
                    None => (404, json!({"_index": concrete, "_id": id, "result": "not_found"})),
                }
            }
            ("DELETE", [index]) => match state.indices.remove(*index) {
                Some(_) => {
                    for targets in state.aliases.values_mut() {
                        targets.remove(*index);
                    }
                    (200, json!({"acknowledged": true}))
                }
                None => not_found_index(index),
            },
            _ => error(
                400,
                "illegal_argument_exception",
                format!("no handler found for uri [{path}] and method [{method}]"),
            ),
        }
    }

    /// The one index a name means (an index, or an alias of exactly one).
    fn concrete(state: &State, name: &str) -> Option<String> {
        if state.indices.contains_key(name) {
            return Some(name.to_owned());
        }
        match state.aliases.get(name) {
            Some(targets) if targets.len() == 1 => targets.iter().next().cloned(),
            _ => None,
        }
    }

    /// The indices an expression names: comma lists, `_all`, `*` patterns
    /// over indices and aliases, aliases; `Err` names a missing concrete one.
    fn resolve(state: &State, expression: &str) -> Result<BTreeSet<String>, String> {
        let mut out = BTreeSet::new();
        for part in expression.split(',') {
            if part == "_all" || part == "*" {
                out.extend(state.indices.keys().cloned());
            } else if part.contains('*') {
                out.extend(state.indices.keys().filter(|i| glob(part, i)).cloned());
                for (alias, targets) in &state.aliases {
                    if glob(part, alias) {
                        out.extend(targets.iter().cloned());
                    }
                }
            } else if state.indices.contains_key(part) {
                out.insert(part.to_owned());
            } else if let Some(targets) = state.aliases.get(part) {
                out.extend(targets.iter().cloned());
            } else {
                return Err(part.to_owned());
            }
        }
        Ok(out)
    }

    fn index(state: &mut State, index: &str, id: &str, source: Value) -> EngineAnswer {
        let concrete = match Self::concrete(state, index) {
            Some(concrete) => concrete,
            None if valid_index_name(index) => index.to_owned(),
            None => {
                return error(
                    400,
                    "invalid_index_name_exception",
                    format!("Invalid index name [{index}]"),
                );
            }
        };
        let docs = state.indices.entry(concrete.clone()).or_default();
        let version = docs.get(id).map_or(1, |d| d.version + 1);
        docs.insert(id.to_owned(), Doc { source, version });
        let (status, result) = if version == 1 {
            (201, "created")
        } else {
            (200, "updated")
        };
        (
            status,
            json!({"_index": concrete, "_id": id, "_version": version, "result": result}),
        )
    }

    fn search(state: &State, expression: &str, query: &str, body: &[u8]) -> EngineAnswer {
        let indices = match Self::resolve(state, expression) {
            Ok(indices) => indices,
            Err(missing) => return not_found_index(&missing),
        };
        let request: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return error(400, "parsing_exception", "the body is not JSON"),
            }
        };
        let q = query_param(query, "q")
            .or_else(|| {
                request
                    .pointer("/query/query_string/query")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let number = |name: &str, default: u64| {
            query_param(query, name)
                .and_then(|v| v.parse().ok())
                .or_else(|| request.get(name).and_then(Value::as_u64))
                .unwrap_or(default) as usize
        };
        let (size, from) = (number("size", 10), number("from", 0));
        let mut hits: Vec<(u32, &String, &String, &Doc)> = indices
            .iter()
            .filter_map(|index| state.indices.get(index).map(|docs| (index, docs)))
            .flat_map(|(index, docs)| docs.iter().map(move |(id, doc)| (index, id, doc)))
            .filter_map(|(index, id, doc)| score(&q, &doc.source).map(|s| (s, index, id, doc)))
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(b.2)));
        let total = hits.len();
        let page: Vec<Value> = hits
            .into_iter()
            .skip(from)
            .take(size)
            .map(|(score, index, id, doc)| {
                json!({"_index": index, "_id": id, "_score": score, "_source": doc.source})
            })
            .collect();
        (
            200,
            json!({"took": 0, "timed_out": false, "hits": {"total": {"value": total, "relation": "eq"}, "hits": page}}),
        )
    }

    fn explicit_index_refused(&self, api: &str) -> EngineAnswer {
        error(
            400,
            "illegal_argument_exception",
            format!("explicit index in {api} is not allowed"),
        )
    }

    fn ndjson(body: &[u8]) -> Result<Vec<Value>, EngineAnswer> {
        String::from_utf8_lossy(body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|_| error(400, "parsing_exception", "a line is not JSON"))
            })
            .collect()
    }

    fn bulk(&self, state: &mut State, index: Option<&str>, body: &[u8]) -> EngineAnswer {
        let lines = match Self::ndjson(body) {
            Ok(lines) => lines,
            Err(answer) => return answer,
        };
        // Every action is checked before any is applied.
        let mut actions = Vec::new();
        let mut lines = lines.into_iter();
        while let Some(action) = lines.next() {
            let Some((kind, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
                return error(
                    400,
                    "illegal_argument_exception",
                    "an action line is an object",
                );
            };
            if meta.get("_index").is_some() && !self.allow_explicit_index {
                return self.explicit_index_refused("bulk");
            }
            let Some(target) = meta
                .get("_index")
                .and_then(Value::as_str)
                .or(index)
                .map(str::to_owned)
            else {
                return error(
                    400,
                    "action_request_validation_exception",
                    "index is missing",
                );
            };
            let id = meta
                .get("_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let source = match kind.as_str() {
                "index" | "create" => match lines.next() {
                    Some(source) => Some(source),
                    None => return error(400, "illegal_argument_exception", "no document"),
                },
                "delete" => None,
                other => {
                    return error(
                        400,
                        "illegal_argument_exception",
                        format!("the stand-in serves no bulk {other}"),
                    );
                }
            };
            actions.push((kind.clone(), target, id, source));
        }
        let mut items = Vec::new();
        for (kind, target, id, source) in actions {
            let (status, result) = match source {
                Some(source) => Self::index(state, &target, &id, source),
                None => match state.indices.get_mut(&target).and_then(|d| d.remove(&id)) {
                    Some(_) => (
                        200,
                        json!({"_index": target, "_id": id, "result": "deleted"}),
                    ),
                    None => (
                        404,
                        json!({"_index": target, "_id": id, "result": "not_found"}),
                    ),
                },
            };
            let mut result = result;
            result["status"] = json!(status);
            items.push(json!({ kind: result }));
        }
        (200, json!({"took": 0, "errors": false, "items": items}))
    }

    fn mget(&self, state: &State, index: Option<&str>, body: &[u8]) -> EngineAnswer {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(400, "parsing_exception", "the body is not JSON");
        };
        let mut wanted: Vec<(Option<String>, String)> = Vec::new();
        if let Some(docs) = request.get("docs").and_then(Value::as_array) {
            for doc in docs {
                let explicit = doc.get("_index").and_then(Value::as_str).map(str::to_owned);
                if explicit.is_some() && !self.allow_explicit_index {
                    return self.explicit_index_refused("multi get");
                }
                let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default();
                wanted.push((explicit, id.to_owned()));
            }
        }
        if let Some(ids) = request.get("ids").and_then(Value::as_array) {
            wanted.extend(
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(|id| (None, id.to_owned())),
            );
        }
        let mut docs = Vec::new();
        for (explicit, id) in wanted {
            let Some(name) = explicit.or(index.map(str::to_owned)) else {
                return error(
                    400,
                    "action_request_validation_exception",
                    "index is missing",
                );
            };
            let found = Self::concrete(state, &name).and_then(|c| {
                state
                    .indices
                    .get(&c)
                    .and_then(|d| d.get(&id))
                    .map(|d| (c, d))
            });
            docs.push(match found {
                Some((concrete, doc)) => {
                    json!({"_index": concrete, "_id": id, "found": true, "_source": doc.source})
                }
                None => json!({"_index": name, "_id": id, "found": false}),
            });
        }
        (200, json!({ "docs": docs }))
    }

    fn msearch(&self, state: &State, index: Option<&str>, body: &[u8]) -> EngineAnswer {
        let lines = match Self::ndjson(body) {
            Ok(lines) => lines,
            Err(answer) => return answer,
        };
        let mut responses = Vec::new();
        for pair in lines.chunks(2) {
            let header = &pair[0];
            let explicit = header.get("index").and_then(Value::as_str);
            if explicit.is_some() && !self.allow_explicit_index {
                return self.explicit_index_refused("multi search");
            }
            let Some(expression) = explicit.or(index) else {
                return error(
                    400,
                    "action_request_validation_exception",
                    "index is missing",
                );
            };
            let body = pair.get(1).map(Value::to_string).unwrap_or_default();
            let (status, mut answer) = Self::search(state, expression, "", body.as_bytes());
            answer["status"] = json!(status);
            responses.push(answer);
        }
        (200, json!({ "responses": responses }))
    }

    fn aliases(state: &mut State, body: &[u8]) -> EngineAnswer {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(400, "parsing_exception", "the body is not JSON");
        };
        for action in request
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(add) = action.get("add") {
                let (Some(index), Some(alias)) = (
                    add.get("index").and_then(Value::as_str),
                    add.get("alias").and_then(Value::as_str),
                ) else {
                    return error(
                        400,
                        "illegal_argument_exception",
                        "add needs index and alias",
                    );
                };
                if !state.indices.contains_key(index) {
                    return not_found_index(index);
                }
                state
                    .aliases
                    .entry(alias.to_owned())
                    .or_default()
                    .insert(index.to_owned());
            }
        }
        (200, json!({"acknowledged": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_with(docs: &[(&str, &str, &str)]) -> Engine {
        let engine = Engine::default();
        for (index, id, title) in docs {
            let body = json!({ "title": title }).to_string();
            let (status, _) =
                engine.serve("PUT", &format!("/{index}/_doc/{id}"), "", body.as_bytes());
            assert_eq!(status, 201);
        }
        engine
    }

    fn ids(answer: &EngineAnswer) -> Vec<String> {
        let mut ids: Vec<String> = answer.1["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{}/{}",
                    h["_index"].as_str().unwrap(),
                    h["_id"].as_str().unwrap()
                )
            })
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn paths_become_resources_literally_and_crooked_paths_are_refused() {
        let r = search_request("GET", "/t1.docs,t2.docs/_search").unwrap();
        assert_eq!(r.resource_path, "t1.docs,t2.docs/_search");
        assert_eq!(
            search_request("DELETE", "/t1.docs/_doc/a").unwrap().action,
            "es:ESHttpDelete"
        );
        assert_eq!(search_request("GET", "/").unwrap().resource_path, "");
        for crooked in [
            "/t1.docs//_search",
            "/t1.docs/./_search",
            "/t1.docs/_doc/%2e%2e",
            "/t1.docs/_doc/a%2fb",
            "t1.docs/_search",
        ] {
            assert!(search_request("GET", crooked).is_err(), "{crooked}");
        }
        assert!(search_request("TRACE", "/").is_err());
    }

    #[test]
    fn expressions_and_aliases_resolve_as_opensearch_resolves_them() {
        let engine = engine_with(&[
            ("t1.docs", "a", "red fox"),
            ("t10.docs", "b", "red hen"),
            ("t2.docs", "c", "red ant"),
        ]);
        let search = |path: &str| engine.serve("GET", path, "q=red", b"");
        assert_eq!(ids(&search("/_all/_search")).len(), 3);
        assert_eq!(ids(&search("/*/_search")).len(), 3);
        // The prefix without a delimiter reaches the other tenant's index;
        // with one, it does not. This is why IAM grants name `<id>.docs`.
        assert_eq!(ids(&search("/t1*/_search")), ["t1.docs/a", "t10.docs/b"]);
        assert_eq!(ids(&search("/t1.*/_search")), ["t1.docs/a"]);
        assert_eq!(
            ids(&search("/t1.docs,t2.docs/_search")),
            ["t1.docs/a", "t2.docs/c"]
        );
        let (status, _) = engine.serve("PUT", "/t2.docs/_alias/t1.view", "", b"");
        assert_eq!(status, 200);
        assert_eq!(ids(&search("/t1.view/_search")), ["t2.docs/c"]);
        assert_eq!(search("/missing/_search").0, 404);
        let (_, cat) = engine.serve("GET", "/_cat/indices", "", b"");
        assert_eq!(cat.as_array().unwrap().len(), 3);
    }

    #[test]
    fn multi_index_bodies_may_not_name_an_index() {
        let engine = engine_with(&[("t1.docs", "a", "fox"), ("t2.docs", "b", "secret")]);
        let bulk = "{\"index\":{\"_index\":\"t2.docs\",\"_id\":\"x\"}}\n{\"title\":\"planted\"}\n";
        let (status, body) = engine.serve("POST", "/t1.docs/_bulk", "", bulk.as_bytes());
        assert_eq!(status, 400, "{body}");
        let mget = r#"{"docs":[{"_index":"t2.docs","_id":"b"}]}"#;
        assert_eq!(
            engine
                .serve("POST", "/t1.docs/_mget", "", mget.as_bytes())
                .0,
            400
        );
        let msearch = "{\"index\":\"t2.docs\"}\n{\"query\":{\"match_all\":{}}}\n";
        assert_eq!(
            engine
                .serve("POST", "/t1.docs/_msearch", "", msearch.as_bytes())
                .0,
            400
        );
        // Nothing was written to t2.docs, and without explicit indices the
        // same APIs serve the path's index.
        assert_eq!(engine.serve("GET", "/t2.docs/_doc/x", "", b"").0, 404);
        let bulk = "{\"index\":{\"_id\":\"y\"}}\n{\"title\":\"own\"}\n";
        assert_eq!(
            engine
                .serve("POST", "/t1.docs/_bulk", "", bulk.as_bytes())
                .0,
            200
        );
        assert_eq!(engine.serve("GET", "/t1.docs/_doc/y", "", b"").0, 200);
        // A domain that allows explicit indices (not the template's) lets
        // the body reach the other index: the setting is what stops it.
        let loose = Engine::with_explicit_index(true);
        loose.serve("PUT", "/t2.docs/_doc/b", "", br#"{"title":"secret"}"#);
        let (status, body) = loose.serve("POST", "/t1.docs/_mget", "", mget.as_bytes());
        assert_eq!(
            (status, body["docs"][0]["found"].clone()),
            (200, json!(true))
        );
    }

    #[test]
    fn documents_are_written_read_searched_and_deleted() {
        let engine = Engine::default();
        assert_eq!(
            engine
                .serve("PUT", "/t1.docs/_doc/a", "", br#"{"t":"one two"}"#)
                .0,
            201
        );
        assert_eq!(
            engine
                .serve("PUT", "/t1.docs/_doc/a", "", br#"{"t":"two three"}"#)
                .0,
            200
        );
        let (status, body) = engine.serve("GET", "/t1.docs/_doc/a", "", b"");
        assert_eq!((status, body["_version"].clone()), (200, json!(2)));
        assert_eq!(
            ids(&engine.serve("GET", "/t1.docs/_search", "q=one", b"")).len(),
            0
        );
        assert_eq!(
            ids(&engine.serve("GET", "/t1.docs/_search", "q=t:thr*", b"")).len(),
            1
        );
        assert_eq!(engine.serve("DELETE", "/t1.docs/_doc/a", "", b"").0, 200);
        assert_eq!(engine.serve("DELETE", "/t1.docs/_doc/a", "", b"").0, 404);
        assert_eq!(engine.serve("PUT", "/T1/_doc/a", "", b"{}").0, 400);
        assert_eq!(engine.serve("PUT", "/t1.docs/_doc/a", "", b"[1]").0, 400);
        assert_eq!(engine.serve("GET", "/_nodes", "", b"").0, 400);
    }
}
