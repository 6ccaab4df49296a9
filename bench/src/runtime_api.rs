//! A minimal Lambda Runtime API (2018-06-01) for cold-start measurement: it
//! hands one event to the function process and records when the response
//! comes back. Further `/next` polls are left waiting, as Lambda does
//! between invocations.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What came back for the one invocation.
pub struct Outcome {
    pub at: Instant,
    pub status: Option<u16>,
    pub error: Option<String>,
}

pub struct RuntimeApi {
    pub addr: String,
    outcomes: std::sync::mpsc::Receiver<Outcome>,
}

impl RuntimeApi {
    /// Serve `event` once on an ephemeral loopback port.
    pub fn start(event: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let (tx, rx) = channel();
        let delivered = Arc::new(Mutex::new(false));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tx, event, delivered) = (tx.clone(), event.clone(), delivered.clone());
                std::thread::spawn(move || connection(stream, &event, &delivered, &tx));
            }
        });
        Ok(RuntimeApi { addr, outcomes: rx })
    }

    /// Wait for the function's answer.
    pub fn outcome(&self, timeout: Duration) -> Option<Outcome> {
        self.outcomes.recv_timeout(timeout).ok()
    }
}

fn connection(stream: TcpStream, event: &str, delivered: &Mutex<bool>, tx: &Sender<Outcome>) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
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
            let first = {
                let mut d = delivered.lock().expect("lock");
                !std::mem::replace(&mut *d, true)
            };
            if !first {
                // Park the poll: the process is killed after the measurement.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: bench-cold-1\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                 Content-Length: {}\r\n\r\n",
                event.len()
            );
            if writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(event.as_bytes()))
                .is_err()
            {
                return;
            }
        } else {
            let at = Instant::now();
            let outcome = if path.ends_with("/response") {
                let status = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["statusCode"].as_u64())
                    .map(|s| s as u16);
                Outcome {
                    at,
                    status,
                    error: None,
                }
            } else {
                Outcome {
                    at,
                    status: None,
                    error: Some(String::from_utf8_lossy(&body).into_owned()),
                }
            };
            let _ = tx.send(outcome);
            let _ = writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}");
        }
    }
}
