//! Recovery of abandoned Checkout Sessions: `after_expiration[recovery]`
//! on create, the recovery URL a session shows once it expires, and the
//! new session that opening the URL creates, as Stripe's guide to
//! recovering abandoned carts describes.

use serde_json::{Value, json};

use super::checkout_sessions::MAX_EXPIRY;
use super::save;
use crate::account::{AccountData, Task};
use crate::wire::expand::line_items_key;
use crate::wire::{ApiError, ApiResult, Params};

/// How long a recovery URL works after its session expires: 30 days, as
/// the guide gives it.
pub const RECOVERY_SECONDS: i64 = 30 * 86_400;

/// `after_expiration` as the session prints it.
#[derive(serde::Serialize)]
pub struct AfterExpiration {
    recovery: Option<Recovery>,
}

impl AfterExpiration {
    pub fn recovery_enabled(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.enabled)
    }
}

/// `after_expiration.recovery`, whose `expires_at` and `url` stay null
/// until the session expires.
#[derive(serde::Serialize)]
struct Recovery {
    allow_promotion_codes: bool,
    enabled: bool,
    expires_at: Option<i64>,
    url: Option<String>,
}

/// Reads `after_expiration` of a session create.
pub fn take(mut after: Params) -> ApiResult<AfterExpiration> {
    let recovery = match after.hash("recovery")? {
        Some(mut recovery) => {
            let enabled = recovery
                .boolean("enabled")?
                .ok_or_else(|| ApiError::missing_param(recovery.path("enabled")))?;
            let allow_promotion_codes = recovery.boolean("allow_promotion_codes")?;
            recovery.finish()?;
            Some(Recovery {
                allow_promotion_codes: allow_promotion_codes.unwrap_or(false),
                enabled,
                expires_at: None,
                url: None,
            })
        }
        None => None,
    };
    after.finish()?;
    Ok(AfterExpiration { recovery })
}

/// Returns the recovery URL of session `id` on the server at `base_url`.
pub fn recovery_url(base_url: &str, id: &str) -> String {
    format!("{base_url}/c/recover/{id}")
}

/// Sets `after_expiration.recovery.url` and `expires_at` on a session that
/// is expiring now, when its recovery is enabled.
pub fn show_recovery_url(session: &mut Value, now: i64) {
    let Some(url) = session["_recovery_url"].as_str().map(str::to_owned) else {
        return;
    };
    let recovery = &mut session["after_expiration"]["recovery"];
    recovery["url"] = json!(url);
    recovery["expires_at"] = json!(now + RECOVERY_SECONDS);
}

/// The result of opening a session's recovery URL.
#[derive(Debug, PartialEq, Eq)]
pub enum Recovered {
    /// The id of the open or complete copy of the expired session.
    Session(String),
    /// The URL's 30 days have passed.
    UrlExpired,
    /// The session has no recovery URL: it has not expired, or recovery
    /// is off.
    NoRecovery,
}

/// Opens the recovery URL of session `id`. The first visit creates a new
/// session that copies the expired one, with `recovered_from` naming it;
/// later visits lead to that same copy.
///
/// NOTE: whether Stripe makes a new copy on each visit, and whether the
/// copy has recovery enabled itself, is not confirmed. The copy here has
/// no `after_expiration`. The copy of an embedded session is a hosted
/// one, whose page the URL opens, and it redirects to the original's
/// `return_url` after payment.
pub fn recover(data: &mut AccountData, id: &str, base_url: &str) -> Recovered {
    let Some(mut original) = data.store.get("checkout.session", id) else {
        return Recovered::NoRecovery;
    };
    let recovery = &original["after_expiration"]["recovery"];
    let Some(url_expires_at) = recovery["expires_at"].as_i64() else {
        return Recovered::NoRecovery;
    };
    if original["status"] != "expired" || recovery["url"].is_null() {
        return Recovered::NoRecovery;
    }
    if data.now() >= url_expires_at {
        return Recovered::UrlExpired;
    }
    if let Some(copy) = original["_recovered_by"].as_str() {
        return Recovered::Session(copy.to_owned());
    }
    let allow_promotion_codes = recovery["allow_promotion_codes"] == true;

    // A product's id is the caller's choice, so a session id whose line
    // items key is taken is skipped, as on create.
    let copy_id = loop {
        let candidate = data.new_id("cs_test_");
        if !data.store.has_id(&line_items_key(&candidate)) {
            break candidate;
        }
    };
    let now = data.now();
    let mut copy = original.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("_recovered_by");
        map.remove("_recovery_url");
    }
    copy["id"] = json!(copy_id);
    copy["after_expiration"] = Value::Null;
    copy["allow_promotion_codes"] = json!(allow_promotion_codes);
    copy["consent"] = Value::Null;
    copy["created"] = json!(now);
    copy["customer_details"] = Value::Null;
    copy["expires_at"] = json!(now + MAX_EXPIRY);
    copy["payment_intent"] = Value::Null;
    copy["payment_status"] = json!("unpaid");
    copy["recovered_from"] = json!(id);
    copy["status"] = json!("open");
    copy["url"] = json!(format!("{base_url}/c/pay/{copy_id}"));
    if copy["ui_mode"] != "hosted_page" {
        copy["ui_mode"] = json!("hosted_page");
        copy["client_secret"] = Value::Null;
        copy["success_url"] = original["return_url"].clone();
        copy["return_url"] = Value::Null;
        copy["redirect_on_completion"] = Value::Null;
    }

    copy_line_items(data, id, &copy_id, now);
    save(data, "checkout.session", &copy_id, &copy);
    data.schedule(
        now + MAX_EXPIRY,
        Task::ExpireSession {
            session_id: (&copy_id).into(),
        },
    );
    original["_recovered_by"] = json!(copy_id);
    save(data, "checkout.session", id, &original);
    data.trace(
        "customer",
        json!({"session": id, "action": "recover", "recovered_session": copy_id}),
    );
    Recovered::Session(copy_id)
}

/// Stores the line items of session `from` again for session `to`, each
/// with a new id.
fn copy_line_items(data: &mut AccountData, from: &str, to: &str, now: i64) {
    let Some(mut list) = data.store.get_any(&line_items_key(from)) else {
        return;
    };
    for item in list["data"]
        .as_array_mut()
        .map(Vec::as_mut_slice)
        .unwrap_or_default()
    {
        item["id"] = json!(data.ids.next("li_"));
    }
    list["url"] = json!(format!("/v1/checkout/sessions/{to}/line_items"));
    data.store
        .insert("line_items", &line_items_key(to), &list, now);
}
