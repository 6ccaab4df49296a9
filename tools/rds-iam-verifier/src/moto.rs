//! Access keys and policies from moto's state (`/moto-api/data.json`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::verify::{CredentialStore, Principal};

/// moto on a loopback port.
#[derive(Debug, Clone)]
pub struct Moto {
    /// Address of the moto server.
    pub addr: SocketAddr,
}

impl Moto {
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
        let state = self.state()?;
        let iam = &state["iam"];
        if let Some(session) = find(&state["sts"]["AssumedRole"], "access_key_id", access_key_id) {
            let role_arn = session["role_arn"].as_str().unwrap_or_default();
            let policies = find(&iam["Role"], "arn", role_arn)
                .map(inline_policies)
                .unwrap_or_default();
            return Ok(Some(Principal {
                arn: session["arn"].as_str().unwrap_or_default().to_owned(),
                secret_access_key: session["secret_access_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                session_token: session["session_token"].as_str().map(str::to_owned),
                policies,
                session_policy: session["policy"].as_str().map(str::to_owned),
            }));
        }
        let Some(key) = find(&iam["AccessKey"], "access_key_id", access_key_id) else {
            return Ok(None);
        };
        if key["status"].as_str() != Some("Active") {
            return Ok(None);
        }
        let Some(user) = key["user_name"]
            .as_str()
            .and_then(|name| find(&iam["User"], "name", name))
        else {
            return Ok(None);
        };
        Ok(Some(Principal {
            arn: user["arn"].as_str().unwrap_or_default().to_owned(),
            secret_access_key: key["secret_access_key"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            session_token: None,
            policies: inline_policies(user),
            session_policy: None,
        }))
    }
}
