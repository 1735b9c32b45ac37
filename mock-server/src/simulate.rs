//! The customer's side of a checkout: paying a session with a test card or
//! an asynchronous method, declines, 3-D Secure, and the session's expiry.
//! The control API's pay call and the hosted page both come here, so they
//! create the same objects and events.
//!
//! Events, in order, for each flow:
//! - card: `payment_intent.created`, `charge.succeeded`,
//!   `payment_intent.succeeded`, `checkout.session.completed`,
//!   `charge.updated` (the balance transaction is attached).
//! - 3-D Secure card: `payment_intent.requires_action` before the card flow;
//!   a failed authentication ends in `payment_intent.payment_failed`.
//! - declined card: `payment_intent.created` (first attempt only),
//!   `charge.failed`, `payment_intent.payment_failed`; the session stays open.
//! - SEPA Direct Debit or US bank account: `payment_intent.created`,
//!   `checkout.session.completed` (unpaid), `payment_intent.processing`,
//!   `charge.pending`; after the delay either `charge.succeeded`,
//!   `payment_intent.succeeded`, `checkout.session.async_payment_succeeded`,
//!   `charge.updated` (the balance transaction is attached), or
//!   `charge.failed`, `payment_intent.payment_failed`,
//!   `checkout.session.async_payment_failed`.
//! - expiry: `payment_intent.canceled` when a payment intent exists, then
//!   `checkout.session.expired`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::account::{AccountData, Task};
use crate::events::{Origin, changed_fields, emit};
use crate::resources::checkout_sessions::public;
use crate::resources::save;
use crate::wire::params::check_length;
use crate::wire::{ApiError, ApiResult};

/// Default seconds before an asynchronous payment settles.
pub const DEFAULT_SETTLE_DELAY: i64 = 180;

/// The longest `delay_seconds` a pay call takes: 30 days, the longest a
/// bank debit takes to settle with room to spare.
pub const MAX_SETTLE_DELAY: i64 = 30 * 24 * 3600;

/// The customer's input on the payment page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    #[serde(default = "card")]
    pub payment_method: String,
    pub card_number: Option<String>,
    /// For asynchronous methods: whether the payment eventually succeeds.
    pub outcome: Option<String>,
    /// For asynchronous methods: seconds until the payment settles.
    pub delay_seconds: Option<i64>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The phone number, for a session created with
    /// `phone_number_collection[enabled]=true`.
    pub phone: Option<String>,
    /// The billing address, for a session created with
    /// `billing_address_collection=required`.
    pub address: Option<AddressInput>,
    /// The shipping details, for a session created with
    /// `shipping_address_collection`.
    pub shipping: Option<ShippingInput>,
    /// The customer's choice in the promotions checkbox of a session with
    /// `consent_collection[promotions]=auto`: `opt_in`, or `opt_out`
    /// (the default, an unticked box).
    pub promotions: Option<String>,
    /// `accepted`, the only value that lets a session with
    /// `consent_collection[terms_of_service]=required` be paid. The
    /// control API's pay call accepts the terms when this is absent.
    pub terms_of_service: Option<String>,
    /// The values of the session's custom fields, by key. A field left
    /// out takes its default value, or a value that fits it when it is
    /// required. An empty string leaves an optional field blank.
    pub custom_fields: Option<BTreeMap<String, String>>,
    /// For cards that ask for 3-D Secure: `complete` (default) or `fail`.
    pub three_d_secure: Option<String>,
}

/// An address as the customer enters it on the page. `line1` and
/// `country` are required, the rest may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    /// A two-letter ISO 3166-1 country code, such as `US`.
    pub country: Option<String>,
}

/// Shipping details as the customer enters them on the page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingInput {
    /// The recipient's name. Without it the name entered for the payment
    /// is used, or `DEFAULT_SHIPPING_NAME`.
    pub name: Option<String>,
    pub address: Option<AddressInput>,
}

impl AddressInput {
    /// Lists the fields by their name in a customer's `address`.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("city", &self.city),
            ("country", &self.country),
            ("line1", &self.line1),
            ("line2", &self.line2),
            ("postal_code", &self.postal_code),
            ("state", &self.state),
        ]
    }
}

fn card() -> String {
    "card".to_owned()
}

/// The outcome of a pay attempt, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PayResult {
    /// `succeeded`, `processing` (asynchronous, not settled) or `declined`.
    pub result: &'static str,
    /// The browser's next URL: `success_url` (or `return_url`) with the
    /// session id filled in. Null after a decline: the customer stays.
    pub redirect_url: Option<String>,
    pub session: Value,
    pub error: Option<Value>,
}

/// A test card's behaviour, from Stripe's list of test numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardBehaviour {
    Succeeds,
    /// Asks for 3-D Secure authentication, then succeeds if it passes.
    Authenticates,
    Declines {
        code: &'static str,
        decline_code: Option<&'static str>,
        message: &'static str,
    },
}

/// A test card: number, brand and how it behaves.
#[derive(Debug, Clone)]
pub struct TestCard {
    pub number: String,
    pub brand: &'static str,
    pub behaviour: CardBehaviour,
}

const GENERIC_DECLINE: CardBehaviour = CardBehaviour::Declines {
    code: "card_declined",
    decline_code: Some("generic_decline"),
    message: "Your card was declined.",
};

/// Reads a card number the way the payment page does: spaces and dashes
/// ignored, 13 to 19 digits, Luhn checked.
pub fn test_card(number: &str) -> Result<TestCard, ApiError> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if !(13..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid_param(
            "card_number",
            format!(
                "`{number}` is not a card number: use 13 to 19 digits, such as 4242424242424242."
            ),
        ));
    }
    let brand = brand(&digits);
    let behaviour = if !luhn(&digits) {
        CardBehaviour::Declines {
            code: "incorrect_number",
            decline_code: None,
            message: "Your card number is incorrect.",
        }
    } else {
        match digits.as_str() {
            "4000000000000002" => GENERIC_DECLINE,
            "4000000000009995" => CardBehaviour::Declines {
                code: "card_declined",
                decline_code: Some("insufficient_funds"),
                message: "Your card has insufficient funds.",
            },
            "4000000000009987" => CardBehaviour::Declines {
                code: "card_declined",
                decline_code: Some("lost_card"),
                message: "Your card was declined.",
            },
            "4000000000009979" => CardBehaviour::Declines {
                code: "card_declined",
                decline_code: Some("stolen_card"),
                message: "Your card was declined.",
            },
            "4000000000006975" => CardBehaviour::Declines {
                code: "card_declined",
                decline_code: Some("card_velocity_exceeded"),
                message: "Your card was declined.",
            },
            "4000000000000069" => CardBehaviour::Declines {
                code: "expired_card",
                decline_code: Some("expired_card"),
                message: "Your card has expired.",
            },
            "4000000000000127" => CardBehaviour::Declines {
                code: "incorrect_cvc",
                decline_code: Some("incorrect_cvc"),
                message: "Your card's security code is incorrect.",
            },
            "4000000000000119" => CardBehaviour::Declines {
                code: "processing_error",
                decline_code: Some("processing_error"),
                message: "An error occurred while processing your card. Try again in a little bit.",
            },
            "4000002500003155" | "4000002760003184" | "4000000000003220" | "4000000000003063" => {
                CardBehaviour::Authenticates
            }
            _ => CardBehaviour::Succeeds,
        }
    };
    Ok(TestCard {
        number: digits,
        brand,
        behaviour,
    })
}

/// Reads a card number entered on a session's page. A card that would pay
/// without 3-D Secure goes through it when the session sets
/// `payment_method_options[card][request_three_d_secure]` to `any` or
/// `challenge`.
/// NOTE: a declining card declines without the authentication step, as
/// `CardBehaviour` has no way to express authentication followed by a
/// decline.
pub fn session_card(session: &Value, number: &str) -> Result<TestCard, ApiError> {
    let mut card = test_card(number)?;
    let requested = &session["payment_method_options"]["card"]["request_three_d_secure"];
    if card.behaviour == CardBehaviour::Succeeds && (requested == "any" || requested == "challenge")
    {
        card.behaviour = CardBehaviour::Authenticates;
    }
    Ok(card)
}

