//! Payment intents: create, retrieve, update, confirm, capture, cancel,
//! list. Confirmation takes Stripe's test payment method ids
//! (`pm_card_visa`, `pm_card_chargeDeclined`, …) and behaves as the card
//! behind each id does.

use serde_json::{Map, Value, json};

use super::customers::origin;
use super::payment_checks::MethodParams;
use super::{CreatedFilter, currency, save};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::events::{changed_fields, emit};
use crate::simulate::{self, IntentSpec};
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, ErrorType, Params, metadata, version};

/// Rejects a confirmation without `return_url` of an intent whose
/// automatic payment methods may redirect the customer, as Stripe does
/// for intents created without `payment_method_types` since 2023-08-16.
fn check_return_url(return_url: Option<&str>) -> ApiResult<()> {
    if return_url.is_some_and(|url| !url.is_empty()) {
        return Ok(());
    }
    Err(ApiError::invalid_param(
        "return_url",
        "A return_url is required to confirm this PaymentIntent: its automatic_payment_methods \
         allow payment methods that redirect the customer. Send return_url, or create the \
         PaymentIntent with automatic_payment_methods[allow_redirects]=never or with \
         payment_method_types.",
    ))
}

/// Rejects an amount below Stripe's minimum charge in `currency`.
fn check_minimum(amount: i64, currency: &str) -> ApiResult<()> {
    if amount >= super::minimum_charge(currency) {
        return Ok(());
    }
    Err(ApiError::invalid_param(
        "amount",
        format!(
            "Amount must be at least {}.",
            super::minimum_charge_text(currency)
        ),
    )
    .with_code("amount_too_small"))
}

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.forbid_empty(&[
        "payment_method_data[billing_details][address]",
        "payment_method_data[billing_details][email]",
        "payment_method_options[card]",
    ]);
    let amount =
        super::take_amount(&mut params)?.ok_or_else(|| ApiError::missing_param("amount"))?;
    let currency_code =
        currency(&mut params, "currency")?.ok_or_else(|| ApiError::missing_param("currency"))?;
    check_minimum(amount, &currency_code)?;
    let customer = params.string("customer")?.filter(|s| !s.is_empty());
    if let Some(id) = &customer
        && !data.store.contains("customer", id)
    {
        return Err(ApiError::no_such_param("customer", id, "customer"));
    }
    let description = params.string("description")?;
    let meta = match params.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    let capture_method = params.one_of(
        "capture_method",
        &["automatic", "automatic_async", "manual"],
    )?;
    let choice = MethodParams::take(
        &mut params,
        &ctx.api_version,
        version::INTENT_ALLOWED_TYPES,
        version::INTENT_EXCLUDED_TYPES,
    )?;
    if let Some(types) = &choice.listed {
        super::payment_checks::check_methods_for_currency(
            types,
            &currency_code,
            "this PaymentIntent's amount is",
        )?;
    }
    let chosen = choice.chosen(&currency_code, dynamic_methods)?;
    let types = choice.listed.clone();
    let automatic = match params.hash("automatic_payment_methods")? {
        Some(mut automatic) => {
            let enabled = automatic
                .boolean("enabled")?
                .ok_or_else(|| ApiError::missing_param("automatic_payment_methods[enabled]"))?;
            let redirects = automatic.one_of("allow_redirects", &["always", "never"])?;
            automatic.finish()?;
            // NOTE: a disabled setting is stored as null; Stripe's reference
            // does not say what it returns for `enabled=false`.
            enabled.then(|| redirects.unwrap_or_else(|| "always".to_owned()))
        }
        None if types.is_none()
            && choice.allowed.is_none()
            && crate::wire::version::at_least(
                &ctx.api_version,
                crate::wire::version::AUTOMATIC_PAYMENT_METHODS,
            ) =>
        {
            Some("always".to_owned())
        }
        None => None,
    };
    if automatic.is_some() && types.is_some() {
        return Err(ApiError::invalid_param(
            "automatic_payment_methods",
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
        ));
    }
    if automatic.is_some() && choice.allowed.is_some() {
        return Err(super::payment_checks::only_one_of(
            "allowed_payment_method_types",
            "automatic_payment_methods",
        ));
    }
    let receipt_email = params.string("receipt_email")?;
    let statement_descriptor = params.string("statement_descriptor")?;
    let statement_descriptor_suffix = params.string("statement_descriptor_suffix")?;
    super::payment_checks::check_descriptors(
        statement_descriptor.as_deref(),
        statement_descriptor_suffix.as_deref(),
        str::to_owned,
    )?;
    let setup_future_usage = params.one_of("setup_future_usage", &["on_session", "off_session"])?;
    let transfer_group = params.string("transfer_group")?;
    let payment_method = params.string("payment_method")?;
    let confirm = params.boolean("confirm")?.unwrap_or(false);
    let return_url = params.string("return_url")?;
    let off_session = params.boolean("off_session")?.unwrap_or(false);
    params.finish()?;
    if confirm && automatic.as_deref() == Some("always") {
        check_return_url(return_url.as_deref())?;
    }
    if let Some(pm) = &payment_method {
        simulate::card_for_payment_method(data, pm, customer.as_deref())?;
    }
    let spec = IntentSpec {
        amount,
        currency: currency_code,
        customer: json!(customer),
        description: json!(description),
        metadata: meta,
        capture_method: capture_method.unwrap_or_else(|| {
            crate::wire::version::default_capture_method(&ctx.api_version).to_owned()
        }),
        payment_method_types: json!(chosen.or(types).unwrap_or_else(dynamic_methods)),
        allowed_payment_method_types: json!(choice.allowed),
        excluded_payment_method_types: json!(choice.excluded),
        automatic_payment_methods: automatic.map_or(
            Value::Null,
            |redirects| json!({"allow_redirects": redirects, "enabled": true}),
        ),
        receipt_email: json!(receipt_email),
        statement_descriptor: json!(statement_descriptor),
        statement_descriptor_suffix: json!(statement_descriptor_suffix),
        setup_future_usage: json!(setup_future_usage),
        transfer_group: json!(transfer_group),
        shipping: Value::Null,
        payment_method_options: json!({}),
    };
    let origin = origin(ctx);
    let pi = simulate::new_payment_intent(data, spec, &origin);
    let id = pi["id"].as_str().unwrap_or_default().to_owned();
    ctx.touch(&id);
    match (payment_method, confirm) {
        (Some(pm), true) => run_confirm(data, &id, &pm, off_session, &origin),
        (Some(pm), false) => {
            let mut pi = pi;
            pi["payment_method"] = json!(pm);
            pi["status"] = json!("requires_confirmation");
            save(data, "payment_intent", &id, &pi);
            Ok(pi)
        }
        (None, true) => Err(ApiError::missing_param("payment_method")),
        (None, false) => Ok(pi),
    }
}

