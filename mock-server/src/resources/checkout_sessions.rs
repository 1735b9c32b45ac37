//! Checkout Sessions in payment mode: create, retrieve, update, list,
//! expire, and their line items. Paying a session is the customer's side
//! and lives in `simulate`.

use serde_json::{Map, Value, json};

use super::customers::origin;
use super::{CreatedFilter, list_where, prices};
use crate::account::{AccountData, Task};
use crate::api::Ctx;
use crate::wire::expand::line_items_key;
use crate::wire::list::Page;
use crate::wire::params::check_length;
use crate::wire::{ApiError, ApiResult, Params, metadata, version};

/// Shortest and longest time a session may stay open, in seconds.
pub const MIN_EXPIRY: i64 = 30 * 60;
pub const MAX_EXPIRY: i64 = 24 * 60 * 60;

/// Returns the payment methods of a session created without
/// `payment_method_types`: cards, and the bank debit of the currency where
/// the fake models one.
pub fn default_methods(currency: &str) -> Vec<String> {
    let mut methods = vec!["card".to_owned()];
    match currency {
        "eur" => methods.push("sepa_debit".to_owned()),
        "usd" => methods.push("us_bank_account".to_owned()),
        _ => {}
    }
    methods
}

/// The languages a Checkout page can be shown in, as the API lists them
/// for `locale` (the official SDKs' types carry the same list). `auto`
/// follows the customer's browser. A browser's own tag such as `en-US` is
/// not in the list, and Stripe rejects it.
const LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr",
    "fr-CA", "hi-IN", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl",
    "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

/// The UI modes a session can be created in, which the API renamed in
/// 2026-03-25: hosted and embedded pages, or elements in the app's own page.
fn ui_modes(api_version: &str) -> [&'static str; 3] {
    if version::at_least(api_version, version::RENAMED_UI_MODES) {
        ["hosted_page", "embedded_page", "elements"]
    } else {
        ["hosted", "embedded", "custom"]
    }
}

/// A `ui_mode` value that stripe-node 23.2.0's types list next to the
/// three modelled ones. Stripe's API reference does not describe it, so
/// the fake rejects it as not modelled rather than as an invalid value.
const UNMODELLED_UI_MODE: &str = "form";

/// The top-level parameters session create takes.
const CREATE_PARAMS: &[&str] = &[
    "mode",
    "ui_mode",
    "success_url",
    "cancel_url",
    "return_url",
    "redirect_on_completion",
    "client_reference_id",
    "customer",
    "customer_email",
    "customer_creation",
    "customer_update",
    "metadata",
    "payment_intent_data",
    "expires_at",
    "payment_method_types",
    "allowed_payment_method_types",
    "excluded_payment_method_types",
    "locale",
    "submit_type",
    "billing_address_collection",
    "allow_promotion_codes",
    "phone_number_collection",
    "custom_text",
    "consent_collection",
    "custom_fields",
    "after_expiration",
    "payment_method_options",
    "shipping_address_collection",
    "currency",
    "line_items",
    "expand",
];

/// Parameters of Stripe's session create that the fake does not model.
/// Each is rejected with a message stating that, rather than as unknown,
/// which would read as a typo in the caller's code.
const UNMODELLED_PARAMS: &[&str] = &[
    "adaptive_pricing",
    "automatic_tax",
    "branding_settings",
    "customer_account",
    "discounts",
    "integration_identifier",
    "invoice_creation",
    "managed_payments",
    "name_collection",
    "optional_items",
    "origin_context",
    "payment_method_collection",
    "payment_method_configuration",
    "payment_method_data",
    "permissions",
    "saved_payment_method_options",
    "setup_intent_data",
    "shipping_options",
    "subscription_data",
    "tax_id_collection",
    "wallet_options",
];

/// Builds the 400 for a parameter that only a session with a Checkout
/// page takes, sent with the `ui_mode` that has none.
fn no_checkout_page(name: &str, ui_mode: &str) -> ApiError {
    ApiError::invalid_param(
        name,
        format!("{name} cannot be used with ui_mode={ui_mode}, which has no Checkout page."),
    )
}