/// The card number behind one of Stripe's test payment method ids.
pub fn test_payment_method_number(id: &str) -> Option<&'static str> {
    Some(match id {
        "pm_card_visa" | "tok_visa" => "4242424242424242",
        "pm_card_mastercard" | "tok_mastercard" => "5555555555554444",
        "pm_card_amex" | "tok_amex" => "378282246310005",
        // Stripe's testing page names the first four declines with
        // `visa_`; the shorter names are accepted too.
        "pm_card_visa_chargeDeclined"
        | "tok_visa_chargeDeclined"
        | "pm_card_chargeDeclined"
        | "tok_chargeDeclined" => "4000000000000002",
        "pm_card_visa_chargeDeclinedInsufficientFunds"
        | "tok_visa_chargeDeclinedInsufficientFunds"
        | "pm_card_chargeDeclinedInsufficientFunds"
        | "tok_chargeDeclinedInsufficientFunds" => "4000000000009995",
        "pm_card_visa_chargeDeclinedLostCard"
        | "tok_visa_chargeDeclinedLostCard"
        | "pm_card_chargeDeclinedLostCard" => "4000000000009987",
        "pm_card_visa_chargeDeclinedStolenCard"
        | "tok_visa_chargeDeclinedStolenCard"
        | "pm_card_chargeDeclinedStolenCard" => "4000000000009979",
        "pm_card_visa_chargeDeclinedVelocityLimitExceeded" => "4000000000006975",
        "pm_card_bypassPending" | "tok_bypassPending" => "4000000000000077",
        "pm_card_chargeDeclinedExpiredCard" => "4000000000000069",
        "pm_card_chargeDeclinedIncorrectCvc" => "4000000000000127",
        "pm_card_chargeDeclinedProcessingError" => "4000000000000119",
        "pm_card_authenticationRequired" => "4000002760003184",
        "pm_card_threeDSecure2Required" => "4000000000003220",
        _ => return None,
    })
}