/// Returns the payment methods of an intent that leaves the choice to
/// Stripe. NOTE: Stripe offers every method that the account enables and
/// that takes the currency. The fake offers cards only.
fn dynamic_methods() -> Vec<String> {
    vec!["card".to_owned()]
}

/// Takes the payment method parameters of update and confirm. Confirm
/// takes the allowed and excluded lists in the same versions as update,
/// as stripe-python 16.1.0 (2026-10-28) and stripe-node 23.2.0
/// (2026-11-18) list both on confirm.
fn take_later_method_params(params: &mut Params, api_version: &str) -> ApiResult<MethodParams> {
    MethodParams::take(
        params,
        api_version,
        version::INTENT_ALLOWED_TYPES,
        version::EXCLUDED_TYPES,
    )
}

/// Sets the payment methods of `pi` from `allowed_payment_method_types`
/// or `excluded_payment_method_types` in its currency, when the request
/// sent either. The intent shows both lists as sent, and an allowed list
/// turns the automatic payment methods off.
fn apply_method_choice(pi: &mut Value, choice: &MethodParams) -> ApiResult<()> {
    let currency = pi["currency"].as_str().unwrap_or_default().to_owned();
    if let Some(chosen) = choice.chosen(&currency, dynamic_methods)? {
        pi["payment_method_types"] = json!(chosen);
        pi["allowed_payment_method_types"] = json!(choice.allowed);
        pi["excluded_payment_method_types"] = json!(choice.excluded);
        if choice.allowed.is_some() {
            pi["automatic_payment_methods"] = Value::Null;
        }
    }
    Ok(())
}

