//! Integration tests of the authorization server over real HTTP on ephemeral ports.
mod admin;
mod audit;
mod authenticator;
mod batch;
mod batch_pages;
mod device;
mod discovery;
mod errors;
mod flow;
mod login_hint;
mod logs;
mod mfa;
mod pages;
mod par;
mod throttle;
mod tokens;
