//! The hosted checkout page at a session's `url` (`/c/pay/{id}`).
//!
//! The page needs no API key: the session id in the path names the account.
//! It works without JavaScript, through two plain form posts:
//!
//! - `POST /c/pay/{id}` pays through `simulate::pay`, the same code the
//!   control API's pay call runs. A payment responds with 303 See Other to
//!   the session's `success_url`, with `{CHECKOUT_SESSION_ID}` filled in.
//!   Without a `success_url` it goes back to the page, which then shows the
//!   completed state. A declined card re-renders the form with the decline
//!   message. A card that requires 3-D Secure first gets an authentication
//!   step whose buttons post again with `three_d_secure`.
//! - `POST /c/pay/{id}/cancel` responds with 303 See Other to `cancel_url`.
//!
//! `GET /c/recover/{id}` is the `after_expiration.recovery.url` of an
//! expired session. It responds with 303 See Other to the page of the
//! session that copies the expired one, which the first visit creates.
//!
//! Element ids are stable, for browser tests of an app; README.md lists
//! them under "The hosted page and the dashboard".

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{format, html, message, see_other};
use crate::account::AccountData;
use crate::server::Shared;
use crate::simulate::{self, AddressInput, CardBehaviour, PayRequest, ShippingInput};
use crate::wire::expand::line_items_key;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/c/pay/{id}", get(show).post(pay))
        .route("/c/pay/{id}/cancel", post(cancel))
        .route("/c/recover/{id}", get(recover))
}

/// The fields the payment form posts. Every field is optional here, and
/// empty fields count as absent, so that `simulate::pay` or the page itself
/// reports what is missing.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PayForm {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub promotions: Option<String>,
    pub terms_of_service: Option<String>,
    pub payment_method: Option<String>,
    pub card_number: Option<String>,
    pub outcome: Option<String>,
    pub delay_seconds: Option<String>,
    pub three_d_secure: Option<String>,
    /// The other fields, among them the custom fields' inputs, named
    /// `custom_fields[key]`, the billing address, named `address[field]`,
    /// and the shipping details, named `shipping[name]` and
    /// `shipping[address][field]`.
    #[serde(flatten)]
    pub other: BTreeMap<String, String>,
}

fn filled(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

impl PayForm {
    /// Returns the custom fields' inputs by key, trimmed, with an empty
    /// input kept as a field left blank.
    fn custom_fields(&self) -> Option<BTreeMap<String, String>> {
        let inputs: BTreeMap<String, String> = self
            .other
            .iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("custom_fields[")?.strip_suffix(']')?;
                Some((key.to_owned(), value.trim().to_owned()))
            })
            .collect();
        (!inputs.is_empty()).then_some(inputs)
    }

    /// Returns the billing address inputs by field, or `None` when the
    /// form has none or all of them are empty.
    fn address(&self) -> Option<AddressInput> {
        self.address_at("address")
    }

    /// Returns the shipping inputs, or `None` when the form has none or
    /// all of them are empty.
    fn shipping(&self) -> Option<ShippingInput> {
        let name = filled(&self.other.get("shipping[name]").cloned());
        let address = self.address_at("shipping[address]");
        (name.is_some() || address.is_some()).then_some(ShippingInput { name, address })
    }

    /// Returns the inputs of the address named `prefix[field]`, or `None`
    /// when the form has none or all of them are empty.
    fn address_at(&self, prefix: &str) -> Option<AddressInput> {
        let input = |field: &str| filled(&self.other.get(&format!("{prefix}[{field}]")).cloned());
        let address = AddressInput {
            line1: input("line1"),
            line2: input("line2"),
            city: input("city"),
            postal_code: input("postal_code"),
            state: input("state"),
            country: input("country"),
        };
        let entered = address.fields().iter().any(|(_, value)| value.is_some());
        entered.then_some(address)
    }

    /// Builds the control API's pay request from the form. Only the fields
    /// of the chosen method are passed on, because `simulate::pay` rejects
    /// a card number on an asynchronous method and an outcome on a card.
    pub fn to_request(&self) -> Result<PayRequest, String> {
        let method = filled(&self.payment_method).unwrap_or_else(|| "card".to_owned());
        let mut request = PayRequest {
            payment_method: method.clone(),
            card_number: None,
            outcome: None,
            delay_seconds: None,
            email: filled(&self.email),
            name: filled(&self.name),
            phone: filled(&self.phone),
            address: self.address(),
            shipping: self.shipping(),
            promotions: filled(&self.promotions),
            terms_of_service: filled(&self.terms_of_service),
            custom_fields: self.custom_fields(),
            three_d_secure: None,
        };
        if method == "card" {
            let number = filled(&self.card_number)
                .ok_or("Enter a card number, such as 4242 4242 4242 4242.")?;
            request.card_number = Some(number);
            request.three_d_secure = filled(&self.three_d_secure);
        } else {
            request.outcome = filled(&self.outcome);
            if let Some(text) = filled(&self.delay_seconds) {
                let seconds = text.parse().map_err(|_| {
                    format!("The settlement delay `{text}` is not a whole number of seconds.")
                })?;
                request.delay_seconds = Some(seconds);
            }
        }
        Ok(request)
    }
}