/// Builds the 400 for a session parameter the fake does not model.
fn unmodelled(name: &str) -> ApiError {
    ApiError::invalid_param(
        name,
        format!(
            "{name} is a Checkout Session parameter that fakestripe does not model yet. Leave it out of requests to the fake; the README lists what the fake does not model."
        ),
    )
}

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    reject_unmodelled(&mut params)?;
    let mode = params
        .one_of("mode", &["payment", "subscription", "setup"])?
        .ok_or_else(|| ApiError::missing_param("mode"))?;
    if mode != "payment" {
        return Err(ApiError::invalid_param(
            "mode",
            format!(
                "Checkout Sessions in {mode} mode are not supported by fakestripe yet; use mode=payment."
            ),
        ));
    }
    let (ui_mode, [hosted, _, elements]) = take_ui_mode(&mut params, &ctx.api_version)?;
    let Redirects {
        success_url,
        cancel_url,
        return_url,
        redirect_on_completion,
    } = take_redirects(&mut params, &ui_mode, hosted)?;

    let client_reference_id = params
        .string("client_reference_id")?
        .filter(|s| !s.is_empty());
    if client_reference_id
        .as_ref()
        .is_some_and(|s| s.chars().count() > 200)
    {
        return Err(ApiError::invalid_param(
            "client_reference_id",
            "client_reference_id must be at most 200 characters.",
        ));
    }
    let CustomerParams {
        customer,
        customer_email,
        customer_creation,
        customer_update,
    } = take_customer_params(data, &mut params)?;
    let meta = match params.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    let mut payment_intent_data = take_payment_intent_data(&mut params)?;
    // The payment intent may be made later, at payment, so it takes the
    // default of the version the session was created with.
    if payment_intent_data["capture_method"].is_null() {
        payment_intent_data["capture_method"] =
            json!(version::default_capture_method(&ctx.api_version));
    }
    let now = data.now();
    let expires_at = match params.integer("expires_at")? {
        None => now + MAX_EXPIRY,
        // Saturating, because `at` can be any i64 the client sent.
        Some(at) if !(MIN_EXPIRY..=MAX_EXPIRY).contains(&at.saturating_sub(now)) => {
            return Err(ApiError::invalid_param(
                "expires_at",
                format!(
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from the Checkout Session's creation ({now}); got {at}."
                ),
            ));
        }
        Some(at) => at,
    };
    let methods = super::payment_checks::MethodParams::take(
        &mut params,
        &ctx.api_version,
        version::PAYMENT_METHOD_TYPES_REMOVED,
        version::EXCLUDED_TYPES,
    )?;
    let locale = params.one_of("locale", LOCALES)?;
    let submit_type = params.one_of(
        "submit_type",
        &["auto", "book", "donate", "pay", "subscribe"],
    )?;
    let billing_address_collection =
        params.one_of("billing_address_collection", &["auto", "required"])?;
    let allow_promotion_codes = params.boolean("allow_promotion_codes")?;
    let custom_text = match params.hash("custom_text")? {
        Some(_) if ui_mode == elements => return Err(no_checkout_page("custom_text", elements)),
        Some(text) => take_custom_text(text)?,
        None => CustomText::default(),
    };
    let consent_collection = match params.hash("consent_collection")? {
        Some(collection) => Some(take_consent_collection(collection)?),
        None => None,
    };
    let custom_fields = match params.hash_array("custom_fields")? {
        Some(_) if ui_mode == elements => return Err(no_checkout_page("custom_fields", elements)),
        Some(fields) => super::custom_fields::take(fields)?,
        None => Vec::new(),
    };
    let after_expiration = match params.hash("after_expiration")? {
        Some(_) if ui_mode == elements => {
            return Err(no_checkout_page("after_expiration", elements));
        }
        Some(after) => Some(super::session_recovery::take(after)?),
        None => None,
    };
    let payment_method_options = match params.hash("payment_method_options")? {
        Some(options) => take_payment_method_options(options)?,
        None => PaymentMethodOptions::default(),
    };
    let phone_number_collection = match params.hash("phone_number_collection")? {
        Some(collection) => take_phone_number_collection(collection)?,
        None => Enabled::default(),
    };
    let shipping_address_collection = match params.hash("shipping_address_collection")? {
        Some(collection) => Some(take_shipping_address_collection(collection)?),
        None => None,
    };
    let (mut items, currency) = take_line_items(data, &mut params)?;
    if let Some(listed) = &methods.listed {
        super::payment_checks::check_methods_for_currency(
            listed,
            &currency,
            "this session's line items are",
        )?;
    }
    // Allowed methods that do not take the currency are left out, while
    // listed ones must all take it.
    let offered_methods = methods
        .chosen(&currency, || default_methods(&currency))?
        .or_else(|| methods.listed.clone());
    params.finish()?;
    let amount = total_amount(&items, &currency)?;
    for item in &mut items {
        if let ItemPrice::Made(price) = &mut item.price {
            prices::commit_product(data, price);
        }
    }

    // A product's id is the caller's choice, and may be the store key of a
    // later session's line items, so an id whose key is taken is skipped.
    let id = loop {
        let id = data.new_id("cs_test_");
        if !data.store.has_id(&line_items_key(&id)) {
            break id;
        }
    };
    for item in &mut items {
        item.id = data.ids.next("li_");
    }
    let hosted_page = ui_mode == hosted;
    let client_secret = (!hosted_page).then(|| format!("{id}_secret_{}", &data.ids.next("")[..24]));
    // The page offers these methods, so the session lists the same ones.
    let shown_types = offered_methods
        .clone()
        .unwrap_or_else(|| default_methods(&currency));
    let customer_creation = match (&customer, customer_creation) {
        (Some(_), _) => None,
        (None, value) => Some(value.unwrap_or_else(|| "if_required".to_owned())),
    };
    let url = hosted_page.then(|| format!("{}/c/pay/{id}", ctx.shared.base_url));
    // The URL is shown only once the session expires.
    let recovery_url = after_expiration
        .as_ref()
        .is_some_and(super::session_recovery::AfterExpiration::recovery_enabled)
        .then(|| super::session_recovery::recovery_url(&ctx.shared.base_url, &id));
    let saved_payment_method_options = customer
        .is_some()
        .then(SavedPaymentMethodOptions::default_for_customer);
    let mut session = NewSession {
        id: &id,
        object: "checkout.session",
        adaptive_pricing: (),
        after_expiration,
        allow_promotion_codes,
        allowed_payment_method_types: methods.allowed,
        amount_subtotal: amount,
        amount_total: amount,
        automatic_tax: AutomaticTax::default(),
        billing_address_collection,
        cancel_url,
        client_reference_id,
        client_secret,
        collected_information: (),
        consent: (),
        consent_collection,
        created: now,
        currency,
        currency_conversion: (),
        custom_fields,
        custom_text,
        customer,
        customer_account: (),
        customer_creation,
        customer_details: (),
        customer_email,
        discounts: [],
        excluded_payment_method_types: methods.excluded,
        expires_at,
        integration_identifier: (),
        invoice: (),
        invoice_creation: InvoiceCreation::default(),
        livemode: false,
        locale,
        managed_payments: Enabled::default(),
        metadata: meta,
        mode: "payment",
        origin_context: (),
        payment_intent: None,
        payment_link: (),
        // Stripe's default; `if_required` applies to subscriptions.
        payment_method_collection: "always",
        payment_method_configuration_details: (),
        payment_method_options,
        payment_method_types: shown_types,
        payment_status: "unpaid",
        permissions: (),
        phone_number_collection,
        recovered_from: (),
        redirect_on_completion,
        return_url,
        saved_payment_method_options,
        setup_intent: (),
        shipping_address_collection,
        shipping_cost: (),
        shipping_options: [],
        status: "open",
        submit_type,
        subscription: (),
        success_url,
        total_details: TotalDetails::default(),
        // Stored with the current name; a response in an older version
        // renames it.
        ui_mode: version::ui_mode_in(version::DEFAULT_API_VERSION, &ui_mode).to_owned(),
        url,
        wallet_options: (),
    };
    // Kept for the customer's side and stripped from every response.
    let private = SessionPrivate {
        payment_intent_data,
        allowed_methods: offered_methods,
        customer_update,
        recovery_url,
    };
    if !version::at_least(&ctx.api_version, version::DEFERRED_PAYMENT_INTENT) {
        // Before 2022-08-01 a payment-mode session had its payment intent
        // from the start.
        let mut tree = serde_json::to_value(&session).unwrap_or_default();
        if let (Some(map), Ok(Value::Object(extra))) =
            (tree.as_object_mut(), serde_json::to_value(&private))
        {
            map.extend(extra);
        }
        let pi = crate::simulate::payment_intent_for(data, &tree, &origin(ctx));
        session.payment_intent = pi["id"].as_str().map(str::to_owned);
    }
    let line_items = LineItemList {
        object: "list",
        data: &items,
        has_more: false,
        url: format!("/v1/checkout/sessions/{id}/line_items"),
    };
    data.store.insert_encoded(
        "line_items",
        &line_items_key(&id),
        &crate::store::encode_public(&line_items),
        now,
    );
    ctx.printed = Some(super::save_new_printed(
        data,
        "checkout.session",
        &id,
        crate::store::encode_parts(&session, &private),
        "open",
    ));
    data.schedule(
        expires_at,
        Task::ExpireSession {
            session_id: (&id).into(),
        },
    );
    ctx.touch(&id);
    // The printed body is the response. The API layer reads it back only
    // to expand it.
    Ok(Value::Null)
}

