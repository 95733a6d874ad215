//! Who is calling, and is their token good enough: token validation and the step-up policy.
//!
//! [`TokenVerifier::verify`] is the one function every request's token goes through; a
//! bounded cache of verified tokens (`token_cache`) sits in front of the signature check,
//! never in front of the time checks. Full verification applies RFC 9068 §4 and RFC 8725: a size cap before parsing, `typ` of `at+jwt` (or
//! `JWT`, which Auth0 and Keycloak use), no key named by the token itself (`jku`, `x5u`,
//! `jwk`, `x5c`), an allow-list of asymmetric algorithms where the key's algorithm must be
//! the header's, then signature, `iss` (exact string), `aud` (contains our identifier),
//! `exp`/`nbf`/`iat` with bounded leeway. The extractors put that in handler signatures:
//! [`ValidatedClaims`], [`RequireScope`], and [`TransferToken`] (whose `authorize` is the
//! scope and the assurance policy of `assurance`).

use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use super::assurance::{Evidence, MFA_ACR, StepUpPolicy};
use super::jwks::{ALLOWED_ALGORITHMS, KeyCache, KeyLookupError};
pub use super::require::{
    RequireScope, ScopeName, TransferFunds, TransferToken, ValidatedClaims, ViewBalance,
};
use super::token_cache::{CachedToken, TokenCacheStats, TokenDigest, VerifiedTokenCache};
use crate::error::ApiError;

/// Tokens larger than this are refused before any parsing (DoS guard; real access tokens
/// are a few hundred bytes to 2 KB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Scope needed to read the balance and history.
pub const SCOPE_VIEW_BALANCE: &str = "view:balance";
/// Scope needed to move money.
pub const SCOPE_TRANSFER_FUNDS: &str = "transfer:funds";

/// JWS header parameters that point at or embed a key: honouring any of them would let the
/// token choose the key that verifies it (RFC 8725 §3.10), so their presence is refused.
const KEY_BEARING_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// What a verified access token says about its caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Claims {
    pub issuer: String,
    pub sub: String,
    pub scopes: Vec<String>,
    /// The single-use identifier: `jti`, or `sha256:<digest of the token>` when the issuer
    /// emits no `jti` (the token itself is then what is spent).
    pub token_id: String,
    pub jti: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub client_id: Option<String>,
    pub preferred_username: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    /// The issuer says it checked that `email` belongs to the user.
    pub email_verified: bool,
    /// What this token's step-up approved (RFC 9396 `payment_initiation`s or one
    /// `payment_batch`), if it is bound to payments.
    pub approval: Option<bank_protocol::Approval>,
    /// `cnf.jkt` (RFC 9449 §6.1): the DPoP key the token is bound to. Such a token is
    /// accepted only with a proof by that key, on every request.
    pub dpop_jkt: Option<String>,
}

impl std::fmt::Debug for Claims {
    // The token itself is never kept; its identifiers are not secrets, but there is no
    // reason for them to spread through logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("sub", &self.sub)
            .field("scopes", &self.scopes)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .finish_non_exhaustive()
    }
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

pub use crate::clock::Clock;

/// Verifies access tokens for one issuer and one audience.
#[derive(Debug)]
pub struct TokenVerifier {
    issuer: String,
    audience: String,
    leeway_secs: u64,
    keys: KeyCache,
    clock: Clock,
    cache: VerifiedTokenCache,
    /// Most payments a `payment_batch` detail may count (`[api] max_batch_payments`).
    max_batch_payments: usize,
}

impl TokenVerifier {
    /// A verifier without a verified-token cache (see [`TokenVerifier::with_cache`]).
    pub fn new(
        issuer: String,
        audience: String,
        leeway_secs: u64,
        keys: KeyCache,
        clock: Clock,
    ) -> Self {
        TokenVerifier {
            issuer,
            audience,
            leeway_secs,
            keys,
            clock,
            cache: VerifiedTokenCache::new(0),
            max_batch_payments: bank_protocol::DEFAULT_MAX_BATCH_PAYMENTS,
        }
    }

    /// Tokens approving a batch of more than `max` payments are refused as malformed.
    pub fn with_max_batch_payments(mut self, max: usize) -> Self {
        self.max_batch_payments = max;
        self
    }