fn brand(digits: &str) -> &'static str {
    let prefix2: u32 = digits[..2].parse().unwrap_or(0);
    let prefix4: u32 = digits[..4].parse().unwrap_or(0);
    match digits.as_bytes()[0] {
        b'4' => "visa",
        _ if (51..=55).contains(&prefix2) || (2221..=2720).contains(&prefix4) => "mastercard",
        _ if prefix2 == 34 || prefix2 == 37 => "amex",
        _ if prefix4 == 6011 || prefix2 == 65 => "discover",
        _ => "unknown",
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Pays session `session_id` as the customer would on its page.
pub fn pay(data: &mut AccountData, session_id: &str, request: &PayRequest) -> ApiResult<PayResult> {
    let session = data
        .store
        .get("checkout.session", session_id)
        .ok_or_else(|| ApiError::no_such("checkout.session", session_id, "id"))?;
    match session["status"].as_str() {
        Some("open") => {}
        Some(status) => {
            return Err(ApiError::bad_state(format!(
                "This Checkout Session is {status} and can no longer be paid."
            ))
            .with_code("checkout_session_not_open"));
        }
        None => return Err(ApiError::internal("session without status")),
    }
    let method = request.payment_method.as_str();
    check_method_offered(&session, method)?;
    let entered = read_entry(data, &session, request)?;
    if method == "card" {
        return pay_card(data, session_id, session, request, entered);
    }
    pay_bank_debit(data, session_id, &session, method, request, entered)
}

/// Checks that the session offers `method`: among its allowed methods
/// when it lists them, and otherwise in a currency the method takes.
fn check_method_offered(session: &Value, method: &str) -> ApiResult<()> {
    if !crate::resources::payment_checks::PAYMENT_METHODS.contains(&method) {
        return Err(ApiError::invalid_param(
            "payment_method",
            format!("Unknown payment method `{method}`: use card, sepa_debit or us_bank_account."),
        ));
    }
    let allowed: Option<Vec<String>> =
        serde_json::from_value(session["_allowed_methods"].clone()).unwrap_or(None);
    let currency = session["currency"].as_str().unwrap_or_default();
    match &allowed {
        Some(types) if !types.iter().any(|t| t == method) => {
            return Err(ApiError::invalid_param(
                "payment_method",
                format!(
                    "This session offers {} only, not {method}.",
                    types.join(", ")
                ),
            ));
        }
        None if method == "sepa_debit" && currency != "eur" => {
            return Err(ApiError::invalid_param(
                "payment_method",
                format!("sepa_debit is offered only for eur sessions; this one is in {currency}."),
            ));
        }
        None if method == "us_bank_account" && currency != "usd" => {
            return Err(ApiError::invalid_param(
                "payment_method",
                format!(
                    "us_bank_account is offered only for usd sessions; this one is in {currency}."
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Reads and checks what the customer enters on the page besides the
/// payment details: email, name, phone, addresses, consent and custom
/// fields.
fn read_entry(
    data: &AccountData,
    session: &Value,
    request: &PayRequest,
) -> ApiResult<CustomerEntry> {
    // What the customer types may become a customer's email and name.
    if let Some(email) = &request.email {
        check_entered("email", email, crate::resources::customers::MAX_EMAIL_CHARS)?;
    }
    if let Some(name) = &request.name {
        check_entered("name", name, crate::resources::customers::MAX_NAME_CHARS)?;
    }
    if let Some(email) = &request.email
        && !email.contains('@')
    {
        return Err(ApiError::invalid_param(
            "email",
            format!("Invalid email address: {email}"),
        ));
    }
    // Checkout shows the email the session brings and does not let the
    // customer change it.
    let fixed_email = fixed_email(data, session);
    // The comparison ignores case, as a buyer may type the address shown
    // in other letters.
    if let (Some(fixed), Some(given)) = (&fixed_email, &request.email)
        && fixed.to_lowercase() != given.to_lowercase()
    {
        return Err(ApiError::invalid_param(
            "email",
            format!(
                "This session has the email {fixed}, which Checkout shows and does not let the customer change; leave email out or send {fixed}."
            ),
        ));
    }
    let phone = entered_phone(session, request.phone.as_deref())?;
    let address = entered_address(session, request.address.as_ref())?;
    let shipping = entered_shipping(session, request.shipping.as_ref(), request.name.as_deref())?;
    let consent = entered_consent(session, request)?;
    let custom_fields = crate::resources::custom_fields::enter(
        &session["custom_fields"],
        request.custom_fields.as_ref(),
    )?;
    // The session's spelling wins over a matching one typed in another
    // case.
    let email = fixed_email
        .or_else(|| request.email.clone())
        .or_else(|| Some(DEFAULT_EMAIL.to_owned()));
    let name = request.name.clone();
    Ok(CustomerEntry {
        email,
        name,
        phone,
        address,
        shipping,
        consent,
        custom_fields,
    })
}

/// Pays an open session by card: the card number decides the outcome,
/// and a declined card leaves the session open.
fn pay_card(
    data: &mut AccountData,
    session_id: &str,
    session: Value,
    request: &PayRequest,
    entered: CustomerEntry,
) -> ApiResult<PayResult> {
    let origin = Origin::default();
    let number = request
        .card_number
        .as_deref()
        .ok_or_else(|| ApiError::missing_param("card_number"))?;
    let card = session_card(&session, number)?;
    if request.outcome.is_some() || request.delay_seconds.is_some() {
        return Err(ApiError::invalid_param(
            "outcome",
            "outcome and delay_seconds apply to sepa_debit and us_bank_account; a card's number decides its outcome.",
        ));
    }
    let fail_3ds = match request.three_d_secure.as_deref() {
        None | Some("complete") => false,
        Some("fail") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "three_d_secure",
                format!("Use complete or fail, not `{other}`."),
            ));
        }
    };
    data.trace("customer", json!({"session": session_id, "action": "pay", "method": "card", "card": last4(&card.number)}));
    let pi_id = ensure_payment_intent(data, session_id, &origin);
    record_shipping(data, &pi_id, &entered.shipping);
    let pm = payment_method(data, "card", Some(&card), entered_billing_details(&entered));
    let authentication = if fail_3ds {
        Authentication::Fail
    } else {
        Authentication::Complete
    };
    let result = attempt_card(data, &pi_id, &pm, &card, authentication, &origin);
    match result {
        Err(decline) => {
            let session = data
                .store
                .get("checkout.session", session_id)
                .unwrap_or(session);
            Ok(PayResult {
                result: "declined",
                redirect_url: None,
                session: public(&session),
                error: Some(decline),
            })
        }
        Ok(pi) => {
            // An authorization that waits for its capture has moved no
            // funds yet, so the session stays unpaid until the capture.
            let awaiting_capture = pi["status"] == "requires_capture";
            let payment_status = if awaiting_capture { "unpaid" } else { "paid" };
            let completed =
                complete_session(data, session_id, &pi_id, payment_status, entered, &origin);
            if !awaiting_capture {
                crate::faults::start_lag(data, session_id, &session);
                attach_balance_transaction(data, &pi_id, &origin);
            }
            Ok(PayResult {
                result: "succeeded",
                redirect_url: redirect_url(&completed),
                session: public(&completed),
                error: None,
            })
        }
    }
}

/// Pays an open session by SEPA Direct Debit or US bank account: the
/// session completes unpaid and the payment settles after a delay.
fn pay_bank_debit(
    data: &mut AccountData,
    session_id: &str,
    session: &Value,
    method: &str,
    request: &PayRequest,
    entered: CustomerEntry,
) -> ApiResult<PayResult> {
    let origin = Origin::default();
    if request.card_number.is_some() || request.three_d_secure.is_some() {
        return Err(ApiError::invalid_param(
            "card_number",
            format!("card_number applies to card payments, not {method}."),
        ));
    }
    let succeed = match request.outcome.as_deref() {
        None | Some("succeeded") => true,
        Some("failed") => false,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "outcome",
                format!("Use succeeded or failed, not `{other}`."),
            ));
        }
    };
    let delay = request.delay_seconds.unwrap_or(DEFAULT_SETTLE_DELAY);
    if !(0..=MAX_SETTLE_DELAY).contains(&delay) {
        return Err(ApiError::invalid_param(
            "delay_seconds",
            format!("delay_seconds must be between 0 and {MAX_SETTLE_DELAY} (30 days)."),
        ));
    }
    data.trace("customer", json!({"session": session_id, "action": "pay", "method": method, "outcome": if succeed { "succeeded" } else { "failed" }, "delay_seconds": delay}));
    let pi_id = ensure_payment_intent(data, session_id, &origin);
    record_shipping(data, &pi_id, &entered.shipping);
    let pm = payment_method(data, method, None, entered_billing_details(&entered));
    let completed = complete_session(data, session_id, &pi_id, "unpaid", entered, &origin);
    crate::faults::start_lag(data, session_id, session);
    start_processing(data, &pi_id, &pm, &origin);
    let now = data.now();
    data.schedule(
        now + delay,
        Task::SettleAsync {
            session_id: session_id.into(),
            succeed,
        },
    );
    Ok(PayResult {
        result: "processing",
        redirect_url: redirect_url(&completed),
        session: public(&completed),
        error: None,
    })
}

/// Where the browser goes when it cancels on the page. Only an open
/// session has a page to cancel from.
pub fn cancel_url(data: &AccountData, session_id: &str) -> ApiResult<Option<String>> {
    let session = data
        .store
        .get("checkout.session", session_id)
        .ok_or_else(|| ApiError::no_such("checkout.session", session_id, "id"))?;
    if session["status"] != "open" {
        return Err(ApiError::bad_state(format!(
            "This Checkout Session is {} and can no longer be cancelled.",
            session["status"].as_str().unwrap_or_default()
        ))
        .with_code("checkout_session_not_open"));
    }
    Ok(session["cancel_url"].as_str().map(str::to_owned))
}

fn last4(number: &str) -> &str {
    &number[number.len().saturating_sub(4)..]
}

/// `success_url` (or `return_url`) with the literal `{CHECKOUT_SESSION_ID}`
/// replaced. Only that exact token is replaced: a percent-encoded one stays
/// as it is, as on Stripe.
pub fn redirect_url(session: &Value) -> Option<String> {
    let id = session["id"].as_str().unwrap_or_default();
    session["success_url"]
        .as_str()
        .or_else(|| session["return_url"].as_str())
        .map(|url| url.replace("{CHECKOUT_SESSION_ID}", id))
}

/// The session's payment intent, created on the first attempt.
fn ensure_payment_intent(data: &mut AccountData, session_id: &str, origin: &Origin) -> String {
    let session = data
        .store
        .get("checkout.session", session_id)
        .unwrap_or_default();
    if let Some(id) = session["payment_intent"].as_str() {
        return id.to_owned();
    }
    let pi = payment_intent_for(data, &session, origin);
    let id = pi["id"].as_str().unwrap_or_default().to_owned();
    let mut updated = session;
    updated["payment_intent"] = json!(id);
    save(data, "checkout.session", session_id, &updated);
    id
}

/// Creates the payment intent of a session. It carries
/// `payment_intent_data.metadata`, never the session's own metadata.
pub fn payment_intent_for(data: &mut AccountData, session: &Value, origin: &Origin) -> Value {
    let pid = &session["_payment_intent_data"];
    let metadata = pid["metadata"].as_object().cloned().unwrap_or_default();
    let metadata = crate::faults::payment_intent_metadata(data, session, metadata);
    let spec = IntentSpec {
        amount: session["amount_total"].as_i64().unwrap_or(0),
        currency: session["currency"].as_str().unwrap_or("usd").to_owned(),
        customer: session["customer"].clone(),
        description: pid["description"].clone(),
        metadata,
        capture_method: pid["capture_method"]
            .as_str()
            .unwrap_or(crate::wire::version::default_capture_method(
                crate::wire::version::DEFAULT_API_VERSION,
            ))
            .to_owned(),
        payment_method_types: session["payment_method_types"].clone(),
        allowed_payment_method_types: Value::Null,
        excluded_payment_method_types: Value::Null,
        automatic_payment_methods: Value::Null,
        receipt_email: pid["receipt_email"].clone(),
        statement_descriptor: pid["statement_descriptor"].clone(),
        statement_descriptor_suffix: pid["statement_descriptor_suffix"].clone(),
        setup_future_usage: pid["setup_future_usage"].clone(),
        transfer_group: pid["transfer_group"].clone(),
        shipping: pid["shipping"].clone(),
        payment_method_options: intent_method_options(session),
    };
    let pi = new_payment_intent(data, spec, origin);
    crate::faults::after_payment_intent_created(data, pi["id"].as_str().unwrap_or_default());
    pi
}

/// Returns the `payment_method_options` of a session's payment intent:
/// the session's card options in the shape of a payment intent's, or an
/// empty object when the session has none.
fn intent_method_options(session: &Value) -> Value {
    let Some(card) = session["payment_method_options"]["card"].as_object() else {
        return json!({});
    };
    let mut options = Map::new();
    if let Some(method) = card.get("capture_method") {
        options.insert("capture_method".into(), method.clone());
    }
    options.insert("installments".into(), Value::Null);
    options.insert("mandate_options".into(), Value::Null);
    options.insert("network".into(), Value::Null);
    for name in [
        "request_three_d_secure",
        "setup_future_usage",
        "statement_descriptor_suffix_kana",
        "statement_descriptor_suffix_kanji",
    ] {
        if let Some(value) = card.get(name) {
            options.insert(name.into(), value.clone());
        }
    }
    json!({ "card": options })
}

/// The fields a payment intent is created with.
#[derive(Debug, Clone)]
pub struct IntentSpec {
    pub amount: i64,
    pub currency: String,
    pub customer: Value,
    pub description: Value,
    pub metadata: Map<String, Value>,
    pub capture_method: String,
    pub payment_method_types: Value,
    /// The `allowed_payment_method_types` the intent was created with, or
    /// null.
    pub allowed_payment_method_types: Value,
    /// The `excluded_payment_method_types` the intent was created with, or
    /// null.
    pub excluded_payment_method_types: Value,
    /// `{allow_redirects, enabled}`, or null.
    pub automatic_payment_methods: Value,
    pub receipt_email: Value,
    pub statement_descriptor: Value,
    pub statement_descriptor_suffix: Value,
    pub setup_future_usage: Value,
    /// The group that the intent's charges carry in `transfer_group`.
    pub transfer_group: Value,
    /// The shipping details that the intent and its charges carry, or null.
    pub shipping: Value,
    /// Options by payment method type, such as `card`'s, which override
    /// the intent's own `capture_method` and `setup_future_usage` for
    /// payments of that type.
    pub payment_method_options: Value,
}

/// Stores a payment intent in `requires_payment_method` and emits
/// `payment_intent.created`.
pub fn new_payment_intent(data: &mut AccountData, spec: IntentSpec, origin: &Origin) -> Value {
    let id = data.new_id("pi_");
    let secret = data.ids.next("");
    let now = data.now();
    let pi = json!({
        "id": id,
        "object": "payment_intent",
        "allowed_payment_method_types": spec.allowed_payment_method_types,
        "amount": spec.amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": spec.automatic_payment_methods,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": spec.capture_method,
        "client_secret": format!("{id}_secret_{secret}"),
        "confirmation_method": "automatic",
        "created": now,
        "currency": spec.currency,
        "customer": spec.customer,
        "description": spec.description,
        "excluded_payment_method_types": spec.excluded_payment_method_types,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": false,
        "metadata": spec.metadata,
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": null,
        "payment_method_configuration_details": null,
        "payment_method_options": spec.payment_method_options,
        "payment_method_types": spec.payment_method_types,
        "processing": null,
        "receipt_email": spec.receipt_email,
        "review": null,
        "setup_future_usage": spec.setup_future_usage,
        "shipping": spec.shipping,
        "source": null,
        "statement_descriptor": spec.statement_descriptor,
        "statement_descriptor_suffix": spec.statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": null,
        "transfer_group": spec.transfer_group,
    });
    save(data, "payment_intent", &id, &pi);
    emit(data, "payment_intent.created", &pi, None, origin);
    pi
}

/// Stores a payment method for the customer's card or bank account, with
/// `billing_details` as given.
pub fn payment_method(
    data: &mut AccountData,
    kind: &str,
    card: Option<&TestCard>,
    billing_details: Value,
) -> Value {
    let id = data.new_id("pm_");
    let now = data.now();
    let mut pm = json!({
        "id": id,
        "object": "payment_method",
        // Checkout's consent to show a saved card again is not modelled.
        "allow_redisplay": "unspecified",
        "billing_details": billing_details,
        "created": now,
        "customer": null,
        "livemode": false,
        "metadata": {},
        "type": kind,
    });
    match (kind, card) {
        ("card", Some(card)) => {
            data.card_numbers.insert(id.clone(), card.number.clone());
            pm["card"] = json!({
                "brand": card.brand,
                "checks": {"address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass"},
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": 2034,
                "fingerprint": fingerprint(&card.number),
                "funding": "credit",
                "generated_from": null,
                "last4": last4(&card.number),
                "networks": {"available": [card.brand], "preferred": null},
                "three_d_secure_usage": {"supported": true},
                "wallet": null,
            });
        }
        ("sepa_debit", _) => {
            pm["sepa_debit"] = json!({"bank_code": "37040044", "country": "DE", "last4": "3000"});
        }
        ("us_bank_account", _) => {
            pm["us_bank_account"] = json!({"account_holder_type": "individual", "account_type": "checking", "bank_name": "STRIPE TEST BANK", "last4": "6789", "routing_number": "110000000"});
        }
        _ => {}
    }
    save(data, "payment_method", &id, &pm);
    pm
}

/// Returns the `billing_details` of a payment method that no one entered
/// details for, such as one made from a test payment method id.
pub fn empty_billing_details() -> Value {
    json!({"address": null, "email": null, "name": null, "phone": null})
}

/// Returns the `billing_details` of the payment method a customer pays
/// with on the page: the email, the name and, where the session collects
/// one, the billing address entered. Stripe's reference for a session's
/// `customer` states that Checkout prefills a card only from a payment
/// method with a billing address, name and email, which Checkout's own
/// payment methods carry.
fn entered_billing_details(entered: &CustomerEntry) -> Value {
    // NOTE: `phone` stays null even when the session collects a phone,
    // because Stripe's guide to collecting phone numbers names only the
    // customer and `customer_details` as where the phone is saved.
    json!({
        "address": entered.address,
        "email": entered.email,
        "name": entered.name,
        "phone": null,
    })
}

/// Copies the shipping details entered on the page into the `shipping` of
/// the session's payment intent, before the payment creates a charge, so
/// the charge carries them too. The name and address entered replace
/// those of `payment_intent_data[shipping]`, whose `carrier`, `phone` and
/// `tracking_number` stay.
// NOTE: Stripe's reference does not name the intent's `shipping` here.
// Its guide to collecting addresses states that the details show on the
// payment's page in the Dashboard, and that page shows the intent's
// `shipping`.
fn record_shipping(data: &mut AccountData, pi_id: &str, shipping: &Value) {
    if shipping.is_null() {
        return;
    }
    let Some(mut pi) = data.store.get("payment_intent", pi_id) else {
        return;
    };
    let intent_shipping = &pi["shipping"];
    pi["shipping"] = json!({
        "address": shipping["address"],
        "carrier": intent_shipping["carrier"],
        "name": shipping["name"],
        "phone": intent_shipping["phone"],
        "tracking_number": intent_shipping["tracking_number"],
    });
    save(data, "payment_intent", pi_id, &pi);
}

/// Derives a card's fingerprint: sixteen letters and digits, the same for
/// every payment with the same number, as Stripe's are within an account.
/// An app uses it to recognize a returning card.
fn fingerprint(number: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // FNV-1a, fixed so that fingerprints do not change between runs.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    (0..16)
        .map(|round| {
            for byte in number.bytes().chain([round]) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            char::from(ALPHABET[(hash % 62) as usize])
        })
        .collect()
}

/// Returns the descriptor on the customer's statement: the intent's own,
/// or the fake account's name followed by the intent's suffix.
fn statement_descriptor(pi: &Value) -> Value {
    if !pi["statement_descriptor"].is_null() {
        return pi["statement_descriptor"].clone();
    }
    // Stripe cuts the whole descriptor to 22 characters.
    match pi["statement_descriptor_suffix"].as_str() {
        Some(suffix) => json!(
            format!("FAKESTRIPE* {suffix}")
                .chars()
                .take(22)
                .collect::<String>()
        ),
        None => json!("FAKESTRIPE"),
    }
}

/// A card payment's `payment_method_details.card`, from its payment
/// method's card: the charge names the network and the outcome of 3-D
/// Secure where the payment method names what the card supports.
fn charge_card_details(pm: &Value, authenticated: bool) -> Value {
    let card = &pm["card"];
    json!({
        "brand": card["brand"],
        "checks": card["checks"],
        "country": card["country"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "fingerprint": card["fingerprint"],
        "funding": card["funding"],
        "last4": card["last4"],
        "network": card["brand"],
        "three_d_secure": authenticated.then(|| json!({"authentication_flow": "challenge", "result": "authenticated", "result_reason": null, "version": "2.2.0"})),
        "wallet": null,
    })
}

/// The customer's response to a 3-D Secure challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// The customer completes the challenge on the page.
    Complete,
    /// The customer fails the challenge.
    Fail,
    /// No customer is present to respond: a server-side confirmation stops at
    /// `requires_action`, as on Stripe.
    Pending,
    /// The payment is made off-session, so no customer can respond. A card
    /// that requires authentication is declined with
    /// `authentication_required`.
    Unavailable,
}

/// The decline of a card that requires 3-D Secure in an off-session
/// payment, with the code and message from Stripe's card testing page.
const AUTHENTICATION_REQUIRED: CardBehaviour = CardBehaviour::Declines {
    code: "authentication_required",
    decline_code: Some("authentication_required"),
    message: "Your card was declined. This transaction requires authentication.",
};

/// Resolves a payment intent's `payment_method` to the card it charges:
/// one of Stripe's test payment methods, or a card payment method the
/// fake made that is attached to `customer`. Returns the stored payment
/// method too in the second case, to be charged as it is.
pub fn card_for_payment_method(
    data: &AccountData,
    pm_id: &str,
    customer: Option<&str>,
) -> ApiResult<(TestCard, Option<Value>)> {
    if let Some(number) = test_payment_method_number(pm_id) {
        return Ok((test_card(number)?, None));
    }
    let (Some(number), Some(pm)) = (
        data.card_numbers.get(pm_id),
        data.store.get("payment_method", pm_id),
    ) else {
        return Err(ApiError::no_such_param(
            "payment_method",
            pm_id,
            "payment_method",
        ));
    };
    match (pm["customer"].as_str(), customer) {
        (None, _) => Err(ApiError::invalid_param(
            "payment_method",
            format!(
                "The PaymentMethod {pm_id} was used once without being attached to a customer, so it cannot be used again. Save a card for reuse with setup_future_usage and a customer."
            ),
        )),
        (Some(owner), Some(customer)) if owner == customer => Ok((test_card(number)?, Some(pm))),
        (Some(owner), _) => Err(ApiError::invalid_param(
            "payment_method",
            format!(
                "The PaymentMethod {pm_id} belongs to the customer {owner}; set customer={owner} on the PaymentIntent to use it."
            ),
        )),
    }
}

/// One card attempt on a payment intent. On success the payment intent
/// is `succeeded` (or `requires_capture` with manual capture); on a decline
/// it is back in `requires_payment_method` and the error is returned.
pub fn attempt_card(
    data: &mut AccountData,
    pi_id: &str,
    pm: &Value,
    card: &TestCard,
    authentication: Authentication,
    origin: &Origin,
) -> Result<Value, Value> {
    let mut pi = data.store.get("payment_intent", pi_id).unwrap_or_default();
    let pm_id = pm["id"].clone();
    let off_session_decline;
    let card = if card.behaviour == CardBehaviour::Authenticates
        && authentication == Authentication::Unavailable
    {
        off_session_decline = TestCard {
            behaviour: AUTHENTICATION_REQUIRED,
            ..card.clone()
        };
        &off_session_decline
    } else {
        card
    };
    if card.behaviour == CardBehaviour::Authenticates {
        let before = pi.clone();
        pi["status"] = json!("requires_action");
        pi["payment_method"] = pm_id.clone();
        pi["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}});
        save(data, "payment_intent", pi_id, &pi);
        emit(
            data,
            "payment_intent.requires_action",
            &pi,
            Some(changed_fields(&before, &pi)),
            origin,
        );
        if authentication == Authentication::Pending {
            return Ok(pi);
        }
        pi["next_action"] = Value::Null;
        if authentication == Authentication::Fail {
            let error = json!({
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided payment method has failed authentication. Provide a new payment method to attempt to fulfill this PaymentIntent again.",
                "payment_method": pm,
            });
            pi["status"] = json!("requires_payment_method");
            pi["payment_method"] = Value::Null;
            pi["last_payment_error"] = error.clone();
            save(data, "payment_intent", pi_id, &pi);
            emit(data, "payment_intent.payment_failed", &pi, None, origin);
            return Err(error);
        }
    }
    let amount = pi["amount"].as_i64().unwrap_or(0);
    let charge_id = data.new_id("ch_");
    let now = data.now();
    let (status, outcome, failure) = match &card.behaviour {
        CardBehaviour::Declines {
            code,
            decline_code,
            message,
        } => (
            "failed",
            json!({"network_status": "declined_by_network", "reason": decline_code, "risk_level": "normal", "risk_score": 30, "seller_message": "The bank did not return any further details with this decline.", "type": "issuer_declined"}),
            Some((*code, *decline_code, *message)),
        ),
        _ => (
            "succeeded",
            json!({"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized"}),
            None,
        ),
    };
    let manual = card_capture_method(&pi) == "manual";
    let captured = failure.is_none() && !manual;
    let mut charge = json!({
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": if captured { amount } else { 0 },
        "amount_refunded": 0,
        "application_fee_amount": null,
        "balance_transaction": null,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": statement_descriptor(&pi),
        "captured": captured,
        "created": now,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": false,
        "failure_code": failure.map(|f| f.0),
        "failure_message": failure.map(|f| f.2),
        "fraud_details": {},
        "livemode": false,
        "metadata": pi["metadata"],
        "on_behalf_of": null,
        "outcome": outcome,
        "paid": failure.is_none(),
        "payment_intent": pi_id,
        "payment_method": pm_id,
        "payment_method_details": {
            "card": charge_card_details(pm, card.behaviour == CardBehaviour::Authenticates),
            "type": "card",
        },
        "receipt_email": pi["receipt_email"],
        "receipt_number": null,
        "receipt_url": null,
        "refunded": false,
        "shipping": pi["shipping"],
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
        "status": status,
        "transfer_group": pi["transfer_group"],
    });
    if manual && failure.is_none() {
        charge["payment_method_details"]["card"]["capture_before"] =
            json!(now + AUTHORIZATION_SECONDS);
    }
    if captured && card_capture_method(&pi) == "automatic" {
        // A synchronous capture settles the balance before the charge's
        // events are sent, so no `charge.updated` follows.
        charge["balance_transaction"] = json!(record_balance_transaction(data, &charge));
    }
    save(data, "charge", &charge_id, &charge);
    let before = pi.clone();
    pi["latest_charge"] = json!(charge_id);
    if let Some((code, decline_code, message)) = failure {
        emit(data, "charge.failed", &charge, None, origin);
        let error = json!({
            "type": "card_error",
            "charge": charge_id,
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "payment_method": pm,
        });
        pi["status"] = json!("requires_payment_method");
        pi["payment_method"] = Value::Null;
        pi["last_payment_error"] = error.clone();
        save(data, "payment_intent", pi_id, &pi);
        emit(
            data,
            "payment_intent.payment_failed",
            &pi,
            Some(changed_fields(&before, &pi)),
            origin,
        );
        return Err(error);
    }
    emit(data, "charge.succeeded", &charge, None, origin);
    pi["payment_method"] = pm_id;
    pi["last_payment_error"] = Value::Null;
    if manual {
        pi["status"] = json!("requires_capture");
        pi["amount_capturable"] = json!(amount);
        save(data, "payment_intent", pi_id, &pi);
        data.schedule(
            now + AUTHORIZATION_SECONDS,
            Task::ExpireAuthorization {
                payment_intent: pi_id.into(),
            },
        );
        emit(
            data,
            "payment_intent.amount_capturable_updated",
            &pi,
            Some(changed_fields(&before, &pi)),
            origin,
        );
    } else {
        pi["status"] = json!("succeeded");
        pi["amount_received"] = json!(amount);
        save(data, "payment_intent", pi_id, &pi);
        emit(
            data,
            "payment_intent.succeeded",
            &pi,
            Some(changed_fields(&before, &pi)),
            origin,
        );
    }
    attach_for_future_usage(data, &pi, origin);
    Ok(pi)
}

/// Returns how a payment intent captures a card payment: its
/// `payment_method_options[card][capture_method]`, or else its own
/// `capture_method`.
fn card_capture_method(pi: &Value) -> &str {
    pi["payment_method_options"]["card"]["capture_method"]
        .as_str()
        .or_else(|| pi["capture_method"].as_str())
        .unwrap_or_default()
}

/// Attaches a confirmed payment intent's payment method to the intent's
/// customer when the intent was made with `setup_future_usage`, for all
/// payment methods or for the method's type in `payment_method_options`,
/// as Stripe does once the intent is confirmed, and emits
/// `payment_method.attached`. Without a customer the method stays
/// unattached.
fn attach_for_future_usage(data: &mut AccountData, pi: &Value, origin: &Origin) {
    let no_options = pi["payment_method_options"]
        .as_object()
        .is_none_or(Map::is_empty);
    if pi["setup_future_usage"].is_null() && no_options {
        return;
    }
    let (Some(customer), Some(pm_id)) = (pi["customer"].as_str(), pi["payment_method"].as_str())
    else {
        return;
    };
    let Some(mut pm) = data.store.get("payment_method", pm_id) else {
        return;
    };
    let method_type = pm["type"].as_str().unwrap_or_default();
    let per_type = &pi["payment_method_options"][method_type]["setup_future_usage"];
    let usage = if per_type.is_null() {
        &pi["setup_future_usage"]
    } else {
        per_type
    };
    if usage.is_null() || usage == "none" {
        return;
    }

    // A deleted customer takes no payment methods.
    if !data.store.contains("customer", customer) {
        return;
    }
    if !pm["customer"].is_null() {
        return;
    }
    pm["customer"] = json!(customer);
    save(data, "payment_method", pm_id, &pm);
    emit(data, "payment_method.attached", &pm, None, origin);
}

/// Creates the balance transaction of a payment intent's latest charge and
/// emits `charge.updated`, as Stripe does shortly after the charge.
pub fn attach_balance_transaction(data: &mut AccountData, pi_id: &str, origin: &Origin) {
    let Some(charge_id) = data
        .store
        .get("payment_intent", pi_id)
        .and_then(|pi| pi["latest_charge"].as_str().map(str::to_owned))
    else {
        return;
    };
    let Some(mut charge) = data.store.get("charge", &charge_id) else {
        return;
    };
    if !charge["balance_transaction"].is_null() || charge["captured"] != json!(true) {
        return;
    }
    let txn_id = record_balance_transaction(data, &charge);
    let before = charge.clone();
    charge["balance_transaction"] = json!(txn_id);
    save(data, "charge", &charge_id, &charge);
    emit(
        data,
        "charge.updated",
        &charge,
        Some(changed_fields(&before, &charge)),
        origin,
    );
}

/// Stores the balance transaction of a captured charge, with Stripe's
/// card or bank debit fee, and returns its id.
fn record_balance_transaction(data: &mut AccountData, charge: &Value) -> String {
    let charge_id = charge["id"].as_str().unwrap_or_default().to_owned();
    let amount = charge["amount_captured"].as_i64().unwrap_or(0);
    let kind = charge["payment_method_details"]["type"]
        .as_str()
        .unwrap_or("card")
        .to_owned();
    let fee = match kind.as_str() {
        "sepa_debit" => 35,
        "us_bank_account" => ((amount as f64) * 0.008).round().min(500.0) as i64,
        _ => ((amount as f64) * 0.029).round() as i64 + 30,
    };
    let txn_id = data.new_id("txn_");
    let now = data.now();
    let txn = json!({
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now + 2 * 24 * 3600,
        "created": now,
        "currency": charge["currency"],
        "description": charge["description"],
        "exchange_rate": null,
        "fee": fee,
        "fee_details": [{"amount": fee, "application": null, "currency": charge["currency"], "description": "Stripe processing fees", "type": "stripe_fee"}],
        "net": amount - fee,
        "reporting_category": "charge",
        "source": charge_id,
        "status": "pending",
        "type": "charge",
    });
    save(data, "balance_transaction", &txn_id, &txn);
    txn_id
}

/// Puts a payment intent in `processing` with a pending charge, for a
/// method that settles later.
fn start_processing(data: &mut AccountData, pi_id: &str, pm: &Value, origin: &Origin) {
    let Some(mut pi) = data.store.get("payment_intent", pi_id) else {
        return;
    };
    let before = pi.clone();
    let charge_id = data.new_id("ch_");
    let now = data.now();
    let kind = pm["type"].as_str().unwrap_or_default().to_owned();
    let amount = pi["amount"].as_i64().unwrap_or(0);
    let charge = json!({
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application_fee_amount": null,
        "balance_transaction": null,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": statement_descriptor(&pi),
        "captured": true,
        "created": now,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": false,
        "failure_code": null,
        "failure_message": null,
        "fraud_details": {},
        "livemode": false,
        "metadata": pi["metadata"],
        "on_behalf_of": null,
        "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "not_assessed", "seller_message": "Payment complete.", "type": "authorized"},
        "paid": false,
        "payment_intent": pi_id,
        "payment_method": pm["id"],
        "payment_method_details": {kind.clone(): pm[&kind], "type": kind},
        "receipt_email": pi["receipt_email"],
        "receipt_number": null,
        "receipt_url": null,
        "refunded": false,
        "shipping": pi["shipping"],
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
        "status": "pending",
        "transfer_group": pi["transfer_group"],
    });
    save(data, "charge", &charge_id, &charge);
    pi["status"] = json!("processing");
    pi["payment_method"] = pm["id"].clone();
    pi["latest_charge"] = json!(charge_id);
    save(data, "payment_intent", pi_id, &pi);
    emit(
        data,
        "payment_intent.processing",
        &pi,
        Some(changed_fields(&before, &pi)),
        origin,
    );
    emit(data, "charge.pending", &charge, None, origin);
    attach_for_future_usage(data, &pi, origin);
}

/// The customer's input on the page, after the defaults of a payment
/// through the control API are applied.
struct CustomerEntry {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    /// The billing address as a customer's `address` object, or null when
    /// the session collects none.
    address: Value,
    /// The shipping details as `name` and `address`, or null when the
    /// session collects none.
    shipping: Value,
    /// The session's `consent`: null unless it has `consent_collection`.
    consent: Value,
    /// The session's `custom_fields` with the values entered.
    custom_fields: Value,
}

/// Returns the session's `consent` after a payment: `terms_of_service` is
/// `accepted` where the terms are required, and `promotions` is the
/// customer's choice where the session collects it. Either is null
/// otherwise.
fn entered_consent(session: &Value, request: &PayRequest) -> ApiResult<Value> {
    let collection = &session["consent_collection"];
    let asks_promotions = collection["promotions"] == "auto";
    let promotions = match (request.promotions.as_deref(), asks_promotions) {
        (Some(answer @ ("opt_in" | "opt_out")), true) => Some(answer),
        (None, true) => Some("opt_out"),
        (Some(other), true) => {
            return Err(ApiError::invalid_param(
                "promotions",
                format!("Use opt_in or opt_out, not `{other}`."),
            ));
        }
        (Some(_), false) => {
            return Err(ApiError::invalid_param(
                "promotions",
                "This session does not ask for promotional consent. Leave promotions out, or create the session with consent_collection[promotions]=auto.",
            ));
        }
        (None, false) => None,
    };
    let requires_terms = collection["terms_of_service"] == "required";
    let terms = match (request.terms_of_service.as_deref(), requires_terms) {
        (None | Some("accepted"), true) => Some("accepted"),
        (Some(other), true) => {
            return Err(ApiError::invalid_param(
                "terms_of_service",
                format!(
                    "This session requires the customer to accept the terms of service before paying; send accepted or leave it out, not `{other}`."
                ),
            ));
        }
        (Some(_), false) => {
            return Err(ApiError::invalid_param(
                "terms_of_service",
                "This session does not ask for the terms of service. Leave terms_of_service out, or create the session with consent_collection[terms_of_service]=required.",
            ));
        }
        (None, false) => None,
    };
    if collection.is_null() {
        return Ok(Value::Null);
    }
    Ok(json!({"promotions": promotions, "terms_of_service": terms}))
}

/// Returns the phone number a payment enters: the one given, or
/// `DEFAULT_PHONE`, on a session that collects one. Any other session
/// has no phone field, so a phone given for it is a 400.
fn entered_phone(session: &Value, given: Option<&str>) -> ApiResult<Option<String>> {
    let collects_phone = session["phone_number_collection"]["enabled"] == true;
    match (given, collects_phone) {
        (Some(phone), true) => {
            check_entered("phone", phone, crate::resources::customers::MAX_PHONE_CHARS)?;
            Ok(Some(phone.to_owned()))
        }
        (None, true) => Ok(Some(DEFAULT_PHONE.to_owned())),
        (Some(_), false) => Err(ApiError::invalid_param(
            "phone",
            "This session does not collect a phone number. Leave phone out, or create the session with phone_number_collection[enabled]=true.",
        )),
        (None, false) => Ok(None),
    }
}

/// Returns the billing address a payment enters: the one given, or
/// `DEFAULT_ADDRESS`, on a session with
/// `billing_address_collection=required`. Any other session collects no
/// address, because the fake calculates no tax, the case in which Stripe
/// collects one under `auto`. An address given for it is a 400.
fn entered_address(session: &Value, given: Option<&AddressInput>) -> ApiResult<Value> {
    let collects_address = session["billing_address_collection"] == "required";
    match (given, collects_address) {
        (Some(address), true) => address_object("address", address),
        (None, true) => Ok(DEFAULT_ADDRESS.clone()),
        (Some(_), false) => Err(ApiError::invalid_param(
            "address",
            "This session does not collect a billing address. Leave address out, or create the session with billing_address_collection=required.",
        )),
        (None, false) => Ok(Value::Null),
    }
}

/// Returns the shipping details a payment enters on a session with
/// `shipping_address_collection`: the ones given, or else
/// `DEFAULT_ADDRESS` in the first allowed country. The recipient's name
/// defaults to the payment's `name`. Shipping details given for any
/// other session are a 400.
fn entered_shipping(
    session: &Value,
    given: Option<&ShippingInput>,
    payer_name: Option<&str>,
) -> ApiResult<Value> {
    let Some(allowed) = session["shipping_address_collection"]["allowed_countries"].as_array()
    else {
        return match given {
            Some(_) => Err(ApiError::invalid_param(
                "shipping",
                "This session does not collect a shipping address. Leave shipping out, or create the session with shipping_address_collection[allowed_countries].",
            )),
            None => Ok(Value::Null),
        };
    };
    let given = given.cloned().unwrap_or_default();
    let address = match &given.address {
        Some(address) => address_object("shipping[address]", address)?,
        None => {
            let mut address = DEFAULT_ADDRESS.clone();
            if !allowed.iter().any(|country| country == "US") {
                address["country"] = allowed.first().cloned().unwrap_or_default();
            }
            address
        }
    };
    if !allowed.contains(&address["country"]) {
        let countries: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        return Err(ApiError::invalid_param(
            "shipping[address][country]",
            format!(
                "This session ships to {} only, not {}.",
                countries.join(", "),
                address["country"].as_str().unwrap_or_default()
            ),
        ));
    }
    let name = given
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .or(payer_name)
        .unwrap_or(DEFAULT_SHIPPING_NAME);
    check_entered(
        "shipping[name]",
        name,
        crate::resources::customers::MAX_NAME_CHARS,
    )?;
    Ok(json!({"address": address, "name": name}))
}

/// Checks a text the customer entered: typed text
/// ([`crate::wire::params::check_typed_text`]) of at most `max`
/// characters.
fn check_entered(param: &str, text: &str, max: usize) -> ApiResult<()> {
    crate::wire::params::check_typed_text(param, text)?;
    check_length(param, text, max)
}

/// Checks an entered address and returns it as a customer's `address`
/// object, with the fields left out as null. `prefix` is the address's
/// parameter name in errors.
fn address_object(prefix: &str, address: &AddressInput) -> ApiResult<Value> {
    let mut object = serde_json::Map::new();
    for (field, value) in address.fields() {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        if let Some(text) = value {
            check_entered(
                &format!("{prefix}[{field}]"),
                text,
                crate::resources::customers::MAX_ADDRESS_FIELD_CHARS,
            )?;
        }
        object.insert(field.to_owned(), json!(value));
    }
    if object["line1"].is_null() {
        return Err(ApiError::missing_param(format!("{prefix}[line1]")));
    }
    let country = object["country"].as_str().unwrap_or_default().to_owned();
    if country.is_empty() {
        return Err(ApiError::missing_param(format!("{prefix}[country]")));
    }
    let code = country.to_ascii_uppercase();
    if !crate::resources::checkout_sessions::CHECKOUT_COUNTRIES.contains(&code.as_str()) {
        return Err(ApiError::invalid_param(
            format!("{prefix}[country]"),
            format!(
                "`{country}` is not a country code that Checkout takes. Use a two-letter ISO 3166-1 code, such as US or DE."
            ),
        ));
    }
    object.insert("country".to_owned(), json!(code));
    Ok(Value::Object(object))
}

/// Marks a session complete after a successful or pending payment, fills
/// `customer_details`, creates a customer when `customer_creation` asks for
/// one, and emits `checkout.session.completed`.
fn complete_session(
    data: &mut AccountData,
    session_id: &str,
    pi_id: &str,
    payment_status: &str,
    entered: CustomerEntry,
    origin: &Origin,
) -> Value {
    let CustomerEntry {
        email,
        name,
        phone,
        address,
        shipping,
        consent,
        custom_fields,
    } = entered;
    let before = data
        .store
        .get("checkout.session", session_id)
        .unwrap_or_default();
    let mut session = before.clone();
    if session["customer"].is_null() && session["customer_creation"] == "always" {
        // Stripe's reference states that Checkout creates the customer from
        // the details given during the payment. Stripe Tax's guide to
        // customer addresses states that Checkout collects them itself,
        // where other integrations must set them on the customer.
        let fields = crate::resources::customers::CustomerFields {
            email: email.clone(),
            name: name.clone(),
            phone: phone.clone(),
            address: address.clone(),
            shipping: customer_shipping(&shipping),
            ..Default::default()
        };
        let customer = crate::resources::customers::new_customer(data, fields, origin);
        session["customer"] = customer["id"].clone();
        if let Some(mut pi) = data.store.get("payment_intent", pi_id) {
            pi["customer"] = customer["id"].clone();
            save(data, "payment_intent", pi_id, &pi);
            // The customer exists only now, after the payment.
            attach_for_future_usage(data, &pi, origin);
        }
    } else if let Some(id) = session["customer"].as_str()
        && let Some(mut customer) = data.store.get("customer", id)
    {
        let previous = customer.clone();
        // A customer without an email takes the one entered on the page.
        if let Some(entered) = &email
            && customer["email"].is_null()
        {
            customer["email"] = json!(entered);
        }
        // With customer_update[name]=auto the name entered replaces the
        // customer's.
        if let Some(entered) = &name
            && session["_customer_update"]["name"] == "auto"
        {
            customer["name"] = json!(entered);
        }
        // With customer_update[address]=auto the billing address entered
        // replaces the customer's.
        if !address.is_null() && session["_customer_update"]["address"] == "auto" {
            customer["address"] = address.clone();
        }
        // Checkout saves a collected phone number onto the customer with
        // no customer_update setting, as Stripe's guide to collecting
        // phone numbers describes.
        if let Some(entered) = &phone {
            customer["phone"] = json!(entered);
        }
        // With customer_update[shipping]=auto the shipping details entered
        // replace the customer's.
        if !shipping.is_null() && session["_customer_update"]["shipping"] == "auto" {
            customer["shipping"] = customer_shipping(&shipping);
        }
        if customer != previous {
            save(data, "customer", id, &customer);
            let changed = crate::events::changed_fields(&previous, &customer);
            emit(data, "customer.updated", &customer, Some(changed), origin);
        }
    }
    session["status"] = json!("complete");
    session["payment_status"] = json!(payment_status);
    session["payment_intent"] = json!(pi_id);
    session["url"] = Value::Null;
    session["consent"] = consent;
    session["custom_fields"] = custom_fields;
    // Responses in versions before 2025-03-31 also show these details in
    // a top-level field, added as the session is rendered.
    if !shipping.is_null() {
        session["collected_information"] = json!({
            "business_name": null,
            "individual_name": null,
            "shipping_details": shipping,
        });
    }
    // The fake's page collects no business or individual name, so both stay null.
    session["customer_details"] = json!({
        "address": address,
        "business_name": null,
        "email": email,
        "individual_name": null,
        "name": name,
        "phone": phone,
        "tax_exempt": "none",
        "tax_ids": [],
    });
    save(data, "checkout.session", session_id, &session);
    emit(data, "checkout.session.completed", &session, None, origin);
    session
}

/// Returns a customer's `shipping` from the shipping details entered on
/// the page, or null when the session collects none. `phone` stays null,
/// as the phone entered is saved to the customer's `phone`.
fn customer_shipping(shipping: &Value) -> Value {
    if shipping.is_null() {
        return Value::Null;
    }
    json!({
        "address": shipping["address"],
        "name": shipping["name"],
        "phone": null,
    })
}

/// The email a payment through the control API enters when it gives
/// none and the session has none. Checkout in payment mode always requires
/// an email, so a completed session always has one.
pub const DEFAULT_EMAIL: &str = "customer@example.com";

/// The phone number a payment through the control API enters when it
/// gives none on a session that collects one, because Checkout requires
/// the phone field then. 555-01xx numbers are reserved for fiction.
pub const DEFAULT_PHONE: &str = "+15555550100";

/// The billing address a payment through the control API enters when it
/// gives none on a session with `billing_address_collection=required`,
/// because Checkout requires the address fields then. The street is
/// made up.
pub static DEFAULT_ADDRESS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({
        "city": "San Francisco",
        "country": "US",
        "line1": "1 Example Street",
        "line2": null,
        "postal_code": "94103",
        "state": "CA",
    })
});

