//! Access keys and what they may do: an STS session from the local front's
//! record of it (its secret, role, session policy, tags and expiration, as
//! the front saw `AssumeRole` answer) and the seed's registry of deployed
//! roles; any other key (an IAM user's, or a session made around the front)
//! from moto's state (`/moto-api/data.json`).
//!
//! moto offers no lookup by access key, only its whole state, which grows
//! with every STS session. So the state is read into an index by access key
//! and kept: a key found in an index younger than [`STATE_TTL`] is answered
//! from it; a miss (a session created a moment ago) or an older index reads
//! the state again, one read at a time, and logins that waited for that read
//! use its result instead of reading again.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use local_iam::{RegistryFile, SessionRecord};
use serde_json::Value;

use crate::verify::{CredentialStore, Principal};

/// How long an index of moto's state answers for keys it holds: policy
/// changes (a role's policy removed) take effect within this.
pub const STATE_TTL: Duration = Duration::from_secs(2);

struct Index {
    read_at: Instant,
    principals: HashMap<String, Key>,
}

/// An access key as moto holds it.
#[derive(Debug, Clone)]
struct Key {
    arn: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// The role of an STS session.
    role_arn: Option<String>,
    /// moto's copy of the identity's inline policies.
    policies: Vec<Value>,
    /// The session policy moto kept, if any.
    session_policy: Option<Value>,
}

/// moto on a loopback port, the local front before it, and the registry of
/// deployed roles.
pub struct Moto {
    addr: SocketAddr,
    front: Option<SocketAddr>,
    registry: RegistryFile,
    index: Mutex<Option<Index>>,
    /// Held while reading moto's state: one read at a time.
    reading: Mutex<()>,
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moto")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Moto {
    /// moto at `addr`; sessions' records from the front at `front`, roles
    /// as deployed from the registry file at `registry`.
    pub fn new(addr: SocketAddr, front: Option<SocketAddr>, registry: Option<PathBuf>) -> Self {
        Moto {
            addr,
            front,
            registry: RegistryFile::new(registry),
            index: Mutex::new(None),
            reading: Mutex::new(()),
        }
    }

    /// The key from an index read after `since` and younger than
    /// [`STATE_TTL`], if there is one that holds the key.
    fn indexed(&self, key: &str, since: Option<Instant>) -> Option<Option<Key>> {
        let index = self.index.lock().expect("index lock poisoned");
        let index = index.as_ref()?;
        let fresh = index.read_at.elapsed() < STATE_TTL;
        match (index.principals.get(key), since) {
            (Some(p), _) if fresh => Some(Some(p.clone())),
            // Read after this login started waiting: its answer, hit or miss.
            (found, Some(since)) if index.read_at >= since => Some(found.cloned()),
            _ => None,
        }
    }

