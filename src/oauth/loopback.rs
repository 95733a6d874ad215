//! The loopback redirect listener of RFC 8252 §7.3: where the browser delivers the code.
//!
//! It binds `127.0.0.1` only (never `0.0.0.0`: nothing off this machine may deliver a code),
//! on an ephemeral port unless the profile needs a fixed one, and derives the `redirect_uri`
//! from the port it actually got. It answers exactly one `GET /callback`: `state` is compared
//! first and in constant time (RFC 6749 §10.12), then an RFC 6749 §4.1.2.1 error or the code
//! is taken. Anything else (a favicon request, a probe) gets a 404 and the wait goes on. A
//! `/callback` with the wrong or no `state` is not the login we started: it gets an error
//! page, the caller is told (so the person learns that something knocked), and the wait goes
//! on — any local process can send one, and it must not be able to end the login. The
//! browser tab always gets a small page saying what happened and that it can be closed.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oauth2::{AuthorizationCode, CsrfToken};
use subtle::ConstantTimeEq;
use tiny_http::{Header, Request, Response, Server};

#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    #[error("port {port} on 127.0.0.1 is already in use")]
    PortBusy {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    #[error("the loopback listener failed")]
    Server(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What arrived on `/callback`. `iss` is the RFC 9207 issuer identifier, when the
/// authorization server sent one; the caller checks it against the issuer it started with.
#[derive(Debug)]
pub enum Callback {
    Code {
        code: AuthorizationCode,
        iss: Option<String>,
    },
    /// RFC 6749 §4.1.2.1 error response (with a matching `state`).
    Error {
        error: String,
        description: Option<String>,
        iss: Option<String>,
    },
    TimedOut,
    Cancelled,
}

/// What the sign-in was for, so that the browser's last page says what happened: "Logged
/// in" after a login, never after a step-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    Login,
    /// A step-up; with the payment it approves ("Pay bob 25.00 USD"), when it is bound to one.
    StepUp(Option<String>),
}

impl Purpose {
    /// What an authorization asks for says which it is: a step-up (a payment, money moving,
    /// or an RFC 9470 challenge's strength) is not a login.
    pub(super) fn of(params: &super::AuthParams) -> Purpose {
        let moves_money = params
            .scopes
            .iter()
            .any(|s| s == bank_protocol::scopes::TRANSFER_FUNDS);
        match &params.authorization_details {
            Some(approval) => Purpose::StepUp(Some(match approval.reference() {
                Some(reference) => format!("{} (reference {reference})", approval.summary()),
                None => approval.summary(),
            })),
            None if moves_money || !params.acr_values.is_empty() => Purpose::StepUp(None),
            None => Purpose::Login,
        }
    }
}

/// A bound listener waiting for one redirect.
pub struct Listener {
    server: Server,
    port: u16,
}

impl Listener {
    /// Binds `127.0.0.1:port` (0 = ephemeral).
    pub fn bind(port: Option<u16>) -> Result<Listener, LoopbackError> {
        let requested = port.unwrap_or(0);
        let tcp =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, requested))).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    LoopbackError::PortBusy {
                        port: requested,
                        source: e,
                    }
                } else {
                    LoopbackError::Bind(e)
                }
            })?;
        let port = tcp.local_addr().map_err(LoopbackError::Bind)?.port();
        let server = Server::from_listener(tcp, None).map_err(LoopbackError::Server)?;
        Ok(Listener { server, port })
    }

    /// `http://127.0.0.1:PORT/callback` — the IP literal, not `localhost` (RFC 8252 §8.3).
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// Blocks until the callback arrives, `timeout` passes or `cancel` is set. A callback
    /// whose `state` does not match is refused and reported to `refused`, and the wait goes
    /// on.
    pub fn wait(
        &self,
        state: &CsrfToken,
        purpose: &Purpose,
        timeout: Duration,
        cancel: &Arc<AtomicBool>,
        refused: &dyn Fn(),
    ) -> Callback {
        let deadline = Instant::now() + timeout;
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Callback::Cancelled;
            }
            let now = Instant::now();
            if now >= deadline {
                return Callback::TimedOut;
            }
            // A short poll so Ctrl-C and the deadline are noticed promptly.
            let slice = (deadline - now).min(Duration::from_millis(200));
            let request = match self.server.recv_timeout(slice) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(_) => continue,
            };
            match handle(request, state, purpose) {
                Handled::Done(outcome) => return outcome,
                Handled::WrongState => refused(),
                Handled::NotTheCallback => {}
            }
        }
    }
}

/// What one request meant.
enum Handled {
    Done(Callback),
    /// A `/callback` without this login's `state` (possible CSRF, RFC 6749 §10.12).
    WrongState,
    /// A favicon, a probe, garbage: not for us.
    NotTheCallback,
}

