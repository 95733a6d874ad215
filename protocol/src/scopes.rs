//! The scopes and authentication strength the bank API speaks in (RFC 6749 §3.3, RFC 9470).

/// Reads the balance and the history: the everyday token's scope.
pub const VIEW_BALANCE: &str = "view:balance";
/// Moves money: only ever in a short-lived, single-use step-up token, never stored.
pub const TRANSFER_FUNDS: &str = "transfer:funds";
/// OpenID Connect: asked for at login and on every step-up, so that the ID token says who
/// signed in and a step-up can be bound to the logged-in user.
pub const OPENID: &str = "openid";
/// Asks for a refresh token; never part of a step-up.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The `acr` of a multi-factor sign-in (OpenID PAPE), as the sandbox and Auth0 name it.
pub const MFA_ACR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
