//! Stripe's request and response format: form bodies in bracket notation,
//! typed parameter access, API keys, idempotency keys, API versions, error
//! envelopes, metadata rules, list pagination, `expand` and the search
//! query language.

pub mod auth;
pub mod error;
pub mod expand;
pub mod form;
pub mod idempotency;
pub mod list;
pub mod metadata;
pub mod params;
pub mod search;
pub mod version;

pub use error::{ApiError, ApiResult, ErrorType};
pub use params::Params;
