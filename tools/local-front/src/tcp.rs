//! The TCP front before PostgreSQL.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the TCP front does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpMode {
    /// Pass bytes both ways.
    Pass,
    /// Hold every byte in both directions, keeping sockets open: to a
    /// client, the server has stopped answering (paused, or a half-open
    /// socket after a failover). Bytes flow again on [`TcpMode::Pass`].
    Pause,
    /// Close new connections at once, as a server that is down or
    /// restarting does.
    Refuse,
}

#[derive(Debug, Clone, Copy)]
struct State {
    mode: TcpMode,
    /// Bumped by [`TcpFront::reset`]: connections of an older generation close.
    generation: u64,
}

/// The TCP front: passes connections to `upstream`, and on command holds
/// their bytes, closes them all, or refuses new ones. TLS passes through
/// untouched. It runs on the current tokio runtime until dropped.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use local_front::{TcpFront, TcpMode};
///
/// let front = TcpFront::start("127.0.0.1:0".parse().unwrap(), "127.0.0.1:25432".parse().unwrap()).await?;
/// front.set_mode(TcpMode::Pause); // the database stops answering
/// front.set_mode(TcpMode::Pass);  // and comes back
/// front.reset();                  // every open connection is closed
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpFront {
    addr: SocketAddr,
    state: Arc<watch::Sender<State>>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpFront {
    /// Listen on `listen` (port 0 picks one) and pass connections to `upstream`.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(watch::Sender::new(State {
            mode: TcpMode::Pass,
            generation: 0,
        }));
        let accepted = Arc::new(AtomicU64::new(0));
        let (accept_state, counter) = (state.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let refused = accept_state.borrow().mode == TcpMode::Refuse;
                if refused {
                    drop(client);
                    continue;
                }
                counter.fetch_add(1, Ordering::Relaxed);
                let rx = accept_state.subscribe();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        relay(client, server, rx).await;
                    }
                });
            }
        });
        Ok(TcpFront {
            addr,
            state,
            accepted,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switch what happens to traffic from now on.
    pub fn set_mode(&self, mode: TcpMode) {
        self.state.send_modify(|s| s.mode = mode);
    }

    /// The current mode.
    pub fn mode(&self) -> TcpMode {
        self.state.borrow().mode
    }

    /// Close every open connection now (both sides see the socket close).
    pub fn reset(&self) {
        self.state.send_modify(|s| s.generation += 1);
    }

    /// How many connections it has accepted and passed on.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpFront {
    fn drop(&mut self) {
        self.task.abort();
        self.reset();
    }
}

async fn relay(client: TcpStream, server: TcpStream, state: watch::Receiver<State>) {
    let generation = state.borrow().generation;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = pump(client_read, server_write, state.clone(), generation) => {}
        _ = pump(server_read, client_write, state, generation) => {}
    }
    // Returning drops all four halves: both sockets close.
}

/// Copy bytes from `from` to `to`, holding them while paused, until either
/// side closes or the front is reset.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut state: watch::Receiver<State>,
    generation: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = reset(&mut state, generation) => return,
        };
        // Hold the bytes while paused; a reset still closes.
        let same_generation = state
            .wait_for(|s| s.generation != generation || s.mode != TcpMode::Pause)
            .await
            .map(|s| s.generation == generation)
            .unwrap_or(false);
        if !same_generation {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Resolves when the front is reset past `generation` (or dropped).
async fn reset(state: &mut watch::Receiver<State>, generation: u64) {
    let _ = state.wait_for(|s| s.generation != generation).await;
}