/// Confirms with a test payment method or a saved card: a card error
/// returns 402 with the payment intent in the error, as Stripe does. An
/// off-session payment has no customer to authenticate.
fn run_confirm(
    data: &mut AccountData,
    id: &str,
    pm_id: &str,
    off_session: bool,
    origin: &crate::events::Origin,
) -> ApiResult<Value> {
    let customer = data
        .store
        .get("payment_intent", id)
        .and_then(|pi| pi["customer"].as_str().map(str::to_owned));
    let (card, saved) = simulate::card_for_payment_method(data, pm_id, customer.as_deref())?;
    let pm = match saved {
        Some(pm) => pm,
        None => {
            simulate::payment_method(data, "card", Some(&card), simulate::empty_billing_details())
        }
    };
    let authentication = if off_session {
        simulate::Authentication::Unavailable
    } else {
        simulate::Authentication::Pending
    };
    match simulate::attempt_card(data, id, &pm, &card, authentication, origin) {
        Ok(pi) => {
            simulate::attach_balance_transaction(data, id, origin);
            Ok(data.store.get("payment_intent", id).unwrap_or(pi))
        }
        Err(error) => {
            let pi = data.store.get("payment_intent", id).unwrap_or_default();
            let message = error["message"]
                .as_str()
                .unwrap_or("Your card was declined.")
                .to_owned();
            let code = match error["code"].as_str() {
                Some("expired_card") => "expired_card",
                Some("incorrect_cvc") => "incorrect_cvc",
                Some("processing_error") => "processing_error",
                Some("incorrect_number") => "incorrect_number",
                Some("payment_intent_authentication_failure") => {
                    "payment_intent_authentication_failure"
                }
                Some("authentication_required") => "authentication_required",
                _ => "card_declined",
            };
            let mut err = ApiError::new(
                axum::http::StatusCode::PAYMENT_REQUIRED,
                ErrorType::Card,
                message,
            )
            .with_code(code)
            .with_extra("payment_intent", pi)
            .with_extra("charge", error["charge"].clone())
            // Stripe's error object carries the declined payment method,
            // which the intent no longer references once it is declined.
            .with_extra("payment_method", error["payment_method"].clone());
            if let Some(decline) = error["decline_code"].as_str() {
                err = err.with_extra("decline_code", json!(decline));
            }
            Err(err)
        }
    }
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.string("client_secret")?;
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    crate::faults::visible(data, "payment_intent", &id)
        .ok_or_else(|| ApiError::no_such("payment_intent", &id, "intent"))
}

/// Returns the stored payment intent `id`, or a 404 that names the path
/// parameter `intent`, as Stripe's does on retrieve.
/// NOTE: update, confirm, capture and cancel are assumed to name it the
/// same way.
fn fetch_intent(data: &AccountData, id: &str) -> ApiResult<Value> {
    data.store
        .get("payment_intent", id)
        .ok_or_else(|| ApiError::no_such("payment_intent", id, "intent"))
}