    /// Keeps up to `capacity` verified tokens (0: none), see `api::token_cache`.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = VerifiedTokenCache::new(capacity);
        self
    }

    pub fn cache_stats(&self) -> TokenCacheStats {
        self.cache.stats()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }

    pub fn keys(&self) -> &KeyCache {
        &self.keys
    }

    /// Verifies `token`, or says why not (without echoing any of it). A token seen before
    /// is served from the verified-token cache only if it is byte-for-byte the same, the key
    /// that verified it is still the issuer's key for its `kid`, and it passes the time
    /// checks again now; anything else goes through full verification.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::InvalidToken("token too large"));
        }
        if !self.cache.enabled() {
            return Ok(self.verify_fully(token).await?.claims);
        }
        let digest = TokenDigest::of(token);
        if let Some(entry) = self.cache.get(&digest) {
            let same_key = matches!(
                self.keys.key_for(&entry.kid).await,
                Ok(key) if Arc::ptr_eq(&key, &entry.key)
            );
            if same_key {
                self.cache.count_hit();
                let times = self.check_times(entry.claims.exp, entry.not_before, entry.claims.iat);
                if times.is_err() {
                    self.cache.remove(&digest);
                }
                return times.map(|()| entry.claims.clone());
            }
            // The key was rotated out or refetched: verify again from scratch.
            self.cache.remove(&digest);
        }
        self.cache.count_miss();
        let verified = self.verify_fully(token).await?;
        let claims = verified.claims.clone();
        self.cache.insert(digest, verified);
        Ok(claims)
    }

    /// `exp`, `nbf` and `iat` against our clock, with the configured leeway: on every use,
    /// cached or not.
    fn check_times(&self, exp: i64, nbf: Option<i64>, iat: i64) -> Result<(), ApiError> {
        let now = self.clock.now();
        let leeway = self.leeway_secs as i64;
        if exp + leeway < now {
            return Err(ApiError::InvalidToken("token expired"));
        }
        if nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(ApiError::InvalidToken("token not yet valid"));
        }
        if iat > now + leeway {
            return Err(ApiError::InvalidToken("token issued in the future"));
        }
        Ok(())
    }

    /// Full verification: header rules, key, signature, claims and times.
    async fn verify_fully(&self, token: &str) -> Result<CachedToken, ApiError> {
        // A JWS compact serialization is three base64url parts (RFC 7515 §7.1).
        let compact = token.split('.').count() == 3
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !compact {
            return Err(ApiError::InvalidToken("malformed token"));
        }
        let header = parse_header(token)?;
        let verifying = self
            .keys
            .key_for(&header.kid)
            .await
            .map_err(|err| match err {
                KeyLookupError::UnknownKid => ApiError::InvalidToken("unknown signing key"),
                KeyLookupError::Unavailable => ApiError::KeysUnavailable,
            })?;
        if verifying.alg != header.alg {
            return Err(ApiError::InvalidToken("algorithm does not match the key"));
        }

        // Configured explicitly, never from `Validation::default()` (which means HS256).
        let mut validation = Validation::new(verifying.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        // `exp` and `nbf` are checked below against our own clock (jsonwebtoken reads the
        // system clock); their presence and format rules stay jsonwebtoken's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;

        let data = jsonwebtoken::decode::<RawClaims>(token, &verifying.key, &validation)
            .map_err(|err| ApiError::InvalidToken(describe(err.kind())))?;
        let raw = data.claims;
        // jsonwebtoken accepts an issuer array containing ours; we want exactly one string.
        if raw.iss.as_ref().and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(ApiError::InvalidToken("wrong issuer"));
        }
        let exp = numeric_date(raw.exp.as_ref()).ok_or(ApiError::InvalidToken("invalid exp"))?;
        let not_before = match raw.nbf.as_ref() {
            None => None,
            Some(v) => Some(numeric_date(Some(v)).ok_or(ApiError::InvalidToken("invalid nbf"))?),
        };
        // RFC 9068 §2.2: iat is required in JWT access tokens.
        let iat = numeric_date(raw.iat.as_ref()).ok_or(ApiError::InvalidToken("missing iat"))?;
        self.check_times(exp, not_before, iat)?;
        let auth_time = match raw.auth_time.as_ref() {
            None => None,
            Some(v) => {
                Some(numeric_date(Some(v)).ok_or(ApiError::InvalidToken("invalid auth_time"))?)
            }
        };
        let sub = raw
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::InvalidToken("missing sub"))?;

        let mut scopes: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            if !s.is_empty() && !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        };
        raw.scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .for_each(&mut add);
        match &raw.scp {
            Some(StringOrList::One(s)) => s.split(' ').for_each(&mut add),
            Some(StringOrList::Many(list)) => list.iter().for_each(|s| add(s)),
            None => {}
        }
        raw.permissions.iter().flatten().for_each(|s| add(s));

        let token_id = match &raw.jti {
            Some(jti) if !jti.is_empty() => jti.clone(),
            _ => format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes()))),
        };
        let claims = Claims {
            issuer: self.issuer.clone(),
            sub,
            scopes,
            token_id,
            jti: raw.jti,
            exp,
            iat,
            auth_time,
            acr: raw.acr,
            amr: raw.amr.unwrap_or_default(),
            client_id: raw.client_id.or(raw.azp),
            preferred_username: raw.preferred_username,
            nickname: raw.nickname,
            email: raw.email,
            email_verified: matches!(raw.email_verified, Some(serde_json::Value::Bool(true)))
                || raw.email_verified.as_ref().and_then(|v| v.as_str()) == Some("true"),
            approval: super::details::approval_of(
                raw.authorization_details,
                self.max_batch_payments,
            )?,
            dpop_jkt: confirmation_key(raw.cnf)?,
        };
        Ok(CachedToken {
            claims,
            not_before,
            kid: header.kid,
            key: verifying,
        })
    }
}