/// The recipient's name a payment through the control API enters when it
/// gives no shipping name and no `name` on a session that collects a
/// shipping address.
pub const DEFAULT_SHIPPING_NAME: &str = "Test Customer";

/// Returns the email that Checkout shows and does not let the customer
/// change: that of the session's customer, or else the session's
/// `customer_email`.
pub fn fixed_email(data: &AccountData, session: &Value) -> Option<String> {
    session["customer"]
        .as_str()
        .and_then(|id| data.store.get("customer", id))
        .and_then(|customer| customer["email"].as_str().map(str::to_owned))
        .or_else(|| session["customer_email"].as_str().map(str::to_owned))
}

/// Settles an asynchronous payment: the session's payment succeeds or fails.
pub fn settle(data: &mut AccountData, session_id: &str, succeed: bool) {
    let Some(session) = data.store.get("checkout.session", session_id) else {
        return;
    };
    let Some(pi_id) = session["payment_intent"].as_str().map(str::to_owned) else {
        return;
    };
    let Some(mut pi) = data.store.get("payment_intent", &pi_id) else {
        return;
    };
    if pi["status"] != "processing" {
        return;
    }
    let origin = Origin::default();
    let charge_id = pi["latest_charge"].as_str().unwrap_or_default().to_owned();
    let mut charge = data.store.get("charge", &charge_id).unwrap_or_default();
    data.trace("customer", json!({"session": session_id, "action": "settle", "outcome": if succeed { "succeeded" } else { "failed" }}));
    let before_pi = pi.clone();
    let before_charge = charge.clone();
    if succeed {
        charge["status"] = json!("succeeded");
        charge["paid"] = json!(true);
        save(data, "charge", &charge_id, &charge);
        emit(
            data,
            "charge.succeeded",
            &charge,
            Some(changed_fields(&before_charge, &charge)),
            &origin,
        );
        pi["status"] = json!("succeeded");
        pi["amount_received"] = pi["amount"].clone();
        save(data, "payment_intent", &pi_id, &pi);
        emit(
            data,
            "payment_intent.succeeded",
            &pi,
            Some(changed_fields(&before_pi, &pi)),
            &origin,
        );
        let mut paid = session.clone();
        paid["payment_status"] = json!("paid");
        save(data, "checkout.session", session_id, &paid);
        crate::faults::start_lag(data, session_id, &session);
        emit(
            data,
            "checkout.session.async_payment_succeeded",
            &paid,
            None,
            &origin,
        );
        attach_balance_transaction(data, &pi_id, &origin);
    } else {
        let error = json!({
            "type": "card_error",
            "charge": charge_id,
            "code": "payment_method_provider_decline",
            "decline_code": "insufficient_funds",
            "message": "The customer's bank declined the debit.",
        });
        charge["status"] = json!("failed");
        charge["paid"] = json!(false);
        charge["failure_code"] = json!("insufficient_funds");
        charge["failure_message"] =
            json!("The customer's account has insufficient funds to cover this payment.");
        save(data, "charge", &charge_id, &charge);
        emit(
            data,
            "charge.failed",
            &charge,
            Some(changed_fields(&before_charge, &charge)),
            &origin,
        );
        pi["status"] = json!("requires_payment_method");
        pi["payment_method"] = Value::Null;
        pi["last_payment_error"] = error;
        save(data, "payment_intent", &pi_id, &pi);
        emit(
            data,
            "payment_intent.payment_failed",
            &pi,
            Some(changed_fields(&before_pi, &pi)),
            &origin,
        );
        emit(
            data,
            "checkout.session.async_payment_failed",
            &session,
            None,
            &origin,
        );
    }
}