/// Rejects the parameters of Stripe's session create that the fake does
/// not model, each with an error saying so, and any other unknown
/// parameter as unknown.
fn reject_unmodelled(params: &mut Params) -> ApiResult<()> {
    // `automatic_tax[enabled]=false` requests nothing the fake lacks, and
    // apps often send it, so it is taken and dropped.
    if let Some(mut tax) = params.hash("automatic_tax")?
        && (tax.boolean("enabled")? != Some(false) || !tax.is_empty())
    {
        return Err(unmodelled("automatic_tax"));
    }
    // Only a request with a parameter outside CREATE_PARAMS can hold an
    // unmodelled one, so the list is searched on that path alone.
    if let Err(unknown) = params.reject_unknown(CREATE_PARAMS) {
        return Err(
            match UNMODELLED_PARAMS.iter().find(|name| params.contains(name)) {
                Some(name) => unmodelled(name),
                None => unknown,
            },
        );
    }
    params.forbid_empty(&[
        "payment_method_options[acss_debit][mandate_options][custom_mandate_url]",
        "payment_method_options[konbini][expires_after_days]",
    ]);
    Ok(())
}

/// Reads `ui_mode`, which defaults to the hosted page. Returns it with the
/// names of the three modelled modes in the request's API version.
fn take_ui_mode(params: &mut Params, api_version: &str) -> ApiResult<(String, [&'static str; 3])> {
    let [hosted, embedded, elements] = ui_modes(api_version);
    let renamed = version::at_least(api_version, version::RENAMED_UI_MODES);
    let known: &[&str] = if renamed {
        &[hosted, embedded, elements, UNMODELLED_UI_MODE]
    } else if version::at_least(api_version, version::CUSTOM_UI_MODE) {
        &[hosted, embedded, elements]
    } else {
        &[hosted, embedded]
    };
    let ui_mode = params
        .one_of("ui_mode", known)
        .map_err(|mut err| {
            // The list is Stripe's, and one of its values is refused below.
            if renamed && err.param.as_deref() == Some("ui_mode") {
                err.message.push_str(&format!(
                    " fakestripe does not model {UNMODELLED_UI_MODE} yet, so use {hosted}, {embedded} or {elements}."
                ));
            }
            err
        })?
        .unwrap_or_else(|| hosted.to_owned());
    if ui_mode == UNMODELLED_UI_MODE {
        return Err(ApiError::invalid_param(
            "ui_mode",
            format!(
                "ui_mode={UNMODELLED_UI_MODE} is a Checkout Session UI mode that fakestripe does not model yet. Use {hosted}, {embedded} or {elements}."
            ),
        ));
    }
    Ok((ui_mode, [hosted, embedded, elements]))
}

/// The redirect parameters of a session create request.
struct Redirects {
    success_url: Option<String>,
    cancel_url: Option<String>,
    return_url: Option<String>,
    redirect_on_completion: Option<String>,
}

/// Reads the redirect parameters and checks them against the UI mode: a
/// hosted page returns to `success_url` or `cancel_url`, and the other
/// modes to `return_url`.
fn take_redirects(params: &mut Params, ui_mode: &str, hosted: &str) -> ApiResult<Redirects> {
    let success_url = params.string("success_url")?;
    let cancel_url = params.string("cancel_url")?;
    let return_url = params.string("return_url")?;
    let redirect_on_completion = params.one_of(
        "redirect_on_completion",
        &["always", "if_required", "never"],
    )?;
    if ui_mode == hosted {
        if return_url.is_some() {
            return Err(ApiError::invalid_param(
                "return_url",
                format!("return_url cannot be used with ui_mode={hosted}; use success_url."),
            ));
        }
    } else {
        for (name, value) in [("success_url", &success_url), ("cancel_url", &cancel_url)] {
            if value.is_some() {
                return Err(ApiError::invalid_param(
                    name,
                    format!("{name} cannot be used with ui_mode={ui_mode}; use return_url."),
                ));
            }
        }
        if return_url.is_none() && redirect_on_completion.as_deref() != Some("never") {
            return Err(ApiError::missing_param("return_url"));
        }
    }
    for (name, value) in [
        ("success_url", &success_url),
        ("cancel_url", &cancel_url),
        ("return_url", &return_url),
    ] {
        if let Some(url) = value {
            check_url(name, url)?;
        }
    }
    Ok(Redirects {
        success_url,
        cancel_url,
        return_url,
        redirect_on_completion,
    })
}

/// The customer parameters of a session create request.
struct CustomerParams {
    customer: Option<String>,
    customer_email: Option<String>,
    customer_creation: Option<String>,
    customer_update: Option<CustomerUpdate>,
}

/// Reads the customer parameters: an existing `customer` or a
/// `customer_email` to prefill, and the settings that apply to each.
fn take_customer_params(data: &AccountData, params: &mut Params) -> ApiResult<CustomerParams> {
    let customer = params.string("customer")?.filter(|s| !s.is_empty());
    // The email becomes the customer's when Checkout creates one.
    let customer_email = params
        .string_at_most("customer_email", super::customers::MAX_EMAIL_CHARS)?
        .filter(|s| !s.is_empty());
    if customer.is_some() && customer_email.is_some() {
        return Err(ApiError::invalid_param(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
        ));
    }
    if let Some(id) = &customer
        && !data.store.contains("customer", id)
    {
        return Err(ApiError::no_such_param("customer", id, "customer"));
    }
    if let Some(email) = &customer_email
        && !super::payment_checks::looks_like_email(email)
    {
        return Err(ApiError::invalid_param(
            "customer_email",
            format!("Invalid email address: {email}"),
        )
        .with_code("email_invalid"));
    }
    let customer_creation = params.one_of("customer_creation", &["always", "if_required"])?;
    if customer_creation.is_some() && customer.is_some() {
        return Err(ApiError::invalid_param(
            "customer_creation",
            "customer_creation cannot be used together with customer.",
        ));
    }
    let customer_update = match params.hash("customer_update")? {
        Some(_) if customer.is_none() => {
            return Err(ApiError::invalid_param(
                "customer_update",
                "customer_update can only be used with customer.",
            ));
        }
        Some(update) => Some(take_customer_update(update)?),
        None => None,
    };
    Ok(CustomerParams {
        customer,
        customer_email,
        customer_creation,
        customer_update,
    })
}

/// Reads and checks `line_items`, and `currency`, which may only repeat
/// the line items' currency. Returns the items and their currency. Prices
/// made from `price_data` are built but not yet stored.
fn take_line_items(
    data: &mut AccountData,
    params: &mut Params,
) -> ApiResult<(Vec<LineItem>, String)> {
    let requested_currency = params.string("currency")?;
    let line_item_params = params.hash_array("line_items")?.unwrap_or_default();
    if line_item_params.is_empty() {
        return Err(ApiError::missing_param("line_items"));
    }
    if line_item_params.len() > 100 {
        return Err(ApiError::invalid_param(
            "line_items",
            "A Checkout Session can have at most 100 line items.",
        ));
    }
    let mut items = Vec::with_capacity(line_item_params.len());
    for item in line_item_params {
        items.push(line_item(data, item)?);
    }
    let currency = items[0].currency.clone();
    if let Some((index, other)) = items
        .iter()
        .enumerate()
        .find(|(_, item)| item.currency != currency)
    {
        return Err(ApiError::invalid_param(
            format!("line_items[{index}]"),
            format!(
                "All line items must use the same currency; line_items[0] is in {currency} and line_items[{index}] is in {}.",
                other.currency
            ),
        ));
    }
    // A session in payment mode takes its currency from its line items,
    // so `currency` may only repeat it. Stripe's codes are lowercase, and
    // the comparison ignores case.
    if let Some(requested) = requested_currency
        && !requested.eq_ignore_ascii_case(&currency)
    {
        return Err(ApiError::invalid_param(
            "currency",
            format!(
                "currency is `{requested}`, but this session's line items are in {currency}. Send currency={currency}, or leave currency out."
            ),
        ));
    }
    Ok((items, currency))
}

/// Returns the session's total, checked against Stripe's maximum amount
/// and the currency's minimum charge.
fn total_amount(items: &[LineItem], currency: &str) -> ApiResult<i64> {
    // Each line total fits in an i64 (both factors are bounded), and so
    // does the sum of at most 100 of them.
    let amount: i64 = items.iter().map(|item| item.amount_total).sum();
    if amount > super::MAX_AMOUNT {
        return Err(ApiError::invalid_param(
            "line_items",
            format!(
                "The Checkout Session's total amount due must be at most {} in the currency's smallest unit. These line items add up to {amount}.",
                super::MAX_AMOUNT
            ),
        )
        .with_code("amount_too_large"));
    }
    if amount < super::minimum_charge(currency) {
        // NOTE: the message is Stripe's; the code and param are this
        // fake's choice, as public reports quote only the message.
        return Err(ApiError::invalid_param(
            "line_items",
            format!(
                "The Checkout Session's total amount due must add up to at least {}. These line items add up to {amount}.",
                super::minimum_charge_text(currency)
            ),
        )
        .with_code("amount_too_small"));
    }
    Ok(amount)
}

/// A new session as the API prints it, in Stripe's field order.
#[derive(serde::Serialize)]
struct NewSession<'a> {
    id: &'a str,
    object: &'static str,
    adaptive_pricing: (),
    after_expiration: Option<super::session_recovery::AfterExpiration>,
    allow_promotion_codes: Option<bool>,
    allowed_payment_method_types: Option<Vec<String>>,
    amount_subtotal: i64,
    amount_total: i64,
    automatic_tax: AutomaticTax,
    billing_address_collection: Option<String>,
    cancel_url: Option<String>,
    client_reference_id: Option<String>,
    client_secret: Option<String>,
    collected_information: (),
    consent: (),
    consent_collection: Option<ConsentCollection>,
    created: i64,
    currency: String,
    currency_conversion: (),
    custom_fields: Vec<super::custom_fields::CustomField>,
    custom_text: CustomText,
    customer: Option<String>,
    customer_account: (),
    customer_creation: Option<String>,
    customer_details: (),
    customer_email: Option<String>,
    discounts: [(); 0],
    excluded_payment_method_types: Option<Vec<String>>,
    expires_at: i64,
    integration_identifier: (),
    invoice: (),
    invoice_creation: InvoiceCreation,
    livemode: bool,
    locale: Option<String>,
    managed_payments: Enabled,
    metadata: Map<String, Value>,
    mode: &'static str,
    origin_context: (),
    payment_intent: Option<String>,
    payment_link: (),
    payment_method_collection: &'static str,
    /// Null, because the fake has no payment method configurations.
    /// NOTE: Stripe shows the configuration's `id` and `parent` here for a
    /// session created without `payment_method_types`.
    payment_method_configuration_details: (),
    payment_method_options: PaymentMethodOptions,
    payment_method_types: Vec<String>,
    payment_status: &'static str,
    permissions: (),
    phone_number_collection: Enabled,
    recovered_from: (),
    redirect_on_completion: Option<String>,
    return_url: Option<String>,
    saved_payment_method_options: Option<SavedPaymentMethodOptions>,
    setup_intent: (),
    shipping_address_collection: Option<ShippingAddressCollection>,
    shipping_cost: (),
    shipping_options: [(); 0],
    status: &'static str,
    submit_type: Option<String>,
    subscription: (),
    success_url: Option<String>,
    total_details: TotalDetails,
    ui_mode: String,
    url: Option<String>,
    wallet_options: (),
}

