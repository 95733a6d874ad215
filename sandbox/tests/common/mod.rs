//! (filled by its owner)
pub mod issuer;
