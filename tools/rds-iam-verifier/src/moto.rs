//! Access keys and policies from moto's state (`/moto-api/data.json`).
//!
//! moto offers no lookup by access key, only its whole state, which grows
//! with every STS session. So the state is read into an index by access key
//! and kept: a key found in an index younger than [`STATE_TTL`] is answered
//! from it; a miss (a session created a moment ago) or an older index reads
//! the state again, one read at a time, and logins that waited for that read
//! use its result instead of reading again.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::verify::{CredentialStore, Principal};

/// How long an index of moto's state answers for keys it holds: policy
/// changes (a role's policy removed) take effect within this.
pub const STATE_TTL: Duration = Duration::from_secs(2);

struct Index {
    read_at: Instant,
    principals: HashMap<String, Principal>,
}

/// moto on a loopback port.
pub struct Moto {
    addr: SocketAddr,
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
    /// moto at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Moto {
            addr,
            index: Mutex::new(None),
            reading: Mutex::new(()),
        }
    }

    /// The principal for `key` from an index read after `since` and younger
    /// than [`STATE_TTL`], if there is one that holds the key.
    fn indexed(&self, key: &str, since: Option<Instant>) -> Option<Option<Principal>> {
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
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| format!("moto: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        // HTTP/1.0: the server closes after the body, no chunking.
        write!(
            stream,
            "GET /moto-api/data.json HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.addr
        )
        .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| e.to_string())?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("moto: no HTTP body")?;
        serde_json::from_slice(&response[split + 4..]).map_err(|e| format!("moto: {e}"))
    }
}

fn inline_policies(entity: &Value) -> Vec<String> {
    entity["policies"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|v| v.as_str().map(str::to_owned))
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
        if let Some(found) = self.indexed(access_key_id, None) {
            return Ok(found);
        }
        let waiting_since = Instant::now();
        let _reading = self.reading.lock().expect("read lock poisoned");
        if let Some(found) = self.indexed(access_key_id, Some(waiting_since)) {
            return Ok(found);
        }
        let read_at = Instant::now();
        let principals = index(&self.state()?);
        let found = principals.get(access_key_id).cloned();
        *self.index.lock().expect("index lock poisoned") = Some(Index {
            read_at,
            principals,
        });
        Ok(found)
    }
}

/// Every access key in moto's state with its principal: STS sessions (with
/// their role's inline policies) and IAM users' active keys.
///
/// moto lists an object from the moment it is allocated, so the state can
/// hold a session whose access key is set but whose secret or session token
/// is not yet: such a half-made session is left out, so looking its key up
/// misses and reads the state again.
fn index(state: &Value) -> HashMap<String, Principal> {
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
            Principal {
                arn: session["arn"].as_str().unwrap_or_default().to_owned(),
                secret_access_key: session["secret_access_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                session_token: session["session_token"].as_str().map(str::to_owned),
                policies,
                session_policy: session["policy"].as_str().map(str::to_owned),
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
            Principal {
                arn: user["arn"].as_str().unwrap_or_default().to_owned(),
                secret_access_key: key["secret_access_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                session_token: None,
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