pub fn update(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let before = fetch_intent(data, &id)?;
    let mut pi = before.clone();
    let final_state = matches!(
        pi["status"].as_str(),
        Some("succeeded" | "canceled" | "processing")
    );
    if let Some(update) = params.hash("metadata")? {
        let current = pi["metadata"].as_object().cloned().unwrap_or_default();
        pi["metadata"] = Value::Object(metadata::apply(&current, update)?);
    }
    for field in [
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
    ] {
        if let Some(value) = params.string(field)? {
            if field.starts_with("statement_descriptor") && !value.is_empty() {
                let suffix = field == "statement_descriptor_suffix";
                super::payment_checks::check_statement_descriptor(field, &value, suffix)?;
            }
            pi[field] = if value.is_empty() {
                Value::Null
            } else {
                json!(value)
            };
        }
    }
    // Stripe takes a transfer group on update only while none is set.
    if let Some(group) = params.string("transfer_group")? {
        if !pi["transfer_group"].is_null() && pi["transfer_group"] != group.as_str() {
            return Err(ApiError::invalid_param(
                "transfer_group",
                "transfer_group can be set only once; this PaymentIntent already has one.",
            ));
        }
        pi["transfer_group"] = json!(group);
    }
    if let Some(amount) = super::take_amount(&mut params)? {
        if final_state || pi["status"] == "requires_capture" {
            return Err(ApiError::bad_state(format!(
                "The amount of a PaymentIntent in status {} cannot be changed.",
                pi["status"].as_str().unwrap_or_default()
            ))
            .with_param("amount"));
        }
        pi["amount"] = json!(amount);
    }
    let currency_code = currency(&mut params, "currency")?;
    let choice = take_later_method_params(&mut params, &ctx.api_version)?;
    let types = choice.listed.clone();
    if (currency_code.is_some() || choice.is_some())
        && (final_state || pi["status"] == "requires_capture")
    {
        let param = if currency_code.is_some() {
            "currency"
        } else {
            choice.param()
        };
        return Err(ApiError::bad_state(format!(
            "The currency and payment methods of a PaymentIntent in status {} cannot be changed.",
            pi["status"].as_str().unwrap_or_default()
        ))
        .with_param(param));
    }
    if let Some(code) = currency_code {
        pi["currency"] = json!(code);
    }
    if let Some(types) = types {
        // NOTE: listing types replaces the automatic payment methods, as
        // create does not take both. Stripe's reference does not describe
        // this case.
        pi["payment_method_types"] = json!(types);
        pi["automatic_payment_methods"] = Value::Null;
    }
    apply_method_choice(&mut pi, &choice)?;
    let currency_now = pi["currency"].as_str().unwrap_or_default().to_owned();
    if pi["amount"] != before["amount"] || pi["currency"] != before["currency"] {
        check_minimum(pi["amount"].as_i64().unwrap_or(0), &currency_now)?;
    }
    if let Ok(types) = serde_json::from_value::<Vec<String>>(pi["payment_method_types"].clone())
        && (pi["currency"] != before["currency"]
            || pi["payment_method_types"] != before["payment_method_types"])
    {
        super::payment_checks::check_methods_for_currency(
            &types,
            &currency_now,
            "this PaymentIntent's amount is",
        )?;
    }
    // Stripe's update takes a customer to attach. Whether an empty value
    // detaches one is not modelled, so it is rejected.
    if let Some(customer) = params.string("customer")? {
        if customer.is_empty() {
            return Err(ApiError::invalid_param(
                "customer",
                "customer must be the id of a customer to attach to the PaymentIntent.",
            ));
        }
        if !data.store.contains("customer", &customer) {
            return Err(ApiError::no_such_param("customer", &customer, "customer"));
        }
        pi["customer"] = json!(customer);
    }
    let unconfirmed = matches!(
        pi["status"].as_str(),
        Some("requires_payment_method" | "requires_confirmation")
    );
    if let Some(pm) = params.string("payment_method")? {
        if !unconfirmed {
            return Err(unconfirmed_only(&pi, "payment_method"));
        }
        // The same payment methods as confirm takes.
        simulate::card_for_payment_method(data, &pm, pi["customer"].as_str())?;
        pi["payment_method"] = json!(pm);
        pi["status"] = json!("requires_confirmation");
    }
    if let Some(method) = params.one_of(
        "capture_method",
        &["automatic", "automatic_async", "manual"],
    )? {
        if !unconfirmed {
            return Err(unconfirmed_only(&pi, "capture_method"));
        }
        pi["capture_method"] = json!(method);
    }
    // An empty value unsets it, as the update's parameter allows.
    if let Some(usage) = params.one_of("setup_future_usage", &["", "on_session", "off_session"])? {
        pi["setup_future_usage"] = if usage.is_empty() {
            Value::Null
        } else {
            json!(usage)
        };
    }
    params.finish()?;
    // The session decides what its intent charges and how.
    let changes_charge = [
        "amount",
        "currency",
        "payment_method_types",
        "payment_method",
        "capture_method",
    ]
    .into_iter()
    .find(|field| pi[*field] != before[*field]);
    if let Some(field) = changes_charge
        && let Some(session) = checkout_session_of(data, &id)
    {
        return Err(made_by_checkout(&session).with_param(field));
    }
    // Stripe has no `payment_intent.updated` event, so an update emits none.
    save(data, "payment_intent", &id, &pi);
    ctx.touch(&id);
    Ok(pi)
}

/// Builds the error for a parameter that an update takes only before the
/// intent is confirmed.
fn unconfirmed_only(pi: &Value, param: &str) -> ApiError {
    ApiError::bad_state(format!(
        "The {param} of a PaymentIntent in status {} cannot be changed; it can change only before the PaymentIntent is confirmed.",
        pi["status"].as_str().unwrap_or_default()
    ))
    .with_param(param)
    .with_code("payment_intent_unexpected_state")
}