/// Expires an open session: `status` becomes `expired`, `url` null, a
/// waiting payment intent is canceled, and `checkout.session.expired` fires.
pub fn expire(data: &mut AccountData, session_id: &str, origin: &Origin) -> Value {
    let before = data
        .store
        .get("checkout.session", session_id)
        .unwrap_or_default();
    let mut session = before.clone();
    if let Some(pi_id) = session["payment_intent"].as_str()
        && let Some(mut pi) = data.store.get("payment_intent", pi_id)
        && pi["status"] == "requires_payment_method"
    {
        let pi_before = pi.clone();
        pi["status"] = json!("canceled");
        pi["canceled_at"] = json!(data.now());
        pi["cancellation_reason"] = json!("automatic");
        let pi_id = pi_id.to_owned();
        save(data, "payment_intent", &pi_id, &pi);
        emit(
            data,
            "payment_intent.canceled",
            &pi,
            Some(changed_fields(&pi_before, &pi)),
            origin,
        );
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    crate::resources::session_recovery::show_recovery_url(&mut session, data.now());
    save(data, "checkout.session", session_id, &session);
    emit(data, "checkout.session.expired", &session, None, origin);
    session
}

/// Runs when the clock reaches a session's `expires_at`.
pub fn expire_on_schedule(data: &mut AccountData, session_id: &str) {
    let Some(session) = data.store.get("checkout.session", session_id) else {
        return;
    };
    let due = session["expires_at"].as_i64().unwrap_or(i64::MAX);
    if session["status"] == "open" && data.now() >= due {
        expire(data, session_id, &Origin::default());
    }
}

/// How long a card payment stays authorized without a capture: seven
/// days from the authorization, Stripe's window for online card payments.
/// The charge's `payment_method_details.card.capture_before` shows the end.
pub const AUTHORIZATION_SECONDS: i64 = 7 * 86_400;

/// Cancels a payment intent whose authorization lapsed uncaptured, as
/// Stripe does with `cancellation_reason` `automatic`, and releases the
/// hold on its charge with `charge.expired`.
pub fn expire_authorization(data: &mut AccountData, pi_id: &str) {
    let Some(mut pi) = data.store.get("payment_intent", pi_id) else {
        return;
    };
    if pi["status"] != "requires_capture" {
        return;
    }
    let before = pi.clone();
    pi["status"] = json!("canceled");
    pi["canceled_at"] = json!(data.now());
    pi["cancellation_reason"] = json!("automatic");
    pi["amount_capturable"] = json!(0);
    save(data, "payment_intent", pi_id, &pi);
    let origin = Origin::default();
    crate::resources::payment_intents::release_authorization(
        data,
        &before,
        "charge.expired",
        &origin,
    );
    emit(
        data,
        "payment_intent.canceled",
        &pi,
        Some(changed_fields(&before, &pi)),
        &origin,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_behave_as_documented() {
        assert_eq!(
            test_card("4242 4242 4242 4242").unwrap().behaviour,
            CardBehaviour::Succeeds
        );
        assert_eq!(test_card("4242424242424242").unwrap().brand, "visa");
        assert_eq!(test_card("5555555555554444").unwrap().brand, "mastercard");
        assert_eq!(
            test_card("4000000000000002").unwrap().behaviour,
            GENERIC_DECLINE
        );
        assert!(matches!(
            test_card("4000000000009995").unwrap().behaviour,
            CardBehaviour::Declines {
                decline_code: Some("insufficient_funds"),
                ..
            }
        ));
        assert_eq!(
            test_card("4000002500003155").unwrap().behaviour,
            CardBehaviour::Authenticates
        );
        assert!(matches!(
            test_card("4242424242424241").unwrap().behaviour,
            CardBehaviour::Declines {
                code: "incorrect_number",
                ..
            }
        ));
        assert!(test_card("4242").is_err());
        assert!(test_card("abcd abcd abcd abcd").is_err());
    }

    #[test]
    fn redirect_replaces_only_the_literal_token() {
        let session = json!({"id": "cs_test_1", "success_url": "https://shop.test/ok?s={CHECKOUT_SESSION_ID}"});
        assert_eq!(
            redirect_url(&session).as_deref(),
            Some("https://shop.test/ok?s=cs_test_1")
        );
        let encoded = json!({"id": "cs_test_1", "success_url": "https://shop.test/ok?s=%7BCHECKOUT_SESSION_ID%7D"});
        assert_eq!(
            redirect_url(&encoded).as_deref(),
            Some("https://shop.test/ok?s=%7BCHECKOUT_SESSION_ID%7D")
        );
    }
}
