//! Pages for people, rendered on the server from the askama templates in
//! `mock-server/templates/`, which escape every value they print.
//!
//! - `checkout`: the hosted payment page at a session's `url`, where a
//!   customer (or a browser test of the app) pays or cancels with plain
//!   form posts and no JavaScript.
//! - `dashboard`: one account's sessions, payment intents, events with
//!   their deliveries, request log, fault plan and clock, and the timeline
//!   of one checkout, at `/_fakestripe/dashboard`.

pub mod checkout;
pub mod dashboard;
pub mod format;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::server::Shared;

/// Builds the routes of both pages.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .merge(checkout::routes())
        .merge(dashboard::routes())
}

/// A page with a heading and one paragraph, for not-found and error pages.
#[derive(Debug, Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Renders `template` as an HTML response with `status`. Pages show live
/// state, so the response sets `Cache-Control: no-store`.
fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => {
            tracing::error!(%err, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed",
            )
                .into_response()
        }
    }
}

/// Renders a page that shows `message` under `title`.
fn message(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, &MessagePage { title, message })
}

/// Builds a 303 See Other to `location`, so the browser follows a form post
/// with a GET. Falls back to `fallback` when `location` cannot be a header value.
fn see_other(location: &str, fallback: &str) -> Response {
    let value = HeaderValue::from_str(location)
        .or_else(|_| HeaderValue::from_str(fallback))
        .unwrap_or_else(|_| HeaderValue::from_static("/"));
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, value);
    response
}