/// The saved payment method settings of a session. Stripe sets them on a
/// session created with `customer` and leaves the field null otherwise.
#[derive(serde::Serialize)]
struct SavedPaymentMethodOptions {
    allow_redisplay_filters: [&'static str; 1],
    payment_method_remove: &'static str,
    payment_method_save: (),
}

impl SavedPaymentMethodOptions {
    /// Returns the settings of a session created with `customer`: Checkout
    /// offers only methods saved with `allow_redisplay=always`, and the
    /// customer cannot remove them.
    fn default_for_customer() -> Self {
        SavedPaymentMethodOptions {
            allow_redisplay_filters: ["always"],
            payment_method_remove: "disabled",
            payment_method_save: (),
        }
    }
}

/// The fields a session keeps for the customer's side.
#[derive(serde::Serialize)]
struct SessionPrivate {
    #[serde(rename = "_payment_intent_data")]
    payment_intent_data: Value,
    #[serde(rename = "_allowed_methods")]
    allowed_methods: Option<Vec<String>>,
    /// `customer_update`, which the session object does not show.
    #[serde(rename = "_customer_update", skip_serializing_if = "Option::is_none")]
    customer_update: Option<CustomerUpdate>,
    /// The `after_expiration.recovery.url` the session shows once it
    /// expires, when recovery is enabled.
    #[serde(rename = "_recovery_url", skip_serializing_if = "Option::is_none")]
    recovery_url: Option<String>,
}

/// The customer fields a payment may overwrite, each `auto` or `never`
/// (Stripe's default).
#[derive(serde::Serialize)]
struct CustomerUpdate {
    address: Option<String>,
    name: Option<String>,
    shipping: Option<String>,
}

fn take_customer_update(mut update: Params) -> ApiResult<CustomerUpdate> {
    let address = update.one_of("address", &["auto", "never"])?;
    let name = update.one_of("name", &["auto", "never"])?;
    let shipping = update.one_of("shipping", &["auto", "never"])?;
    update.finish()?;
    Ok(CustomerUpdate {
        address,
        name,
        shipping,
    })
}

// The nested objects below start out the same in every new session.

#[derive(serde::Serialize, Default)]
struct AutomaticTax {
    enabled: bool,
    liability: (),
    provider: (),
    status: (),
}

/// The texts `custom_text` sets, each null when not set.
#[derive(serde::Serialize, Default)]
struct CustomText {
    after_submit: Option<CustomTextMessage>,
    shipping_address: Option<CustomTextMessage>,
    submit: Option<CustomTextMessage>,
    terms_of_service_acceptance: Option<CustomTextMessage>,
}

#[derive(serde::Serialize)]
struct CustomTextMessage {
    message: String,
}

/// The longest `custom_text[…][message]`, in characters, as Stripe's API
/// reference gives it.
const MAX_CUSTOM_TEXT_CHARS: usize = 1200;

#[derive(serde::Serialize, Default)]
struct InvoiceCreation {
    enabled: bool,
    invoice_data: InvoiceData,
}

/// The settings of the invoice Checkout would create, all unset.
#[derive(serde::Serialize, Default)]
struct InvoiceData {
    account_tax_ids: (),
    custom_fields: (),
    description: (),
    footer: (),
    issuer: (),
    metadata: Empty,
    rendering_options: (),
}

#[derive(serde::Serialize, Default)]
struct Enabled {
    enabled: bool,
}

#[derive(serde::Serialize, Default)]
struct TotalDetails {
    amount_discount: i64,
    amount_shipping: i64,
    amount_tax: i64,
}

#[derive(serde::Serialize, Default)]
struct Empty {}

/// The consent a session collects, from `consent_collection`. A setting
/// the request leaves out is null.
/// NOTE: whether Stripe shows such a setting as null or as `none` is not
/// confirmed.
#[derive(serde::Serialize)]
struct ConsentCollection {
    payment_method_reuse_agreement: Option<ReuseAgreement>,
    /// `auto` or `none`.
    promotions: Option<String>,
    /// `none` or `required`.
    terms_of_service: Option<String>,
}

#[derive(serde::Serialize)]
struct ReuseAgreement {
    /// `auto` or `hidden`.
    position: String,
}

fn take_consent_collection(mut collection: Params) -> ApiResult<ConsentCollection> {
    let payment_method_reuse_agreement = match collection.hash("payment_method_reuse_agreement")? {
        Some(mut agreement) => {
            let position = agreement
                .one_of("position", &["auto", "hidden"])?
                .ok_or_else(|| ApiError::missing_param(agreement.path("position")))?;
            agreement.finish()?;
            Some(ReuseAgreement { position })
        }
        None => None,
    };
    let promotions = collection.one_of("promotions", &["auto", "none"])?;
    let terms_of_service = collection.one_of("terms_of_service", &["none", "required"])?;
    collection.finish()?;
    Ok(ConsentCollection {
        payment_method_reuse_agreement,
        promotions,
        terms_of_service,
    })
}

/// The payment method options a session passes on to its payment intent.
/// Only the types given are shown.
#[derive(serde::Serialize, Default)]
struct PaymentMethodOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    card: Option<CardOptions>,
}

