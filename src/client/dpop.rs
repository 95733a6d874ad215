//! Layer 4: DPoP (RFC 9449 §7) — a request whose token is bound to a key carries a fresh
//! proof by that key, naming this request's method and URL and the token's hash, so a copy
//! of the token alone is worthless.
//!
//! The resource server may demand a nonce of its choosing in proofs (§9): it answers
//! `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header.
//! This layer retries such a request once with a proof that carries the nonce, and keeps
//! the newest nonce the API sends for the requests that follow. Bearer tokens pass through
//! untouched.

use std::sync::Mutex;

use super::request::{ApiRequest, ApiResponse};
use super::{ApiError, BoxFuture, ClientError, Layer, Next};

#[derive(Default)]
pub struct Dpop {
    /// The API's latest `DPoP-Nonce`.
    nonce: Mutex<Option<String>>,
}

impl Dpop {
    pub fn new() -> Dpop {
        Dpop::default()
    }

    fn nonce(&self) -> Option<String> {
        self.nonce.lock().ok().and_then(|n| n.clone())
    }

    fn keep(&self, nonce: Option<&str>) {
        if let (Some(nonce), Ok(mut kept)) = (nonce, self.nonce.lock()) {
            *kept = Some(nonce.to_owned());
        }
    }

    /// Puts a proof for `request` on it, when its token is bound to a key.
    fn sign(&self, request: &mut ApiRequest, next: &Next<'_>) {
        let Some(credential) = &request.credential else {
            return;
        };
        let Some(key) = credential.sender() else {
            return;
        };
        let Some(url) = next.url_of(&request.operation) else {
            return;
        };
        request.proof = Some(key.proof(
            request.operation.method().as_str(),
            &url,
            Some(credential.access_token().secret()),
            self.nonce().as_deref(),
        ));
    }
}

impl Layer for Dpop {
    fn handle<'a>(
        &'a self,
        mut request: ApiRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, ClientError>> {
        Box::pin(async move {
            self.sign(&mut request, &next);
            if request.proof.is_none() {
                return next.run(request).await;
            }
            let retry = request.for_retry();
            match next.run(request).await {
                Ok(response) => {
                    self.keep(response.dpop_nonce.as_deref());
                    Ok(response)
                }
                Err(ClientError::Api(ApiError::UseDpopNonce { nonce })) => {
                    // §9: one retry with the nonce; a second demand is final.
                    self.keep(Some(&nonce));
                    let mut retry = retry;
                    self.sign(&mut retry, &next);
                    let answer = next.run(retry).await;
                    if let Ok(response) = &answer {
                        self.keep(response.dpop_nonce.as_deref());
                    }
                    answer
                }
                Err(other) => Err(other),
            }
        })
    }
}
