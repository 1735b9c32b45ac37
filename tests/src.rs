//! The end-to-end tests are the files under `tests/`; this library only
//! gives them a crate to belong to.