/// Returns the Checkout Session that made payment intent `pi_id`, if any.
fn checkout_session_of(data: &AccountData, pi_id: &str) -> Option<Value> {
    data.store
        .ids_newest_first("checkout.session")
        .filter_map(|sid| data.store.get("checkout.session", &sid))
        .find(|s| s["payment_intent"] == pi_id)
}

/// Builds the error for an action that only the Checkout Session may take
/// on its payment intent, in the words of Stripe's message.
fn made_by_checkout(session: &Value) -> ApiError {
    ApiError::bad_state(format!(
        "You cannot perform this action on PaymentIntents created by Checkout. The customer pays on the page of Checkout Session {}.",
        session["id"].as_str().unwrap_or_default()
    ))
}

pub fn confirm(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let mut pi = fetch_intent(data, &id)?;
    let choice = take_later_method_params(&mut params, &ctx.api_version)?;
    // The fake does not model this list on confirm, which only versions
    // before 2026-09-30 can send.
    if choice.listed.is_some() {
        return Err(ApiError::unknown_param("payment_method_types"));
    }
    let pm = params.string("payment_method")?;
    let return_url = params.string("return_url")?;
    let off_session = params.boolean("off_session")?.unwrap_or(false);
    params.string("receipt_email")?;
    params.finish()?;
    ctx.touch(&id);
    match pi["status"].as_str() {
        Some("requires_payment_method" | "requires_confirmation") => {}
        Some(status) => {
            return Err(ApiError::bad_state(format!(
                "You cannot confirm this PaymentIntent because it has a status of {status}."
            ))
            .with_code("payment_intent_unexpected_state"));
        }
        None => return Err(ApiError::internal("payment intent without status")),
    }
    if let Some(session) = checkout_session_of(data, &id) {
        return Err(made_by_checkout(&session));
    }
    // An allowed list turns the automatic payment methods off, and with
    // them the need for a return URL.
    // NOTE: confirm takes only cards, and does not check that card is
    // among the payment methods that these lists leave.
    apply_method_choice(&mut pi, &choice)?;
    // A state that cannot be confirmed at all is the first thing to report.
    if pi["automatic_payment_methods"]["allow_redirects"] == "always" {
        check_return_url(return_url.as_deref())?;
    }
    let pm = pm
        .or_else(|| pi["payment_method"].as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::missing_param("payment_method"))?;
    if choice.is_some() {
        save(data, "payment_intent", &id, &pi);
    }
    run_confirm(data, &id, &pm, off_session, &origin(ctx))
}

