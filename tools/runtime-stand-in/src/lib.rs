//! A minimal Lambda Runtime API (2018-06-01) stand-in: it hands a function
//! process its invocations one by one, each with the headers Lambda sends
//! (request id, deadline, and the tenant id under Lambda's tenant isolation
//! mode), and records what comes back and when. Once the queue is empty,
//! further `/next` polls are left waiting, as Lambda does between
//! invocations.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One invocation to hand over.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The event (an API Gateway event, as JSON text).
    pub event: String,
    /// `Lambda-Runtime-Aws-Tenant-Id`: what Lambda sends a function
    /// deployed with `TenancyConfig: PER_TENANT`.
    pub tenant_id: Option<String>,
}

impl Invocation {
    /// An invocation of `event` with no tenant id.
    pub fn new(event: impl Into<String>) -> Self {
        Invocation {
            event: event.into(),
            tenant_id: None,
        }
    }

    /// The same invocation, sent with `tenant_id` as Lambda's tenant id.
    pub fn with_tenant_id(mut self, tenant_id: &str) -> Self {
        self.tenant_id = Some(tenant_id.to_owned());
        self
    }
}

/// What came back for one invocation.
#[derive(Debug)]
pub struct Outcome {
    /// When it came back.
    pub at: Instant,
    /// The response's `statusCode`, for a response.
    pub status: Option<u16>,
    /// The whole response (`/response`), parsed.
    pub response: Option<Value>,
    /// The body of an `/error` report.
    pub error: Option<String>,
}

/// The stand-in, serving on an ephemeral loopback port.
pub struct RuntimeApi {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub addr: String,
    outcomes: Receiver<Outcome>,
}

impl RuntimeApi {
    /// Serve `invocations`, in order.
    pub fn start(invocations: Vec<Invocation>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let (tx, rx) = channel();
        let queue = Arc::new(Mutex::new(VecDeque::from(invocations)));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tx, queue) = (tx.clone(), queue.clone());
                std::thread::spawn(move || connection(stream, &queue, &tx));
            }
        });
        Ok(RuntimeApi { addr, outcomes: rx })
    }

    /// The variables Lambda gives function `name`'s process, pointing at
    /// this stand-in: `AWS_LAMBDA_RUNTIME_API` and the function's name,
    /// version and memory size.
    pub fn lambda_env(&self, name: &str) -> [(&'static str, String); 4] {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ]
    }

    /// A command running `binary` as Lambda runs function `name` against
    /// this stand-in ([`lambda_env`](Self::lambda_env) set; add the
    /// function's own variables to it).
    pub fn function(
        &self,
        binary: impl AsRef<std::ffi::OsStr>,
        name: &str,
    ) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command.envs(self.lambda_env(name));
        command
    }

    /// Wait for the next answer.
    pub fn outcome(&self, timeout: Duration) -> Option<Outcome> {
        self.outcomes.recv_timeout(timeout).ok()
    }

    /// Wait for up to `n` answers, each within `timeout`; fewer when one
    /// does not come in time.
    pub fn outcomes(&self, n: usize, timeout: Duration) -> Vec<Outcome> {
        (0..n).map_while(|_| self.outcome(timeout)).collect()
    }
}

fn connection(stream: TcpStream, queue: &Mutex<VecDeque<Invocation>>, tx: &Sender<Outcome>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut served = 0u32;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if path.ends_with("/invocation/next") {
            let next = queue.lock().expect("lock").pop_front();
            let Some(invocation) = next else {
                // Park the poll, as Lambda does between invocations.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            };
            served += 1;
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            let tenant = invocation
                .tenant_id
                .map(|id| format!("Lambda-Runtime-Aws-Tenant-Id: {id}\r\n"))
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: stand-in-{served}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:stand-in\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                 {tenant}Content-Length: {}\r\n\r\n",
                invocation.event.len()
            );
            if writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(invocation.event.as_bytes()))
                .is_err()
            {
                return;
            }
        } else {
            let at = Instant::now();
            let outcome = if path.ends_with("/response") {
                let response = serde_json::from_slice::<Value>(&body).ok();
                Outcome {
                    at,
                    status: response
                        .as_ref()
                        .and_then(|v| v["statusCode"].as_u64())
                        .map(|s| s as u16),
                    response,
                    error: None,
                }
            } else {
                Outcome {
                    at,
                    status: None,
                    response: None,
                    error: Some(String::from_utf8_lossy(&body).into_owned()),
                }
            };
            let _ = tx.send(outcome);
            let _ = writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}");
        }
    }
}