/// One row of the order summary.
#[derive(Debug)]
struct ItemView {
    description: String,
    quantity: i64,
    unit_amount: String,
    amount: String,
}

/// One payment method the customer may choose.
#[derive(Debug)]
struct MethodView {
    value: String,
    label: &'static str,
    checked: bool,
    /// Whether the payment settles later, so the outcome choice applies.
    asynchronous: bool,
}

/// The values the customer entered, shown again when the form comes back.
#[derive(Debug, Default)]
struct Entered {
    email: String,
    name: String,
    phone: String,
    address: AddressInput,
    shipping_name: String,
    shipping: AddressInput,
    method: String,
    card_number: String,
    outcome: String,
    delay_seconds: String,
    /// The custom fields' inputs, by key.
    custom_fields: BTreeMap<String, String>,
}

/// One custom field of the form.
#[derive(Debug)]
struct CustomFieldView {
    key: String,
    label: String,
    /// `text`, `numeric` or `dropdown`.
    kind: String,
    optional: bool,
    /// The input shown: what the customer entered, or else the field's
    /// default value.
    value: String,
    minimum_length: Option<i64>,
    maximum_length: i64,
    options: Vec<OptionView>,
}

/// One option of a dropdown field.
#[derive(Debug)]
struct OptionView {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug, Template)]
#[template(path = "checkout/page.html")]
struct CheckoutPage {
    session_id: String,
    /// `open`, `complete` or `expired`.
    status: String,
    /// `paid` or `unpaid`. A complete session is unpaid while an
    /// asynchronous payment is processing.
    payment_status: String,
    /// Whether the payment is a card authorization that waits for the
    /// shop to capture it, the other reason a complete session is unpaid.
    awaiting_capture: bool,
    items: Vec<ItemView>,
    total: String,
    expires: String,
    methods: Vec<MethodView>,
    async_offered: bool,
    entered: Entered,
    /// Whether the email is the customer's, which the page does not let
    /// the customer change.
    email_fixed: bool,
    /// Whether the form has a phone field, which it then requires.
    collects_phone: bool,
    /// Whether the form has billing address fields, which it then
    /// requires.
    collects_address: bool,
    /// The countries the shipping country may be, or empty when the
    /// form has no shipping fields.
    shipping_countries: Vec<String>,
    custom_fields: Vec<CustomFieldView>,
    /// The session's `custom_text[submit]` message.
    submit_text: Option<String>,
    /// The session's `custom_text[after_submit]` message.
    after_submit_text: Option<String>,
    /// Whether the form offers the promotions checkbox.
    asks_promotions: bool,
    /// The label of the required terms of service checkbox, when the
    /// session requires the terms.
    terms_text: Option<String>,
    error: Option<String>,
    pay_action: String,
    cancel_action: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "checkout/authenticate.html")]
struct AuthenticatePage {
    total: String,
    last4: String,
    pay_action: String,
    card_number: String,
    email: String,
    name: String,
    phone: String,
    /// The billing address and shipping inputs, as `address[field]`,
    /// `shipping[name]` or `shipping[address][field]` name and value.
    address: Vec<(String, String)>,
    promotions: String,
    terms_of_service: String,
    /// The custom fields' inputs, as `custom_fields[key]` name and value.
    custom_fields: Vec<(String, String)>,
}