/// `payment_method_options[card]`, in Stripe's field order. The
/// settings not given are left out, except `request_three_d_secure`,
/// which defaults to `automatic`.
#[derive(serde::Serialize)]
struct CardOptions {
    /// `manual`, which overrides `payment_intent_data[capture_method]`
    /// for card payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    capture_method: Option<String>,
    /// `any`, `automatic` or `challenge`.
    request_three_d_secure: String,
    /// `off_session` or `on_session`, which overrides
    /// `payment_intent_data[setup_future_usage]` for card payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    setup_future_usage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement_descriptor_suffix_kana: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement_descriptor_suffix_kanji: Option<String>,
}

/// The maximum lengths of `statement_descriptor_suffix_kana` and
/// `_kanji`, in characters, as Stripe's API reference gives them.
const MAX_KANA_SUFFIX_CHARS: usize = 22;
const MAX_KANJI_SUFFIX_CHARS: usize = 17;

/// Settings of `payment_method_options[card]` that the fake does not
/// model: installments, the extended, incremental, multiple and over
/// captures, and blocked brands.
const UNMODELLED_CARD_OPTIONS: &[&str] = &[
    "installments",
    "request_extended_authorization",
    "request_incremental_authorization",
    "request_multicapture",
    "request_overcapture",
    "restrictions",
];

/// The payment method types of Stripe's `payment_method_options` other
/// than `card`, whose options the fake does not model. Of them, its
/// sessions offer only SEPA Direct Debit and US bank accounts.
const UNMODELLED_METHOD_OPTIONS: &[&str] = &[
    "acss_debit",
    "affirm",
    "afterpay_clearpay",
    "alipay",
    "alma",
    "amazon_pay",
    "au_becs_debit",
    "bacs_debit",
    "bancontact",
    "billie",
    "boleto",
    "cashapp",
    "customer_balance",
    "demo_pay",
    "eps",
    "fpx",
    "giropay",
    "grabpay",
    "ideal",
    "kakao_pay",
    "klarna",
    "konbini",
    "kr_card",
    "link",
    "mobilepay",
    "multibanco",
    "naver_pay",
    "oxxo",
    "p24",
    "pay_by_bank",
    "payco",
    "paynow",
    "paypal",
    "pix",
    "revolut_pay",
    "samsung_pay",
    "satispay",
    "sepa_debit",
    "sofort",
    "swish",
    "twint",
    "us_bank_account",
    "wechat_pay",
];

fn take_payment_method_options(mut options: Params) -> ApiResult<PaymentMethodOptions> {
    if let Some(name) = UNMODELLED_METHOD_OPTIONS
        .iter()
        .find(|name| options.contains(name))
    {
        return Err(unmodelled(&options.path(name)));
    }
    let card = match options.hash("card")? {
        Some(card) => Some(take_card_options(card)?),
        None => None,
    };
    options.finish()?;
    Ok(PaymentMethodOptions { card })
}

