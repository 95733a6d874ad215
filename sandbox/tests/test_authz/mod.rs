//! Integration tests of the authorization server over real HTTP on ephemeral ports.
mod discovery;
mod errors;
mod flow;
mod mfa;
mod tokens;
