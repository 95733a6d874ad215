//! Which URLs may carry a token, a code or a discovery document: https, and plain http only
//! to this machine (127.0.0.0/8, ::1, `localhost`). RFC 6749 §3.1 and §10.9 require TLS for
//! the endpoints; RFC 8252 §8.3 keeps loopback for the native-app redirect, and the sandbox
//! lives there too. Both the CLI (its settings, every URL from discovery) and the bank API
//! (its issuer and the issuer's JWKS) apply this one rule.

use url::{Host, Url};

/// Why a URL is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsecureUrl {
    #[error("not a URL ({0})")]
    NotAUrl(String),
    #[error("must be an https URL (http only for a loopback address)")]
    Scheme,
    #[error(
        "must use https: plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost)"
    )]
    PlainHttp,
}

/// Whether `host` is this machine.
pub fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

/// https anywhere; http only to a loopback host; nothing else.
pub fn check(url: &Url) -> Result<(), InsecureUrl> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host().as_ref().is_some_and(is_loopback) => Ok(()),
        "http" => Err(InsecureUrl::PlainHttp),
        _ => Err(InsecureUrl::Scheme),
    }
}

/// [`check`] for a URL still in text form.
pub fn check_str(url: &str) -> Result<Url, InsecureUrl> {
    let parsed = Url::parse(url).map_err(|e| InsecureUrl::NotAUrl(e.to_string()))?;
    check(&parsed)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://bank.example.com",
            "https://tenant.auth0.com/",
            "http://127.0.0.1:8400",
            "http://127.8.9.10/x",
            "http://[::1]:8401",
            "http://localhost:8400",
            "http://LOCALHOST",
        ] {
            assert_eq!(check_str(ok).map(drop), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://bank.example.com", InsecureUrl::PlainHttp),
            ("http://idp.example.test/", InsecureUrl::PlainHttp),
            ("http://10.0.0.1", InsecureUrl::PlainHttp),
            ("http://127.0.0.1.example.com", InsecureUrl::PlainHttp),
            ("http://localhost.example.com", InsecureUrl::PlainHttp),
            ("http://[::2]", InsecureUrl::PlainHttp),
            ("ftp://127.0.0.1", InsecureUrl::Scheme),
            ("file:///etc/passwd", InsecureUrl::Scheme),
        ] {
            assert_eq!(check_str(bad).map(drop), Err(why), "{bad}");
        }
        assert!(matches!(check_str("bank"), Err(InsecureUrl::NotAUrl(_))));
    }
}