fn take_card_options(mut card: Params) -> ApiResult<CardOptions> {
    if let Some(name) = UNMODELLED_CARD_OPTIONS
        .iter()
        .find(|name| card.contains(name))
    {
        return Err(unmodelled(&card.path(name)));
    }
    let capture_method = card.one_of("capture_method", &["manual"])?;
    let request_three_d_secure = card
        .one_of("request_three_d_secure", &["any", "automatic", "challenge"])?
        .unwrap_or_else(|| "automatic".to_owned());
    let setup_future_usage = card.one_of("setup_future_usage", &["off_session", "on_session"])?;
    let statement_descriptor_suffix_kana =
        card.string_at_most("statement_descriptor_suffix_kana", MAX_KANA_SUFFIX_CHARS)?;
    let statement_descriptor_suffix_kanji =
        card.string_at_most("statement_descriptor_suffix_kanji", MAX_KANJI_SUFFIX_CHARS)?;
    card.finish()?;
    Ok(CardOptions {
        capture_method,
        request_three_d_secure,
        setup_future_usage,
        statement_descriptor_suffix_kana,
        statement_descriptor_suffix_kanji,
    })
}

/// Reads `custom_text`. A position sent as an empty string stays unset,
/// as Stripe reads an empty value as a request to unset it.
fn take_custom_text(mut text: Params) -> ApiResult<CustomText> {
    let mut custom = CustomText::default();
    for (name, slot) in [
        ("after_submit", &mut custom.after_submit),
        ("shipping_address", &mut custom.shipping_address),
        ("submit", &mut custom.submit),
        (
            "terms_of_service_acceptance",
            &mut custom.terms_of_service_acceptance,
        ),
    ] {
        let Some(mut position) = text.hash(name)? else {
            continue;
        };
        if position.is_empty() {
            continue;
        }
        let message = position.required_string("message")?;
        check_length(&position.path("message"), &message, MAX_CUSTOM_TEXT_CHARS)?;
        position.finish()?;
        *slot = Some(CustomTextMessage { message });
    }
    text.finish()?;
    Ok(custom)
}

/// The countries `shipping_address_collection[allowed_countries]` takes,
/// as stripe-python 16.1.0 lists them for API version 2026-10-28. The
/// customer's addresses on the Checkout page are checked against it too.
pub(crate) const CHECKOUT_COUNTRIES: &[&str] = &[
    "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO",
    "CR", "CV", "CW", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER",
    "ES", "ET", "FI", "FJ", "FK", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL",
    "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HN", "HR", "HT", "HU", "ID",
    "IE", "IL", "IM", "IN", "IO", "IQ", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI",
    "KM", "KN", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MK", "ML", "MM", "MN", "MO", "MQ", "MR", "MS", "MT",
    "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NG", "NI", "NL", "NO", "NP", "NR", "NU",
    "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PY", "QA",
    "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL",
    "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SZ", "TA", "TC", "TD", "TF", "TG", "TH", "TJ",
    "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VA",
    "VC", "VE", "VG", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW", "ZZ",
];

/// The countries Checkout ships to, from `shipping_address_collection`.
#[derive(serde::Serialize)]
struct ShippingAddressCollection {
    allowed_countries: Vec<String>,
}

/// Reads `shipping_address_collection`, whose `allowed_countries` Stripe
/// requires: a non-empty list of two-letter country codes.
fn take_shipping_address_collection(
    mut collection: Params,
) -> ApiResult<ShippingAddressCollection> {
    let name = collection.path("allowed_countries");
    let allowed_countries = collection
        .string_array("allowed_countries")?
        .filter(|countries| !countries.is_empty())
        .ok_or_else(|| ApiError::missing_param(&name))?;
    for (index, country) in allowed_countries.iter().enumerate() {
        if !CHECKOUT_COUNTRIES.contains(&country.as_str()) {
            return Err(ApiError::invalid_param(
                format!("{name}[{index}]"),
                format!(
                    "Invalid {name}[{index}]: `{country}` is not a country Checkout ships to. Use an uppercase two-letter ISO 3166-1 code, such as US or DE."
                ),
            ));
        }
    }
    collection.finish()?;
    Ok(ShippingAddressCollection { allowed_countries })
}

/// Reads `phone_number_collection`, whose `enabled` Stripe requires.
fn take_phone_number_collection(mut collection: Params) -> ApiResult<Enabled> {
    let enabled = collection
        .boolean("enabled")?
        .ok_or_else(|| ApiError::missing_param(collection.path("enabled")))?;
    collection.finish()?;
    Ok(Enabled { enabled })
}

/// The parts of `payment_intent_data` the payment intent is created with.
fn take_payment_intent_data(params: &mut Params) -> ApiResult<Value> {
    let Some(mut pid) = params.hash("payment_intent_data")? else {
        return Ok(json!({"metadata": {}, "capture_method": null}));
    };
    let meta = match pid.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    let description = pid.string("description")?;
    let capture_method = pid.one_of(
        "capture_method",
        &["automatic", "automatic_async", "manual"],
    )?;
    let receipt_email = pid.string("receipt_email")?;
    let statement_descriptor = pid.string("statement_descriptor")?;
    let statement_descriptor_suffix = pid.string("statement_descriptor_suffix")?;
    let setup_future_usage = pid.one_of("setup_future_usage", &["on_session", "off_session"])?;
    let transfer_group = pid.string("transfer_group")?;
    let shipping = match pid.hash("shipping")? {
        Some(shipping) => Some(take_shipping(shipping)?),
        None => None,
    };
    super::payment_checks::check_descriptors(
        statement_descriptor.as_deref(),
        statement_descriptor_suffix.as_deref(),
        |name| pid.path(name),
    )?;
    if let Some(name) = UNMODELLED_PAYMENT_INTENT_DATA
        .iter()
        .find(|name| pid.contains(name))
    {
        return Err(unmodelled(&pid.path(name)));
    }
    pid.finish()?;
    let mut intent_data = json!({
        "metadata": meta,
        "description": description,
        "capture_method": capture_method,
        "receipt_email": receipt_email,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "setup_future_usage": setup_future_usage,
        "transfer_group": transfer_group,
    });
    // Added only when given, as a missing key reads as null too.
    if let Some(shipping) = shipping {
        intent_data["shipping"] = shipping;
    }
    Ok(intent_data)
}

/// Parameters of Stripe's `payment_intent_data` that the fake does not
/// model, all of them Connect settings.
const UNMODELLED_PAYMENT_INTENT_DATA: &[&str] =
    &["application_fee_amount", "on_behalf_of", "transfer_data"];

