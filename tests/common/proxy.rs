//! A tiny loopback TCP proxy in front of the bank API, for what a real network does to
//! clients: it records the requests that pass (so a test can see the exact bearer token the
//! CLI sent, e.g. to replay a step-up token) and, when armed, lets a request reach the
//! server and then drops the connection before the client sees the server's `201` — the
//! "did my transfer happen?" failure that idempotency keys exist for.
//!
//! It forwards bytes untouched. HTTP/1.1 without pipelining is strictly request → response,
//! so the first bytes read from the server after a request are the start of its answer;
//! that is where the proxy looks for `HTTP/1.1 201`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    /// `http://127.0.0.1:PORT`: use it as the CLI's `BANK_API_URL`.
    pub url: String,
    state: Arc<State>,
    /// `host:port` of the server, once known.
    upstream: Arc<OnceLock<String>>,
}

#[derive(Default)]
struct State {
    /// How many `201` answers are still to be swallowed.
    drop_created: AtomicUsize,
    dropped: AtomicUsize,
    /// Everything each connection sent to the server, in connection order.
    sent: Mutex<Vec<Vec<u8>>>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream` (`http://host:port`).
    pub fn start(rt: &tokio::runtime::Runtime, upstream: &str) -> Proxy {
        let proxy = Proxy::bind(rt);
        proxy.forward_to(upstream);
        proxy
    }

    /// Listens on `127.0.0.1:0` before the server exists, so that the server can be told
    /// its public URL (a DPoP proof names the URL the client addressed: the proxy's).
    /// Connections wait for [`Proxy::forward_to`].
    pub fn bind(rt: &tokio::runtime::Runtime) -> Proxy {
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("proxy binds");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let state = Arc::new(State::default());
        let upstream = Arc::new(OnceLock::<String>::new());
        let accept_state = state.clone();
        let accept_upstream = upstream.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = accept_state.clone();
                let upstream = accept_upstream.clone();
                tokio::spawn(async move {
                    while upstream.get().is_none() {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    if let Ok(server) = TcpStream::connect(upstream.get().expect("set")).await {
                        forward(client, server, state).await;
                    }
                });
            }
        });
        Proxy {
            url,
            state,
            upstream,
        }
    }

    /// Where connections go: `http://host:port`.
    pub fn forward_to(&self, upstream: &str) {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_owned();
        self.upstream
            .set(upstream)
            .expect("forward_to is called once");
    }

    /// The next `201` answer reaches this proxy but never the client: the connection is
    /// dropped instead.
    pub fn drop_next_created(&self) {
        self.drop_created(1);
    }

    /// The next `count` `201` answers are swallowed so.
    pub fn drop_created(&self, count: usize) {
        self.state.drop_created.store(count, Ordering::SeqCst);
    }

    /// How many answers were swallowed.
    pub fn dropped(&self) -> usize {
        self.state.dropped.load(Ordering::SeqCst)
    }

    /// The request lines (`GET /path?query HTTP/1.1`) that passed, in order.
    pub fn request_lines(&self) -> Vec<String> {
        let sent = self.state.sent.lock().expect("proxy log");
        sent.iter()
            .flat_map(|conn| {
                String::from_utf8_lossy(conn)
                    .split("\r\n")
                    .filter(|l| l.ends_with(" HTTP/1.1") && l.contains(" /"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The access tokens (`Bearer` or `DPoP` scheme) of the `POST /v1/transfers` requests
    /// that passed, in order.
    pub fn transfer_tokens(&self) -> Vec<String> {
        let sent = self.state.sent.lock().expect("proxy log");
        let mut tokens = Vec::new();
        for conn in sent.iter() {
            let text = String::from_utf8_lossy(conn);
            let mut in_transfer = false;
            for line in text.split("\r\n") {
                if line.starts_with("GET ") || line.starts_with("POST ") {
                    in_transfer = line.starts_with("POST /v1/transfers ");
                } else if in_transfer {
                    let lower = line.to_ascii_lowercase();
                    if let Some(prefix) = ["authorization: bearer ", "authorization: dpop "]
                        .into_iter()
                        .find(|p| lower.starts_with(p))
                    {
                        tokens.push(line[prefix.len()..].trim().to_owned());
                    }
                }
            }
        }
        tokens
    }
}

async fn forward(client: TcpStream, server: TcpStream, state: Arc<State>) {
    let index = {
        let mut sent = state.sent.lock().expect("proxy log");
        sent.push(Vec::new());
        sent.len() - 1
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = {
        let state = state.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = server_write.shutdown().await;
                        return;
                    }
                    Ok(n) => {
                        state.sent.lock().expect("proxy log")[index].extend_from_slice(&buf[..n]);
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if buf[..n].starts_with(b"HTTP/1.1 201")
                        && state
                            .drop_created
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                    {
                        state.dropped.fetch_add(1, Ordering::SeqCst);
                        // Returning drops both halves of the client's connection unanswered.
                        return;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::pin!(down);
    tokio::select! {
        () = &mut down => {}
        () = up => down.await,
    }
}
