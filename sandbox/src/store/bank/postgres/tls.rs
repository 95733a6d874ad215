//! TLS on the ledger's database link, with rustls (on ring, the provider the rest of the
//! workspace links through reqwest).
//!
//! The URL says what it wants as libpq reads it: `sslmode` and `sslrootcert` in its query.
//!
//! - `disable`: no TLS.
//! - `require`: TLS, but the server's certificate is not checked (as in libpq): the link is
//!   encrypted and the server proves it holds the key of the certificate it shows, yet
//!   anyone on the path can show their own. Passive eavesdropping only.
//! - `verify-full`: TLS, the chain checked against `sslrootcert` (a PEM file), or the
//!   Mozilla roots without one, and the certificate must name the host.
//! - `prefer`: taken as `require`; a link that silently falls back to clear text is not
//!   offered.
//! - no `sslmode`: `disable` for a unix socket or a loopback host, refused for any other
//!   host, which must say which of the three it wants (so `sslmode=disable` there is an
//!   explicit choice).
//!
//! `verify-ca` and `sslrootcert` without `verify-full` are refused rather than half
//! honoured. Channel binding (SCRAM-SHA-256-PLUS) is not offered.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::store::StoreError;

/// What the URL asks of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    /// Encrypted, the certificate unchecked.
    Require,
    /// Encrypted to the host the certificate names, under `roots` (a PEM file; `None`:
    /// the Mozilla roots).
    VerifyFull {
        roots: Option<PathBuf>,
    },
}

/// A `postgres://` URL split into the driver's settings and the TLS it asks for. Holds
/// the password inside `config`: no `Debug`.
pub struct Link {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
}

/// Parses a `postgres://` URL: `sslmode` and `sslrootcert` are taken out of its query
/// (the driver knows neither `verify-full` nor `sslrootcert`), the rest goes to the
/// driver. Messages never repeat the URL, which may carry a password.
pub fn parse_link(url: &str) -> Result<Link, StoreError> {
    let bad = |m: &str| StoreError::Config(m.to_owned());
    // A key/value string would carry its own sslmode past the reading below.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad("a PostgreSQL database must be a postgres:// URL"));
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut sslmode = None;
    let mut rootcert = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = url::form_urlencoded::parse(pair.as_bytes())
            .next()
            .unwrap_or_default();
        match &*key {
            "sslmode" => sslmode = Some(value.into_owned()),
            "sslrootcert" => rootcert = Some(PathBuf::from(value.into_owned())),
            _ => rest.push(pair),
        }
    }
    let driver_url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config: tokio_postgres::Config = driver_url
        .parse()
        .map_err(|_| bad("not a valid PostgreSQL URL"))?;
    let tls = match (sslmode.as_deref(), rootcert) {
        (Some("disable"), None) => TlsMode::Disable,
        (Some("require" | "prefer"), None) => TlsMode::Require,
        (Some("verify-full"), roots) => TlsMode::VerifyFull { roots },
        (None, None) if is_local(&config) => TlsMode::Disable,
        (None, None) => {
            return Err(bad(
                "the database host is not on this machine: say how to reach it, \
                 sslmode=verify-full (with sslrootcert=CA.pem for a private CA), \
                 sslmode=require (encrypted, certificate unchecked), \
                 or sslmode=disable (in clear)",
            ));
        }
        (Some("verify-ca"), _) => {
            return Err(bad(
                "sslmode=verify-ca is not supported: use sslmode=verify-full",
            ));
        }
        (Some("disable" | "require" | "prefer") | None, Some(_)) => {
            return Err(bad(
                "sslrootcert is only used with sslmode=verify-full: add it, or drop sslrootcert",
            ));
        }
        (Some(_), _) => {
            return Err(bad(
                "sslmode must be disable, require, verify-full (or prefer, taken as require)",
            ));
        }
    };
    config.ssl_mode(match tls {
        TlsMode::Disable => SslMode::Disable,
        _ => SslMode::Require,
    });
    Ok(Link { config, tls })
}