/// The maximum length of a shipping field, in characters, from Stripe's
/// OpenAPI description.
const MAX_SHIPPING_FIELD_CHARS: usize = 5000;

/// Reads `payment_intent_data[shipping]` into the payment intent's
/// `shipping` object. Stripe requires `name` and `address[line1]`.
fn take_shipping(mut shipping: Params) -> ApiResult<Value> {
    let name = shipping.required_string("name")?;
    check_length(&shipping.path("name"), &name, MAX_SHIPPING_FIELD_CHARS)?;
    let mut address = shipping
        .hash("address")?
        .ok_or_else(|| ApiError::missing_param(shipping.path("address")))?;
    let line1 = address.required_string("line1")?;
    check_length(&address.path("line1"), &line1, MAX_SHIPPING_FIELD_CHARS)?;

    let optional =
        |params: &mut Params, field: &str| params.string_at_most(field, MAX_SHIPPING_FIELD_CHARS);
    let city = optional(&mut address, "city")?;
    let country = optional(&mut address, "country")?;
    let line2 = optional(&mut address, "line2")?;
    let postal_code = optional(&mut address, "postal_code")?;
    let state = optional(&mut address, "state")?;
    address.finish()?;
    let carrier = optional(&mut shipping, "carrier")?;
    let phone = optional(&mut shipping, "phone")?;
    let tracking_number = optional(&mut shipping, "tracking_number")?;
    shipping.finish()?;

    Ok(json!({
        "address": {
            "city": city,
            "country": country,
            "line1": line1,
            "line2": line2,
            "postal_code": postal_code,
            "state": state,
        },
        "carrier": carrier,
        "name": name,
        "phone": phone,
        "tracking_number": tracking_number,
    }))
}

/// A line item as the API prints it, in Stripe's field order.
#[derive(serde::Serialize)]
struct LineItem {
    /// Empty until the whole request has been checked.
    id: String,
    object: &'static str,
    adjustable_quantity: Option<AdjustableQuantity>,
    amount_discount: i64,
    amount_subtotal: i64,
    amount_tax: i64,
    amount_total: i64,
    currency: String,
    description: String,
    /// Empty when the request sets none.
    /// NOTE: the reference types this field as nullable; whether Stripe
    /// shows null or `{}` for a line item without metadata is not
    /// confirmed.
    metadata: Map<String, Value>,
    price: ItemPrice,
    quantity: i64,
}

/// `line_items[i][adjustable_quantity]`: the quantity range the customer
/// may pick on the page, each bound null when the request leaves it out.
/// The fake's page shows the quantity it was given and does not offer the
/// range.
#[derive(serde::Serialize)]
struct AdjustableQuantity {
    enabled: bool,
    maximum: Option<i64>,
    minimum: Option<i64>,
}

/// The price of a line item: one that `price_data` made for it, or a
/// stored price that `price` names.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ItemPrice {
    Made(Box<prices::Price>),
    Stored(Value),
}

/// The line items of a session, as its line items endpoint lists them.
#[derive(serde::Serialize)]
struct LineItemList<'a> {
    object: &'static str,
    data: &'a [LineItem],
    has_more: bool,
    url: String,
}

/// Builds one line item from `line_items[i]`: a `price` id, or `price_data`
/// which makes an inactive price (and a product from `product_data`).
fn line_item(data: &mut AccountData, mut item: Params) -> ApiResult<LineItem> {
    let quantity_path = item.path("quantity");
    let (price, currency, unit_amount, description) = match (
        item.string("price")?,
        item.hash("price_data")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_param(
                item.path("price_data"),
                "You may only specify one of these parameters: price, price_data.",
            ));
        }
        (Some(id), None) => {
            let price = data
                .store
                .get("price", &id)
                .or_else(|| prices::find_inline(data, &id))
                .ok_or_else(|| ApiError::no_such_param("price", &id, &item.path("price")))?;
            if price["active"] != json!(true) {
                return Err(ApiError::invalid_param(
                    item.path("price"),
                    format!(
                        "The price `{id}` is not active and cannot be used in a new Checkout Session."
                    ),
                ));
            }
            if !price["recurring"].is_null() {
                return Err(recurring_price(&item));
            }
            let currency = price["currency"].as_str().unwrap_or_default().to_owned();
            let unit_amount = price["unit_amount_decimal"]
                .as_str()
                .and_then(prices::scaled_decimal)
                .unwrap_or_default();
            let description = data
                .store
                .get("product", price["product"].as_str().unwrap_or_default())
                .and_then(|product| product["name"].as_str().map(str::to_owned))
                .unwrap_or_default();
            (ItemPrice::Stored(price), currency, unit_amount, description)
        }
        (None, Some(mut price_data)) => {
            let price = prices::build(data, &mut price_data, true)?;
            price_data.finish()?;
            if !price.recurring.is_null() {
                return Err(recurring_price(&item));
            }
            let description = match &price.new_product {
                Some(product) => product.name.clone(),
                None => data
                    .store
                    .get("product", &price.product)
                    .and_then(|product| product["name"].as_str().map(str::to_owned))
                    .unwrap_or_default(),
            };
            let (currency, unit_amount) = (price.currency.clone(), price.unit_scaled);
            (
                ItemPrice::Made(Box::new(price)),
                currency,
                unit_amount,
                description,
            )
        }
        (None, None) => return Err(ApiError::missing_param(item.path("price"))),
    };
    let quantity = item
        .integer_in("quantity", 1, 999_999)?
        .ok_or_else(|| ApiError::missing_param(quantity_path.clone()))?;
    let adjustable_quantity = match item.hash("adjustable_quantity")? {
        Some(mut adjustable) => {
            let enabled = adjustable
                .boolean("enabled")?
                .ok_or_else(|| ApiError::missing_param(adjustable.path("enabled")))?;
            let minimum = adjustable.integer("minimum")?;
            let maximum = adjustable.integer("maximum")?;
            adjustable.finish()?;
            Some(AdjustableQuantity {
                enabled,
                maximum,
                minimum,
            })
        }
        None => None,
    };
    let meta = match item.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    // A tax rate would add to `amount_tax` and `taxes`, which the fake does
    // not compute, so a rate is rejected rather than dropped.
    for name in ["tax_rates", "dynamic_tax_rates"] {
        if item.string_array(name)?.is_some() {
            return Err(unmodelled(&item.path(name)));
        }
    }
    item.finish()?;
    let total = prices::line_amount(unit_amount, quantity).ok_or_else(|| {
        ApiError::invalid_param(quantity_path, "The line item's amount is too large.")
    })?;
    Ok(LineItem {
        id: String::new(),
        object: "item",
        adjustable_quantity,
        amount_discount: 0,
        amount_subtotal: total,
        amount_tax: 0,
        amount_total: total,
        currency,
        description,
        metadata: meta,
        price,
        quantity,
    })
}

