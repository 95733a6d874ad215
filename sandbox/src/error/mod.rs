//! Every error the sandbox answers over HTTP becomes a response here, and only here.
//!
//! [`OAuthError`] carries the RFC 6749 / 6750 error codes of the authorization server (its
//! `Display` is the wire code); [`ApiError`] is the bank API's RFC 9457 problem document,
//! with the RFC 6750 / RFC 9470 / RFC 9449 `WWW-Authenticate` challenges when a token is not
//! good enough (`challenge`). 5xx answers never carry internal detail; it is logged instead.

mod challenge;
mod oauth;
mod problem;

pub use challenge::*;
pub use oauth::*;
pub use problem::*;