/// Lists the session's custom fields with the inputs shown in them.
fn custom_field_views(
    session: &Value,
    entered: Option<&BTreeMap<String, String>>,
) -> Vec<CustomFieldView> {
    let fields = session["custom_fields"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    fields
        .iter()
        .map(|field| {
            let key = field["key"].as_str().unwrap_or_default().to_owned();
            let kind = field["type"].as_str().unwrap_or("text").to_owned();
            let settings = &field[kind.as_str()];
            let value = match entered {
                Some(inputs) => inputs.get(&key).cloned().unwrap_or_default(),
                None => settings["default_value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            };
            let options = settings["options"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|option| {
                    let option_value = option["value"].as_str().unwrap_or_default().to_owned();
                    OptionView {
                        selected: option_value == value,
                        label: option["label"].as_str().unwrap_or_default().to_owned(),
                        value: option_value,
                    }
                })
                .collect();
            CustomFieldView {
                label: field["label"]["custom"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                optional: field["optional"] == true,
                minimum_length: settings["minimum_length"].as_i64(),
                maximum_length: settings["maximum_length"].as_i64().unwrap_or(255),
                key,
                kind,
                value,
                options,
            }
        })
        .collect()
}

fn custom_text(session: &Value, position: &str) -> Option<String> {
    session["custom_text"][position]["message"]
        .as_str()
        .map(str::to_owned)
}

fn requires_terms(session: &Value) -> bool {
    session["consent_collection"]["terms_of_service"] == "required"
}

fn collects_phone(session: &Value) -> bool {
    session["phone_number_collection"]["enabled"] == true
}

fn collects_address(session: &Value) -> bool {
    session["billing_address_collection"] == "required"
}

fn shipping_countries(session: &Value) -> Vec<String> {
    session["shipping_address_collection"]["allowed_countries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|country| country.as_str().map(str::to_owned))
        .collect()
}

fn pay_action(session_id: &str) -> String {
    format!("/c/pay/{session_id}")
}

fn method_label(method: &str) -> &'static str {
    match method {
        "card" => "Card",
        "sepa_debit" => "SEPA Direct Debit",
        "us_bank_account" => "US bank account",
        _ => "Other",
    }
}

/// Lists the methods the session offers, in the order the page shows them.
/// Without `payment_method_types` the session offers cards, plus SEPA
/// Direct Debit for euros and US bank accounts for dollars, as
/// `simulate::pay` accepts.
fn offered_methods(session: &Value) -> Vec<String> {
    let allowed: Option<Vec<String>> =
        serde_json::from_value(session["_allowed_methods"].clone()).unwrap_or(None);
    match allowed {
        Some(types) => types
            .into_iter()
            .filter(|t| crate::resources::payment_checks::PAYMENT_METHODS.contains(&t.as_str()))
            .collect(),
        None => crate::resources::checkout_sessions::default_methods(
            session["currency"].as_str().unwrap_or_default(),
        ),
    }
}

fn line_items(data: &AccountData, session: &Value, currency: &str) -> Vec<ItemView> {
    let id = session["id"].as_str().unwrap_or_default();
    let Some(list) = data.store.get_any(&line_items_key(id)) else {
        return Vec::new();
    };
    list["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let currency = item["currency"].as_str().unwrap_or(currency);
            ItemView {
                description: item["description"].as_str().unwrap_or_default().to_owned(),
                quantity: item["quantity"].as_i64().unwrap_or(1),
                unit_amount: match item["price"]["unit_amount"].as_i64() {
                    Some(whole) => format::money(whole, currency),
                    None => format::money_decimal(
                        item["price"]["unit_amount_decimal"].as_str().unwrap_or("0"),
                        currency,
                    ),
                },
                amount: format::money(item["amount_total"].as_i64().unwrap_or(0), currency),
            }
        })
        .collect()
}

/// Renders the page for `session` in its current state. `entered` is what
/// the customer posted, if the form is coming back to them.
fn render(
    data: &AccountData,
    session: &Value,
    entered: Option<Entered>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    html(status, &checkout_page(data, session, entered, error))
}

fn checkout_page(
    data: &AccountData,
    session: &Value,
    entered: Option<Entered>,
    error: Option<String>,
) -> CheckoutPage {
    let id = session["id"].as_str().unwrap_or_default();
    let currency = session["currency"].as_str().unwrap_or("usd");
    let session_status = session["status"].as_str().unwrap_or("open").to_owned();
    let offered = offered_methods(session);
    // The form shows the email of the session's customer, or else the
    // session's `customer_email`, and the customer cannot change it.
    let fixed_email = crate::simulate::fixed_email(data, session);
    // A form that comes back shows what the customer entered; a new one
    // shows the fields' default values.
    let custom_fields = custom_field_views(session, entered.as_ref().map(|e| &e.custom_fields));
    let mut entered = entered.unwrap_or_else(|| Entered {
        outcome: "succeeded".to_owned(),
        ..Entered::default()
    });
    if let Some(email) = &fixed_email {
        entered.email.clone_from(email);
    }
    let chosen = if offered.contains(&entered.method) {
        entered.method.clone()
    } else {
        offered.first().cloned().unwrap_or_default()
    };
    let methods: Vec<MethodView> = offered
        .iter()
        .map(|method| MethodView {
            value: method.clone(),
            label: method_label(method),
            checked: *method == chosen,
            asynchronous: method != "card",
        })
        .collect();
    let has_cancel_url = session["cancel_url"].as_str().is_some();
    let awaiting_capture = session["payment_intent"]
        .as_str()
        .and_then(|pi| data.store.get("payment_intent", pi))
        .is_some_and(|pi| pi["status"] == "requires_capture");
    CheckoutPage {
        awaiting_capture,
        session_id: id.to_owned(),
        payment_status: session["payment_status"]
            .as_str()
            .unwrap_or("unpaid")
            .to_owned(),
        items: line_items(data, session, currency),
        total: format::money(session["amount_total"].as_i64().unwrap_or(0), currency),
        expires: format::time(session["expires_at"].as_i64().unwrap_or(0)),
        async_offered: methods.iter().any(|m| m.asynchronous),
        methods,
        entered,
        email_fixed: fixed_email.is_some(),
        collects_phone: collects_phone(session),
        collects_address: collects_address(session),
        shipping_countries: shipping_countries(session),
        custom_fields,
        submit_text: custom_text(session, "submit"),
        after_submit_text: custom_text(session, "after_submit"),
        asks_promotions: session["consent_collection"]["promotions"] == "auto",
        terms_text: requires_terms(session).then(|| {
            custom_text(session, "terms_of_service_acceptance")
                .unwrap_or_else(|| "I agree to the terms of service.".to_owned())
        }),
        error,
        pay_action: pay_action(id),
        cancel_action: (has_cancel_url && session_status != "complete")
            .then(|| format!("/c/pay/{id}/cancel")),
        status: session_status,
    }
}

fn not_found(id: &str) -> Response {
    tracing::debug!(session = %id, "hosted page for an unknown session");
    message(
        StatusCode::NOT_FOUND,
        "Checkout not found",
        &format!(
            "No Checkout Session {id} exists on this server. It may belong to a server that \
             has restarted, or to an account that was reset."
        ),
    )
}

/// Finds the one account that contains session `id`, or returns the page
/// to show when none or several do.
fn session_account(shared: &Shared, id: &str) -> Result<Arc<crate::account::Account>, Response> {
    let mut accounts = shared.session_accounts(id);
    match accounts.len() {
        0 => Err(not_found(id)),
        1 => Ok(accounts.remove(0)),
        count => {
            tracing::warn!(session = %id, accounts = count, "hosted page for a session id that several accounts contain");
            Err(message(
                StatusCode::CONFLICT,
                "Checkout session id in several accounts",
                &format!(
                    "{count} accounts on this server have a Checkout Session {id}, because their \
                     fault plans set the same seed and so draw the same ids. The page cannot tell \
                     which one to show. Give each account its own seed, or pay through \
                     POST /_fakestripe/checkout/sessions/{id}/pay with the account's key."
                ),
            ))
        }
    }
}

async fn show(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let account = match session_account(&shared, &id) {
        Ok(account) => account,
        Err(page) => return page,
    };
    let data = account.lock();
    let Some(session) = data.store.get("checkout.session", &id) else {
        return not_found(&id);
    };
    render(&data, &session, None, None, StatusCode::OK)
}

/// Whether a card payment must first go through the authentication step:
/// the session takes cards, the card requires 3-D Secure, and the customer
/// has not chosen an authentication result yet.
fn needs_authentication(session: &Value, request: &PayRequest) -> bool {
    request.payment_method == "card"
        && offered_methods(session).iter().any(|m| m == "card")
        && request.three_d_secure.is_none()
        && request
            .card_number
            .as_deref()
            .and_then(|number| simulate::session_card(session, number).ok())
            .is_some_and(|card| card.behaviour == CardBehaviour::Authenticates)
}

async fn pay(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    form: Result<Form<PayForm>, FormRejection>,
) -> Response {
    let account = match session_account(&shared, &id) {
        Ok(account) => account,
        Err(page) => return page,
    };
    let (response, paid) = {
        let mut data = account.lock();
        let Some(session) = data.store.get("checkout.session", &id) else {
            return not_found(&id);
        };
        let form = match form {
            Ok(Form(form)) => form,
            Err(rejection) => {
                tracing::debug!(session = %id, %rejection, "hosted page form rejected");
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    let error = format!(
                        "The payment form is too large: the limit is {} bytes.",
                        shared.config.max_body_bytes
                    );
                    return render(
                        &data,
                        &session,
                        None,
                        Some(error),
                        StatusCode::PAYLOAD_TOO_LARGE,
                    );
                }
                let error = format!("The payment form could not be read: {rejection}");
                return render(&data, &session, None, Some(error), StatusCode::BAD_REQUEST);
            }
        };
        if session["status"] != "open" {
            // A second tab, or the back button: show the session as it is.
            return see_other(&pay_action(&id), "/");
        }
        let entered = Entered {
            email: form.email.clone().unwrap_or_default(),
            name: form.name.clone().unwrap_or_default(),
            phone: form.phone.clone().unwrap_or_default(),
            address: form.address().unwrap_or_default(),
            shipping_name: filled(&form.other.get("shipping[name]").cloned()).unwrap_or_default(),
            shipping: form.address_at("shipping[address]").unwrap_or_default(),
            method: form.payment_method.clone().unwrap_or_default(),
            card_number: form.card_number.clone().unwrap_or_default(),
            outcome: form.outcome.clone().unwrap_or_default(),
            delay_seconds: form.delay_seconds.clone().unwrap_or_default(),
            custom_fields: form.custom_fields().unwrap_or_default(),
        };
        let request = match form.to_request() {
            Ok(request) => request,
            Err(error) => {
                let status = StatusCode::BAD_REQUEST;
                return render(&data, &session, Some(entered), Some(error), status);
            }
        };
        if let Some(error) = missing_required_field(&data, &session, &request) {
            tracing::debug!(session = %id, %error, "hosted page form sent without a required field");
            return render(
                &data,
                &session,
                Some(entered),
                Some(error),
                StatusCode::BAD_REQUEST,
            );
        }
        if needs_authentication(&session, &request) {
            return authentication_step(&session, &request);
        }
        match simulate::pay(&mut data, &id, &request) {
            Ok(result) if result.result == "declined" => {
                let message = result.error.as_ref().and_then(|e| e["message"].as_str());
                let error = message.unwrap_or("The payment was declined.").to_owned();
                tracing::debug!(session = %id, %error, "hosted page payment declined");
                // The customer tries another card, so the declined number goes.
                let entered = Entered {
                    card_number: String::new(),
                    ..entered
                };
                let session = data.store.get("checkout.session", &id);
                let session = session.unwrap_or(result.session);
                let status = StatusCode::PAYMENT_REQUIRED;
                (
                    render(&data, &session, Some(entered), Some(error), status),
                    true,
                )
            }
            Ok(result) => {
                tracing::debug!(session = %id, result = result.result, "hosted page payment");
                let page = pay_action(&id);
                let location = result.redirect_url.unwrap_or_else(|| page.clone());
                (see_other(&location, &page), true)
            }
            Err(err) => {
                tracing::debug!(session = %id, error = %err.message, "hosted page payment rejected");
                let error = err.message.clone();
                (
                    render(&data, &session, Some(entered), Some(error), err.status),
                    false,
                )
            }
        }
    };
    if paid {
        // Events were recorded, and in real-time mode the dispatcher sends
        // them as soon as it wakes.
        account.wake.notify_one();
    }
    response
}

/// Returns the message for the first field that the page requires and the
/// form left empty, or `None` when the form has them all.
fn missing_required_field(
    data: &AccountData,
    session: &Value,
    request: &PayRequest,
) -> Option<String> {
    // Checkout requires an email unless the session brings one.
    if request.email.is_none() && simulate::fixed_email(data, session).is_none() {
        return Some("Enter your email address.".to_owned());
    }
    // The control API enters a test phone, accepts the terms and fills the
    // required custom fields when its call leaves them out, but on the page
    // these fields are required.
    if request.phone.is_none() && collects_phone(session) {
        return Some("Enter your phone number.".to_owned());
    }
    if collects_address(session) {
        let address = request.address.clone().unwrap_or_default();
        if address.line1.is_none() || address.country.is_none() {
            return Some("Enter your billing address, with its street and country.".to_owned());
        }
    }
    if !shipping_countries(session).is_empty() {
        let shipping = request.shipping.clone().unwrap_or_default();
        let address = shipping.address.unwrap_or_default();
        if shipping.name.is_none() || address.line1.is_none() || address.country.is_none() {
            return Some(
                "Enter your shipping details, with a name, street and country.".to_owned(),
            );
        }
    }
    let fields = session["custom_fields"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for field in fields.iter().filter(|field| field["optional"] != true) {
        let key = field["key"].as_str().unwrap_or_default();
        let input = request
            .custom_fields
            .as_ref()
            .and_then(|inputs| inputs.get(key))
            .filter(|input| !input.is_empty());
        if input.is_none() {
            let label = field["label"]["custom"].as_str().unwrap_or(key);
            return Some(format!("Fill in the required field {label}."));
        }
    }
    if request.terms_of_service.is_none() && requires_terms(session) {
        return Some("Accept the terms of service to pay.".to_owned());
    }
    None
}

fn authentication_step(session: &Value, request: &PayRequest) -> Response {
    let currency = session["currency"].as_str().unwrap_or("usd");
    let number = request.card_number.clone().unwrap_or_default();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let page = AuthenticatePage {
        total: format::money(session["amount_total"].as_i64().unwrap_or(0), currency),
        last4: digits[digits.len().saturating_sub(4)..].to_owned(),
        pay_action: pay_action(session["id"].as_str().unwrap_or_default()),
        card_number: number,
        email: request.email.clone().unwrap_or_default(),
        name: request.name.clone().unwrap_or_default(),
        phone: request.phone.clone().unwrap_or_default(),
        address: hidden_address_inputs(request),
        promotions: request.promotions.clone().unwrap_or_default(),
        terms_of_service: request.terms_of_service.clone().unwrap_or_default(),
        custom_fields: request
            .custom_fields
            .iter()
            .flatten()
            .map(|(key, value)| (format!("custom_fields[{key}]"), value.clone()))
            .collect(),
    };
    html(StatusCode::OK, &page)
}

/// Lists the billing address and shipping inputs of a request as form
/// field name and value, for the hidden fields of the authentication step.
fn hidden_address_inputs(request: &PayRequest) -> Vec<(String, String)> {
    let mut inputs = address_inputs("address", request.address.as_ref());
    if let Some(shipping) = &request.shipping {
        if let Some(name) = &shipping.name {
            inputs.push(("shipping[name]".to_owned(), name.clone()));
        }
        inputs.extend(address_inputs(
            "shipping[address]",
            shipping.address.as_ref(),
        ));
    }
    inputs
}

/// Lists the inputs of an address as `prefix[field]` name and value.
fn address_inputs(prefix: &str, address: Option<&AddressInput>) -> Vec<(String, String)> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .fields()
        .into_iter()
        .filter_map(|(field, value)| Some((format!("{prefix}[{field}]"), value.clone()?)))
        .collect()
}

async fn recover(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    use crate::resources::session_recovery::{Recovered, recover};
    let account = match session_account(&shared, &id) {
        Ok(account) => account,
        Err(page) => return page,
    };
    let recovered = recover(&mut account.lock(), &id, &shared.base_url);
    match recovered {
        Recovered::Session(copy) => {
            let page = pay_action(&copy);
            see_other(&page, &page)
        }
        Recovered::UrlExpired => {
            tracing::debug!(session = %id, "recovery URL opened after it expired");
            message(
                StatusCode::GONE,
                "Recovery link expired",
                &format!(
                    "The recovery link of Checkout Session {id} worked for 30 days after the \
                     session expired, and that time has passed. Ask the shop for a new checkout link."
                ),
            )
        }
        Recovered::NoRecovery => {
            tracing::debug!(session = %id, "recovery URL of a session without one");
            message(
                StatusCode::NOT_FOUND,
                "No recovery link",
                &format!(
                    "Checkout Session {id} has no recovery link: it has not expired, or it was \
                     created without after_expiration[recovery][enabled]=true."
                ),
            )
        }
    }
}

async fn cancel(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let account = match session_account(&shared, &id) {
        Ok(account) => account,
        Err(page) => return page,
    };
    let mut data = account.lock();
    let page = pay_action(&id);
    match simulate::cancel_url(&data, &id) {
        Ok(Some(url)) => {
            data.trace("customer", json!({"session": id, "action": "cancel"}));
            see_other(&url, &page)
        }
        // Without a cancel_url there is nowhere to return to. A session
        // that is no longer open, as a stale tab sends, shows its state.
        Ok(None) | Err(_) => see_other(&page, "/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ClockMode};

    fn account_with_session(name: &str, currency: &str, status: &str) -> AccountData {
        let mut data = AccountData::new(Clock::new(ClockMode::Manual), 7, None);
        let session = json!({
            "id": "cs_test_1",
            "object": "checkout.session",
            "amount_total": 3000,
            "currency": currency,
            "customer_email": "buyer@example.com",
            "status": status,
            "payment_status": "unpaid",
            "cancel_url": "http://127.0.0.1:9/cancel",
            "success_url": "http://127.0.0.1:9/ok",
            "expires_at": 1_700_000_000,
            "_allowed_methods": null,
        });
        let items = json!({
            "object": "list",
            "data": [{
                "description": name,
                "quantity": 2,
                "amount_total": 3000,
                "currency": currency,
                "price": {"unit_amount": 1500},
            }],
        });
        data.store
            .insert("line_items", &line_items_key("cs_test_1"), &items, 0);
        data.store
            .insert("checkout.session", "cs_test_1", &session, 0);
        data
    }

    fn body_of(data: &AccountData) -> String {
        let session = data.store.get("checkout.session", "cs_test_1").unwrap();
        checkout_page(data, &session, None, None)
            .render()
            .expect("rendering the page")
    }

    #[test]
    fn product_name_is_escaped() {
        let data = account_with_session("<script>alert(1)</script> & co", "usd", "open");
        let body = body_of(&data);
        // askama writes `<`, `>` and `&` as numeric character references.
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; co"),
            "{body}"
        );
        assert!(!body.contains("<script>"), "{body}");
    }

    #[test]
    fn open_session_offers_card_and_bank_account() {
        let body = body_of(&account_with_session("Socks", "usd", "open"));
        assert!(body.contains("id=\"pay-button\""));
        assert!(body.contains("id=\"cancel-button\""));
        assert!(body.contains("id=\"method-card\""));
        assert!(body.contains("id=\"method-us_bank_account\""));
        assert!(!body.contains("id=\"method-sepa_debit\""));
        assert!(body.contains("value=\"buyer@example.com\""));
        assert!(body.contains("30.00 USD"));
        assert!(body.contains("15.00 USD"));
    }

    #[test]
    fn yen_amounts_have_no_decimals() {
        let body = body_of(&account_with_session("Tea", "jpy", "open"));
        assert!(body.contains("3,000 JPY"), "{body}");
        assert!(!body.contains("30.00"), "{body}");
    }

    #[test]
    fn expired_session_has_no_pay_button() {
        let body = body_of(&account_with_session("Socks", "usd", "expired"));
        assert!(body.contains("data-status=\"expired\""));
        assert!(!body.contains("id=\"pay-button\""));
        assert!(!body.contains("id=\"checkout-form\""));
    }

    #[test]
    fn complete_session_has_no_buttons() {
        let body = body_of(&account_with_session("Socks", "usd", "complete"));
        assert!(body.contains("data-status=\"complete\""));
        assert!(!body.contains("id=\"pay-button\""));
        assert!(!body.contains("id=\"cancel-button\""));
    }

    #[test]
    fn form_passes_only_the_chosen_method_fields() {
        let form = PayForm {
            payment_method: Some("us_bank_account".into()),
            card_number: Some("4242424242424242".into()),
            outcome: Some("failed".into()),
            delay_seconds: Some(" 30 ".into()),
            email: Some(String::new()),
            ..PayForm::default()
        };
        let request = form.to_request().unwrap();
        assert_eq!(request.card_number, None);
        assert_eq!(request.outcome.as_deref(), Some("failed"));
        assert_eq!(request.delay_seconds, Some(30));
        assert_eq!(request.email, None);
    }

    #[test]
    fn form_without_card_number_is_rejected() {
        let form = PayForm {
            payment_method: Some("card".into()),
            outcome: Some("failed".into()),
            ..PayForm::default()
        };
        let error = form.to_request().unwrap_err();
        assert!(error.contains("card number"), "{error}");
    }
}
