//! One test binary for the sandbox (faster to link than one per file).
mod common;
mod test_api;
mod test_authz;
mod test_dpop;
mod test_postgres;
mod test_settings;
