//! Pages for people: the hosted checkout page at a session's `url`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::response::Html;
use axum::routing::get;

use crate::server::Shared;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/c/pay/{id}", get(page))
}

async fn page(Path(id): Path<String>) -> Html<String> {
    let escaped: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Html(format!(
        "<!doctype html><title>Checkout</title><p>Checkout Session {escaped}</p>"
    ))
}