struct CheckedHeader {
    alg: Algorithm,
    kid: String,
}

/// Reads the JOSE header ourselves first, so that refusals say precisely why.
fn parse_header(token: &str) -> Result<CheckedHeader, ApiError> {
    let malformed = ApiError::InvalidToken("malformed token");
    let encoded = token
        .split('.')
        .next()
        .ok_or(ApiError::InvalidToken("malformed token"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| ApiError::InvalidToken("malformed token"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed)?;

    if KEY_BEARING_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(ApiError::InvalidToken(
            "token must not name or embed its own key",
        ));
    }
    // RFC 7515 §4.1.11: we understand no extensions, so any `crit` means "refuse".
    if header.contains_key("crit") {
        return Err(ApiError::InvalidToken("unsupported critical header"));
    }
    // RFC 9068 §4: refuse tokens of another type (ID tokens, logout tokens, ...).
    let typ = header
        .get("typ")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let typ_ok = ["at+jwt", "application/at+jwt", "jwt"]
        .iter()
        .any(|allowed| typ.eq_ignore_ascii_case(allowed));
    if !typ_ok {
        return Err(ApiError::InvalidToken("not an access token (typ)"));
    }
    let alg = header
        .get("alg")
        .and_then(|v| v.as_str())
        .and_then(|name| {
            ALLOWED_ALGORITHMS
                .into_iter()
                .find(|a| alg_name(*a) == name)
        })
        .ok_or(ApiError::InvalidToken("signature algorithm not allowed"))?;
    let kid = header
        .get("kid")
        .and_then(|v| v.as_str())
        .filter(|kid| !kid.is_empty())
        .ok_or(ApiError::InvalidToken("token has no key id (kid)"))?
        .to_owned();
    Ok(CheckedHeader { alg, kid })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "",
    }
}

/// A fixed, client-safe phrase for each validation failure.
fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "invalid signature",
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidAlgorithm => "signature algorithm not allowed",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "missing exp",
            "iss" => "missing iss",
            "aud" => "missing aud",
            "sub" => "missing sub",
            _ => "missing required claim",
        },
        ErrorKind::InvalidClaimFormat(_) => "invalid claim format",
        _ => "malformed token",
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// The claims we read. Times are kept as JSON values because NumericDate may be
/// fractional (RFC 7519 §2).
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<serde_json::Value>,
    sub: Option<String>,
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
    auth_time: Option<serde_json::Value>,
    jti: Option<String>,
    scope: Option<String>,
    scp: Option<StringOrList>,
    permissions: Option<Vec<String>>,
    acr: Option<String>,
    amr: Option<Vec<String>>,
    client_id: Option<String>,
    azp: Option<String>,
    preferred_username: Option<String>,
    nickname: Option<String>,
    email: Option<String>,
    /// A boolean per OpenID Connect Core §5.1; some issuers send the string `"true"`.
    email_verified: Option<serde_json::Value>,
    authorization_details: Option<serde_json::Value>,
    cnf: Option<serde_json::Value>,
}

/// The DPoP key of a token's `cnf` claim (RFC 7800 §3.1, RFC 9449 §6.1). A confirmation this
/// API cannot check (an mTLS certificate's `x5t#S256`, say) is refused, never ignored:
/// ignoring it would turn a sender-constrained token back into a bearer token.
fn confirmation_key(cnf: Option<serde_json::Value>) -> Result<Option<String>, ApiError> {
    let Some(cnf) = cnf else {
        return Ok(None);
    };
    let serde_json::Value::Object(members) = cnf else {
        return Err(ApiError::InvalidToken("invalid cnf"));
    };
    if members.keys().any(|name| name != "jkt") {
        return Err(ApiError::InvalidToken(
            "unsupported confirmation method (cnf)",
        ));
    }
    match members.get("jkt") {
        Some(serde_json::Value::String(jkt)) if !jkt.is_empty() => Ok(Some(jkt.clone())),
        _ => Err(ApiError::InvalidToken("invalid cnf")),
    }
}

/// A NumericDate as whole seconds, bounded to ±10^15 so that adding leeway or
/// subtracting times can never overflow.
fn numeric_date(value: Option<&serde_json::Value>) -> Option<i64> {
    const LIMIT: i64 = 1_000_000_000_000_000;
    let value = value?;
    if let Some(i) = value.as_i64() {
        return (-LIMIT..LIMIT).contains(&i).then_some(i);
    }
    let f = value.as_f64()?;
    (f.is_finite() && f.abs() < LIMIT as f64).then(|| f.floor() as i64)
}