    fn state(&self) -> Result<Value, String> {
        let (status, body) = get(&format!("http://{}/moto-api/data.json", self.addr))?;
        if status != 200 {
            return Err(format!("moto: state answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("moto: {e}"))
    }

    /// The front's record of the session `key`, if it saw it made.
    fn record(&self, key: &str) -> Result<Option<SessionRecord>, String> {
        let Some(front) = self.front else {
            return Ok(None);
        };
        match get(&format!("http://{front}/__front/sessions/{key}"))? {
            (200, body) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| format!("front: {e}")),
            (404, _) => Ok(None),
            (status, _) => Err(format!("front: sessions answered {status}")),
        }
    }

    /// A session the front recorded: everything comes from the record (no
    /// read of moto's state), what it may do from its role as deployed with
    /// its session policy and tags.
    fn recorded(&self, record: SessionRecord) -> Principal {
        // A role the registry does not hold may do nothing here.
        let access = record.session(&self.registry).unwrap_or_default();
        Principal {
            expires_at: Some(record.expires_at()),
            arn: record.arn,
            secret_access_key: record.secret_access_key,
            session_token: Some(record.session_token),
            access,
        }
    }

    /// A key the front did not see made, from moto's state: a session is
    /// its role as deployed with moto's session policy; a user moto's copy
    /// of its policies.
    fn unrecorded(&self, key: Key) -> Principal {
        let literal = || local_iam::Session {
            policies: key.policies.clone(),
            session_policy: key.session_policy.clone(),
            boundary: None,
            tags: BTreeMap::new(),
            userid: None,
        };
        let access = match &key.role_arn {
            Some(role_arn) => self
                .registry
                .session(role_arn, key.session_policy.clone(), &BTreeMap::new())
                .unwrap_or_else(literal),
            None => literal(),
        };
        Principal {
            arn: key.arn,
            secret_access_key: key.secret_access_key,
            session_token: key.session_token,
            access,
            expires_at: None,
        }
    }
}

/// One GET over the tools' HTTP client: status and body.
fn get(url: &str) -> Result<(u16, Vec<u8>), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((response.status().as_u16(), body))
}

fn inline_policies(entity: &Value) -> Vec<Value> {
    entity["policies"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|v| serde_json::from_str(v.as_str()?).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn find<'a>(list: &'a Value, field: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|e| e[field].as_str() == Some(value))
}

impl CredentialStore for Moto {
    fn principal(&self, access_key_id: &str) -> Result<Option<Principal>, String> {
        if let Some(record) = self.record(access_key_id)? {
            return Ok(Some(self.recorded(record)));
        }
        let key = match self.indexed(access_key_id, None) {
            Some(found) => found,
            None => {
                let waiting_since = Instant::now();
                let _reading = self.reading.lock().expect("read lock poisoned");
                match self.indexed(access_key_id, Some(waiting_since)) {
                    Some(found) => found,
                    None => {
                        let read_at = Instant::now();
                        let principals = index(&self.state()?);
                        let found = principals.get(access_key_id).cloned();
                        *self.index.lock().expect("index lock poisoned") = Some(Index {
                            read_at,
                            principals,
                        });
                        found
                    }
                }
            }
        };
        Ok(key.map(|key| self.unrecorded(key)))
    }
}

/// Every access key in moto's state: STS sessions (with their role's
/// inline policies, as moto holds them) and IAM users' active keys.
///
/// moto lists an object from the moment it is allocated, so the state can
/// hold a session whose access key is set but whose secret or session token
/// is not yet: such a half-made session is left out, so looking its key up
/// misses and reads the state again.
fn index(state: &Value) -> HashMap<String, Key> {
    let iam = &state["iam"];
    let mut principals = HashMap::new();
    for session in state["sts"]["AssumedRole"].as_array().into_iter().flatten() {
        let complete = session["secret_access_key"].is_string()
            && session["session_token"].is_string()
            && session["arn"].is_string();
        let (Some(key), true) = (session["access_key_id"].as_str(), complete) else {
            continue;
        };
        let role_arn = session["role_arn"].as_str().unwrap_or_default();
        let policies = find(&iam["Role"], "arn", role_arn)
            .map(inline_policies)
            .unwrap_or_default();
        principals.insert(
            key.to_owned(),
            Key {
                arn: session["arn"].as_str().unwrap_or_default().to_owned(),
                secret_access_key: session["secret_access_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                session_token: session["session_token"].as_str().map(str::to_owned),
                role_arn: Some(role_arn.to_owned()),
                policies,
                session_policy: session["policy"]
                    .as_str()
                    .and_then(|p| serde_json::from_str(p).ok()),
            },
        );
    }
    for key in iam["AccessKey"].as_array().into_iter().flatten() {
        let (Some(id), Some("Active"), true) = (
            key["access_key_id"].as_str(),
            key["status"].as_str(),
            key["secret_access_key"].is_string(),
        ) else {
            continue;
        };
        let Some(user) = key["user_name"]
            .as_str()
            .and_then(|name| find(&iam["User"], "name", name))
        else {
            continue;
        };
        principals.insert(
            id.to_owned(),
            Key {
                arn: user["arn"].as_str().unwrap_or_default().to_owned(),
                secret_access_key: key["secret_access_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                session_token: None,
                role_arn: None,
                policies: inline_policies(user),
                session_policy: None,
            },
        );
    }
    principals
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session moto is still building (no token yet) is not indexed, so
    /// its key misses and the state is read again; a complete one is.
    #[test]
    fn half_made_sessions_are_left_out() {
        let state = serde_json::json!({
            "sts": {"AssumedRole": [
                {"access_key_id": "ASIAHALF", "secret_access_key": "s", "arn": "a", "role_arn": "r"},
                {"access_key_id": "ASIAWHOLE", "secret_access_key": "s", "session_token": "t", "arn": "a", "role_arn": "r"}
            ]},
            "iam": {"Role": [], "AccessKey": [], "User": []}
        });
        let principals = index(&state);
        assert!(!principals.contains_key("ASIAHALF"));
        assert_eq!(principals["ASIAWHOLE"].session_token.as_deref(), Some("t"));
    }
}