pub fn capture(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let before = fetch_intent(data, &id)?;
    let amount_to_capture = params.integer("amount_to_capture")?;
    let metadata_update = params.hash("metadata")?;
    params.finish()?;
    ctx.touch(&id);
    if before["status"] != "requires_capture" {
        return Err(ApiError::bad_state(format!(
            "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
            before["status"].as_str().unwrap_or_default()
        ))
        .with_code("payment_intent_unexpected_state"));
    }
    let capturable = before["amount_capturable"].as_i64().unwrap_or(0);
    let amount = amount_to_capture.unwrap_or(capturable);
    if amount < 1 || amount > capturable {
        return Err(ApiError::invalid_param(
            "amount_to_capture",
            format!("amount_to_capture must be between 1 and {capturable}."),
        ));
    }
    // Checked before anything changes, so a bad key captures nothing.
    let metadata = match metadata_update {
        Some(update) => {
            let current = before["metadata"].as_object().cloned().unwrap_or_default();
            Some(metadata::apply(&current, update)?)
        }
        None => None,
    };
    let origin = origin(ctx);
    let charge_id = before["latest_charge"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(mut charge) = data.store.get("charge", &charge_id) {
        let charge_before = charge.clone();
        charge["captured"] = json!(true);
        charge["amount_captured"] = json!(amount);
        // The part left uncaptured goes back to the customer as a refund.
        charge["amount_refunded"] = json!(capturable - amount);
        save(data, "charge", &charge_id, &charge);
        emit(
            data,
            "charge.captured",
            &charge,
            Some(changed_fields(&charge_before, &charge)),
            &origin,
        );
    }
    let mut pi = before.clone();
    pi["status"] = json!("succeeded");
    pi["amount_capturable"] = json!(0);
    pi["amount_received"] = json!(amount);
    if let Some(metadata) = metadata {
        pi["metadata"] = Value::Object(metadata);
    }
    save(data, "payment_intent", &id, &pi);
    emit(
        data,
        "payment_intent.succeeded",
        &pi,
        Some(changed_fields(&before, &pi)),
        &origin,
    );
    simulate::attach_balance_transaction(data, &id, &origin);
    mark_session_paid(data, &id);
    Ok(data.store.get("payment_intent", &id).unwrap_or(pi))
}

/// Marks `paid` the Checkout Session whose authorized payment was just
/// captured: it read `unpaid` until then. Stripe sends no session event
/// for the change.
fn mark_session_paid(data: &mut AccountData, pi_id: &str) {
    let uncaptured = checkout_session_of(data, pi_id).filter(|s| s["payment_status"] == "unpaid");
    if let Some(mut session) = uncaptured {
        let session_id = session["id"].as_str().unwrap_or_default().to_owned();
        session["payment_status"] = json!("paid");
        save(data, "checkout.session", &session_id, &session);
    }
}

pub fn cancel(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let before = fetch_intent(data, &id)?;
    let reason = params.one_of(
        "cancellation_reason",
        &[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ],
    )?;
    params.finish()?;
    ctx.touch(&id);
    let status = before["status"].as_str().unwrap_or_default();
    if !matches!(
        status,
        "requires_payment_method"
            | "requires_capture"
            | "requires_confirmation"
            | "requires_action"
    ) {
        return Err(ApiError::bad_state(format!(
            "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action."
        ))
        .with_code("payment_intent_unexpected_state"));
    }
    if checkout_session_of(data, &id).is_some_and(|s| s["status"] == "open") {
        return Err(ApiError::bad_state(
            "This PaymentIntent belongs to an open Checkout Session; expire the session instead of canceling the PaymentIntent.",
        )
        .with_code("payment_intent_unexpected_state"));
    }
    let mut pi = before.clone();
    pi["status"] = json!("canceled");
    pi["canceled_at"] = json!(data.now());
    pi["cancellation_reason"] = json!(reason);
    pi["amount_capturable"] = json!(0);
    save(data, "payment_intent", &id, &pi);
    let origin = origin(ctx);
    emit(
        data,
        "payment_intent.canceled",
        &pi,
        Some(changed_fields(&before, &pi)),
        &origin,
    );
    if status == "requires_capture" {
        release_authorization(data, &before, "charge.refunded", &origin);
    }
    Ok(pi)
}

/// Releases what payment intent `pi` held on its charge, which then reads
/// as wholly refunded although nothing was captured, and emits
/// `event_type` about the charge: `charge.refunded` for a cancel,
/// `charge.expired` for an authorization that lapsed.
pub(crate) fn release_authorization(
    data: &mut AccountData,
    pi: &Value,
    event_type: &str,
    origin: &crate::events::Origin,
) {
    let Some(charge_id) = pi["latest_charge"].as_str() else {
        return;
    };
    let Some(mut charge) = data.store.get("charge", charge_id) else {
        return;
    };
    let before = charge.clone();
    charge["amount_refunded"] = charge["amount"].clone();
    charge["refunded"] = json!(true);
    save(data, "charge", charge_id, &charge);
    emit(
        data,
        event_type,
        &charge,
        Some(changed_fields(&before, &charge)),
        origin,
    );
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let customer = super::take_filter(data, &mut params, "customer", "customer")?;
    // The fake has no Accounts v2 customers, so this matches no intent.
    let customer_account = params.string("customer_account")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    let keep = |pi: &Value| {
        customer.as_ref().is_none_or(|c| pi["customer"] == json!(c))
            && customer_account
                .as_ref()
                .is_none_or(|id| pi["customer_account"] == json!(id))
            && created.matches(pi)
    };
    if crate::faults::affects_reads(data) {
        let visible = crate::faults::visible_list(data, "payment_intent");
        return page.apply_where(visible.iter().collect(), keep, &ctx.path);
    }
    super::list_where(ctx, data, "payment_intent", &page, keep)
}