fn recurring_price(item: &Params) -> ApiError {
    ApiError::invalid_param(
        item.path("price"),
        "A recurring price needs mode=subscription, which fakestripe does not support yet.",
    )
}

fn check_url(name: &str, url: &str) -> ApiResult<()> {
    if plain_web_url(url) {
        return Ok(());
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::invalid_param(
            name,
            format!("Not a valid URL: {url}. Use an absolute http:// or https:// URL."),
        )),
    }
}

/// Returns whether `url` is an http(s) URL of the plainest shape: an ASCII host
/// name of letters, digits and hyphens, an optional port, and printable
/// ASCII after it. Every such URL parses, so the full parser, which is
/// slow next to the rest of a create, runs only for the others.
fn plain_web_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65_535)
    });
    let labels_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.get(..4).is_some_and(|l| l.eq_ignore_ascii_case("xn--"))
        })
        // A last label of digits would make the host an IPv4 address.
        && host
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()));
    port_ok && labels_ok && tail.bytes().all(|b| b.is_ascii_graphic())
}

/// A session as the API shows it: without the fields the fake keeps for
/// itself.
pub fn public(session: &Value) -> Value {
    into_public(session.clone())
}

/// Removes the fields the fake keeps for itself, in place.
pub fn into_public(mut session: Value) -> Value {
    if let Some(map) = session.as_object_mut() {
        map.retain(|key, _| !key.starts_with('_'));
    }
    session
}

/// Returns the stored session `id`, or a 404 that names the path
/// parameter `session`, as Stripe's does on retrieve and line items.
/// NOTE: update and expire are assumed to name it the same way.
fn fetch_session(data: &AccountData, id: &str) -> ApiResult<Value> {
    data.store
        .get("checkout.session", id)
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "session"))
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    let session = crate::faults::visible(data, "checkout.session", &id)
        .ok_or_else(|| ApiError::no_such("checkout.session", &id, "session"))?;
    Ok(into_public(session))
}

pub fn update(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let id = ctx.arg(0).to_owned();
    let before = fetch_session(data, &id)?;
    let mut session = before.clone();
    if let Some(update) = params.hash("metadata")? {
        let current = session["metadata"].as_object().cloned().unwrap_or_default();
        session["metadata"] = Value::Object(metadata::apply(&current, update)?);
    }
    params.finish()?;
    super::save(data, "checkout.session", &id, &session);
    ctx.touch(&id);
    Ok(into_public(session))
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let payment_intent = super::take_filter(data, &mut params, "payment_intent", "payment_intent")?;
    let customer = super::take_filter(data, &mut params, "customer", "customer")?;
    let status = params.one_of("status", &["open", "complete", "expired"])?;
    let payment_link = params.string("payment_link")?;
    // The fake makes no subscriptions and has no Accounts v2 customers, so
    // these match no session. Their ids are not looked up.
    let subscription = params.string("subscription")?;
    let customer_account = params.string("customer_account")?;
    let email = match params.hash("customer_details")? {
        Some(mut details) => {
            let email = details.required_string("email")?;
            details.finish()?;
            Some(email)
        }
        None => None,
    };
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    let keep = |s: &Value| {
        payment_intent
            .as_ref()
            .is_none_or(|pi| s["payment_intent"] == json!(pi))
            && customer.as_ref().is_none_or(|c| s["customer"] == json!(c))
            && status.as_ref().is_none_or(|st| s["status"] == json!(st))
            && payment_link
                .as_ref()
                .is_none_or(|pl| s["payment_link"] == json!(pl))
            && subscription
                .as_ref()
                .is_none_or(|id| s["subscription"] == json!(id))
            && customer_account
                .as_ref()
                .is_none_or(|id| s["customer_account"] == json!(id))
            && email
                .as_ref()
                .is_none_or(|e| s["customer_details"]["email"] == json!(e))
            && created.matches(s)
    };
    let mut listed = if crate::faults::affects_reads(data) {
        let visible = crate::faults::visible_list(data, "checkout.session");
        page.apply_where(visible.iter().collect(), keep, &ctx.path)?
    } else {
        list_where(ctx, data, "checkout.session", &page, keep)?
    };
    if let Some(items) = listed["data"].as_array_mut() {
        for item in items {
            *item = public(item);
        }
    }
    Ok(listed)
}

pub fn expire(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    let session = fetch_session(data, &id)?;
    if session["status"] != "open" {
        return Err(ApiError::bad_state(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired; this one is {}.",
            session["status"].as_str().unwrap_or_default()
        ))
        .with_code("checkout_session_not_open"));
    }
    ctx.touch(&id);
    let expired = crate::simulate::expire(data, &id, &origin(ctx));
    Ok(public(&expired))
}

pub fn line_items(
    ctx: &mut Ctx<'_>,
    data: &mut AccountData,
    mut params: Params,
) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    fetch_session(data, &id)?;
    ctx.touch(&id);
    let list = data
        .store
        .get("line_items", &line_items_key(&id))
        .unwrap_or_else(|| json!({"data": []}));
    // Line items keep the order they were given in, unlike other lists.
    let items = list["data"].as_array().cloned().unwrap_or_default();
    page.apply(items, &ctx.path)
}

#[cfg(test)]
mod tests {
    use super::plain_web_url;
    use proptest::prelude::*;

    #[test]
    fn plain_urls_take_the_short_path() {
        for url in [
            "https://shop.example/orders/1042/thanks?session_id={CHECKOUT_SESSION_ID}",
            "http://localhost:3000/cancel",
            "https://a-b.example:443/#done",
            "https://shop.example",
        ] {
            assert!(plain_web_url(url), "{url}");
            assert!(url::Url::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_urls_go_to_the_parser() {
        for url in [
            "ftp://shop.example/",
            "https://",
            "https://shop..example/",
            "https://10.0.0.1/",
            "https://xn--zz.example/",
            "https://bücher.example/",
            "https://shop.example:99999/",
            "https://user@shop.example/",
            "https://shop.example/a b",
            "HTTPS://shop.example/",
        ] {
            assert!(!plain_web_url(url), "{url}");
        }
    }

    proptest! {
        // The short path may only accept what the parser accepts.
        #[test]
        fn short_path_accepts_only_parsable_urls(
            url in "(https?://)?[a-zA-Z0-9.:@\\[\\]-]{0,20}[/?#]?[ -~\\t]{0,20}"
        ) {
            if plain_web_url(&url) {
                let parsed = url::Url::parse(&url);
                prop_assert!(parsed.is_ok(), "{url}");
            }
        }
    }
}