/// Answers one request.
fn handle(request: Request, state: &CsrfToken, purpose: &Purpose) -> Handled {
    let url = match url::Url::parse(&format!("http://127.0.0.1{}", request.url())) {
        Ok(u) => u,
        Err(_) => {
            let _ = request.respond(Response::empty(400));
            return Handled::NotTheCallback;
        }
    };
    if url.path() != "/callback" || *request.method() != tiny_http::Method::Get {
        let _ = request.respond(page(
            404,
            "Not found",
            "This address only receives the login redirect for bank.",
        ));
        return Handled::NotTheCallback;
    }
    let mut got_state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "iss" => iss = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            // Whoever sent the redirect wrote this; it may not act on the terminal.
            "error_description" => {
                description = Some(bank_protocol::text::escape_hidden(&v, &[]).into_owned())
            }
            _ => {}
        }
    }
    // State first: an attacker's redirect (CSRF, RFC 6749 §10.12) must not even get its
    // error message shown as ours.
    let state_ok = got_state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(state.secret().as_bytes())));
    if !state_ok {
        let _ = request.respond(page(
            400,
            "Login failed",
            "This response does not belong to the login bank started (the state parameter does not match), so it was refused. If you are signing in, finish in the tab bank opened.",
        ));
        return Handled::WrongState;
    }
    if let Some(error) = error {
        let (title, body) = match purpose {
            Purpose::Login => (
                "Login not completed",
                "The authorization server did not grant access. You can close this tab and return to the terminal.",
            ),
            Purpose::StepUp(_) => (
                "Not approved",
                "The authorization server did not approve it, so nothing was done. You can close this tab and return to the terminal.",
            ),
        };
        let _ = request.respond(page(200, title, body));
        return Handled::Done(Callback::Error {
            error,
            description,
            iss,
        });
    }
    match code {
        Some(code) => {
            let (title, body) = match purpose {
                Purpose::Login => (
                    "Logged in".to_owned(),
                    "You are logged in to bank. You can close this tab and return to the terminal."
                        .to_owned(),
                ),
                Purpose::StepUp(Some(payment)) => (
                    "Payment approved".to_owned(),
                    format!(
                        "You approved: {}. Return to your terminal, where bank makes the payment and shows the result. You can close this tab.",
                        escape(payment)
                    ),
                ),
                Purpose::StepUp(None) => (
                    "Approved".to_owned(),
                    "Return to your terminal, where bank finishes what it asked for. You can close this tab."
                        .to_owned(),
                ),
            };
            let _ = request.respond(page(200, &title, &body));
            Handled::Done(Callback::Code {
                code: AuthorizationCode::new(code),
                iss,
            })
        }
        None => {
            let _ = request.respond(page(
                400,
                "Login failed",
                "The redirect carried no authorization code.",
            ));
            Handled::Done(Callback::Error {
                error: "invalid_request".into(),
                description: Some("the redirect carried neither a code nor an error".into()),
                iss,
            })
        }
    }
}

