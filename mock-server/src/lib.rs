#![recursion_limit = "256"]
//! A stateful fake of Stripe's API for the Checkout family, with a virtual
//! clock, signed webhooks with retries, and a seeded fault plan.
//!
//! Start one inside a test on a free port and point a Stripe client at it:
//!
//! ```no_run
//! # async fn demo() {
//! let fake = fakestripe_server::Server::spawn().await;
//! let base = fake.base_url(); // http://127.0.0.1:PORT, for STRIPE_API_BASE
//! # let _ = base;
//! # }
//! ```

pub mod account;
pub mod api;
pub mod clock;
pub mod config;
pub mod control;
pub mod delta;
pub mod events;
pub mod faults;
pub mod ids;
pub mod packing;
pub mod pages;
pub mod resources;
pub mod server;
pub mod simulate;
pub mod store;
pub mod wire;

pub use clock::ClockMode;
pub use config::ServerConfig;
pub use server::{Server, Shared, app};

/// A fresh random `whsec_…` secret, for `serve --forward-to` when no secret
/// is given. It comes from the operating system's generator, not an
/// account's seed, because no account exists yet.
pub fn random_webhook_secret() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("whsec_{tail}")
}
