//! The `bank` sandbox: an authorization server (a stand-in for an Auth0 tenant) and a bank
//! API (a resource server), served on two loopback listeners with separate state so the
//! trust boundary between them is real. The bank API learns the issuer's keys over HTTP,
//! exactly as it would from Auth0, Okta or Keycloak.

pub mod api;
pub mod authz;
pub mod error;
pub mod store;