/// Text from elsewhere (the payment's words) as HTML text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: u16, title: &str, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · bank</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}\
         h1{{font-size:1.4rem}}</style></head><body><h1>{title}</h1><p>{body}</p></body></html>"
    );
    let mut response = Response::from_string(html).with_status_code(status);
    for (name, value) in [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_in_background(
        listener: Listener,
        state: CsrfToken,
    ) -> std::thread::JoinHandle<Callback> {
        let cancel = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            listener.wait(
                &state,
                &Purpose::Login,
                Duration::from_secs(30),
                &cancel,
                &|| {},
            )
        })
    }

    fn get(url: &str) -> u16 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            reqwest::get(url)
                .await
                .expect("loopback answers")
                .status()
                .as_u16()
        })
    }

    #[test]
    fn ignores_other_paths_then_accepts_the_callback() {
        let listener = Listener::bind(None).expect("bind");
        let base = listener.redirect_uri().replace("/callback", "");
        let waiter = wait_in_background(listener, CsrfToken::new("s1".into()));
        assert_eq!(get(&format!("{base}/favicon.ico")), 404);
        assert_eq!(get(&format!("{base}/callback?code=abc&state=s1")), 200);
        match waiter.join().expect("no panic") {
            Callback::Code { code, iss } => {
                assert_eq!(code.secret(), "abc");
                assert_eq!(iss, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_state_is_refused_and_the_wait_goes_on() {
        let listener = Listener::bind(None).expect("bind");
        let uri = listener.redirect_uri();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let cancel = Arc::new(AtomicBool::new(false));
            let state = CsrfToken::new("good".into());
            listener.wait(
                &state,
                &Purpose::Login,
                Duration::from_secs(30),
                &cancel,
                &|| tx.send(()).expect("the test listens"),
            )
        });
        // State first: an attacker's error response is refused before it is read.
        assert_eq!(get(&format!("{uri}?error=access_denied&state=evil")), 400);
        assert_eq!(get(&format!("{uri}?code=stolen")), 400);
        rx.recv_timeout(Duration::from_secs(10)).expect("reported");
        rx.recv_timeout(Duration::from_secs(10)).expect("reported");
        // The real callback still gets through.
        assert_eq!(get(&format!("{uri}?code=real&state=good")), 200);
        match waiter.join().expect("no panic") {
            Callback::Code { code, .. } => assert_eq!(code.secret(), "real"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn error_responses_are_reported() {
        let listener = Listener::bind(None).expect("bind");
        let uri = listener.redirect_uri();
        let waiter = wait_in_background(listener, CsrfToken::new("s".into()));
        assert_eq!(
            get(&format!(
                "{uri}?error=access_denied&error_description=no%20way&state=s"
            )),
            200
        );
        match waiter.join().expect("no panic") {
            Callback::Error {
                error, description, ..
            } => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("no way"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn after_a_step_up_the_page_says_what_was_approved() {
        let listener = Listener::bind(None).expect("bind");
        let uri = listener.redirect_uri();
        let purpose = Purpose::StepUp(Some("Pay bob 25.00 USD".into()));
        let waiter = std::thread::spawn(move || {
            let cancel = Arc::new(AtomicBool::new(false));
            let state = CsrfToken::new("s".into());
            listener.wait(&state, &purpose, Duration::from_secs(30), &cancel, &|| {})
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let page = rt.block_on(async {
            reqwest::get(format!("{uri}?code=c&state=s"))
                .await
                .expect("loopback answers")
                .text()
                .await
                .expect("a page")
        });
        assert!(page.contains("<h1>Payment approved</h1>"), "{page}");
        assert!(page.contains("You approved: Pay bob 25.00 USD."), "{page}");
        assert!(page.contains("Return to your terminal"), "{page}");
        assert!(!page.contains("logged in"), "{page}");
        assert!(matches!(
            waiter.join().expect("no panic"),
            Callback::Code { .. }
        ));
    }

    #[test]
    fn the_purpose_names_the_payment_or_the_batch_and_its_reference() {
        use bank_protocol::{Approval, BatchOrder, TransferOrder};
        let order = |to: &str| TransferOrder::new(to, "2", "USD", None, 100_000).expect("order");
        let with = |approval: Approval| crate::oauth::AuthParams {
            authorization_details: Some(approval),
            ..Default::default()
        };
        assert_eq!(
            Purpose::of(&with(Approval::for_order(&order("bob"), None))),
            Purpose::StepUp(Some("Pay bob 2.00 USD".into()))
        );
        let batch = BatchOrder::new(vec![order("bob"), order("carol")], 10).expect("batch");
        let types = [bank_protocol::PAYMENT_INITIATION.to_owned()];
        let approval = Approval::for_batch(&batch, None, &types, 5).expect("listed");
        assert_eq!(
            Purpose::of(&with(approval)),
            Purpose::StepUp(Some(format!(
                "Pay 2 payments, 4.00 USD in total, to 2 payees (reference {})",
                batch.reference()
            )))
        );
        assert_eq!(
            Purpose::of(&crate::oauth::AuthParams::default()),
            Purpose::Login
        );
    }

    #[test]
    fn busy_port_is_a_clear_error() {
        let first = Listener::bind(None).expect("bind");
        let err = Listener::bind(Some(first.port))
            .err()
            .expect("second bind fails");
        assert!(matches!(err, LoopbackError::PortBusy { port, .. } if port == first.port));
    }

    #[test]
    fn listens_on_127_0_0_1_only() {
        let listener = Listener::bind(None).expect("bind");
        let bound = listener
            .server
            .server_addr()
            .to_ip()
            .expect("a TCP listener");
        assert_eq!(
            bound,
            SocketAddr::from((Ipv4Addr::LOCALHOST, listener.port))
        );
        // The address says what the socket was bound to; connecting says who can reach it.
        // All of 127.0.0.0/8 reaches this host (on Linux), so a listener on 0.0.0.0 or on
        // `[::]` would also answer 127.0.0.2; one on 127.0.0.1 must not.
        let timeout = Duration::from_secs(5);
        let other = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), listener.port));
        assert!(
            std::net::TcpStream::connect_timeout(&other, timeout).is_err(),
            "{other} reached the loopback listener"
        );
        std::net::TcpStream::connect_timeout(&bound, timeout).expect("127.0.0.1 reaches it");
    }

    #[test]
    fn times_out_and_cancels() {
        let listener = Listener::bind(None).expect("bind");
        let cancel = Arc::new(AtomicBool::new(false));
        let state = CsrfToken::new("s".into());
        assert!(matches!(
            listener.wait(
                &state,
                &Purpose::Login,
                Duration::from_millis(10),
                &cancel,
                &|| {}
            ),
            Callback::TimedOut
        ));
        cancel.store(true, Ordering::SeqCst);
        assert!(matches!(
            listener.wait(
                &state,
                &Purpose::Login,
                Duration::from_secs(30),
                &cancel,
                &|| {}
            ),
            Callback::Cancelled
        ));
    }
}