/// Every host (and `hostaddr`) a unix socket or a loopback address: where a link in clear
/// never leaves the machine.
fn is_local(config: &tokio_postgres::Config) -> bool {
    let host_local = |host: &Host| match host {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    config.get_hosts().iter().all(host_local)
        && config.get_hostaddrs().iter().all(IpAddr::is_loopback)
}

/// The TLS connector for a link; with `Disable` the driver never calls it.
#[derive(Clone)]
pub struct MakeRustls {
    config: Option<Arc<ClientConfig>>,
}

impl MakeRustls {
    /// Builds the rustls client for `mode`, reading the CA file now so that a wrong path
    /// fails at start-up.
    pub fn new(mode: &TlsMode) -> Result<MakeRustls, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|err| StoreError::Config(format!("TLS setup: {err}")))
        };
        let config = match mode {
            TlsMode::Disable => return Ok(MakeRustls { config: None }),
            TlsMode::Require => builder()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth(),
            TlsMode::VerifyFull { roots } => builder()?
                .with_root_certificates(root_store(roots.as_ref())?)
                .with_no_client_auth(),
        };
        Ok(MakeRustls {
            config: Some(Arc::new(config)),
        })
    }
}

fn root_store(file: Option<&PathBuf>) -> Result<RootCertStore, StoreError> {
    let Some(file) = file else {
        return Ok(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        ));
    };
    let unreadable =
        |detail: String| StoreError::Config(format!("sslrootcert {}: {detail}", file.display()));
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|err| unreadable(err.to_string()))? {
        let cert = cert.map_err(|err| unreadable(err.to_string()))?;
        store.add(cert).map_err(|err| unreadable(err.to_string()))?;
    }
    if store.is_empty() {
        return Err(unreadable("no certificate in the file".into()));
    }
    Ok(store)
}

/// `sslmode=require`: any certificate is taken (libpq's meaning), but the handshake is
/// still signed by the key of the certificate shown, so the session keys are the server's.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        // The name is checked only when TLS is used: the driver asks for a connector for
        // every host, unix sockets included.
        Ok(RustlsConnect {
            config: self.config.clone(),
            domain: domain.to_owned(),
        })
    }
}

/// One connection's TLS handshake.
pub struct RustlsConnect {
    config: Option<Arc<ClientConfig>>,
    domain: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "TLS is disabled for this link")
            })?;
            let name = ServerName::try_from(self.domain)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS connection to the database.
pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> Result<TlsMode, String> {
        parse_link(url).map(|l| l.tls).map_err(|e| e.to_string())
    }

    #[test]
    fn sslmode_is_read_as_libpq_reads_it_and_a_remote_host_must_choose() {
        assert_eq!(mode("postgres://u@127.0.0.1/db"), Ok(TlsMode::Disable));
        assert_eq!(mode("postgres://u@localhost/db"), Ok(TlsMode::Disable));
        assert_eq!(mode("postgres://u@%2Frun%2Fpg/db"), Ok(TlsMode::Disable));
        assert_eq!(
            mode("postgres://u@db.example/db?sslmode=require&application_name=x"),
            Ok(TlsMode::Require)
        );
        assert_eq!(
            mode("postgres://u@db.example/db?sslmode=verify-full&sslrootcert=%2Fca.pem"),
            Ok(TlsMode::VerifyFull {
                roots: Some("/ca.pem".into())
            })
        );
        assert_eq!(
            mode("postgres://u@db.example/db?sslmode=disable"),
            Ok(TlsMode::Disable)
        );
        let refused = mode("postgres://u:s3cret@db.example/db").expect_err("refused");
        assert!(refused.contains("not on this machine"), "{refused}");
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(mode("postgres://u@db.example/db?sslmode=verify-ca").is_err());
        assert!(mode("postgres://u@db.example/db?sslmode=require&sslrootcert=ca.pem").is_err());
        assert!(mode("postgres://u@db.example/db?sslmode=bogus").is_err());
        assert!(mode("host=localhost sslmode=require").is_err());
        // The driver keeps the rest of the query.
        let link = parse_link("postgres://u@db.example/db?sslmode=require&application_name=x")
            .expect("link");
        assert_eq!(link.config.get_application_name(), Some("x"));
        assert_eq!(link.config.get_ssl_mode(), SslMode::Require);
    }
}
