//! Parameter checks that more than one resource makes: the payment method
//! types the fake models, the currency each method takes, the shape
//! of an email address, and statement descriptors.

use crate::wire::{ApiError, ApiResult, Params, version};

/// Payment methods a session can offer. The fake models cards and two
/// methods whose payment settles later.
pub const PAYMENT_METHODS: &[&str] = &["card", "sepa_debit", "us_bank_account"];

/// The payment method types that `excluded_payment_method_types` takes,
/// as stripe-python 16.1.0 lists them for API version 2026-10-28 on
/// Checkout Session create and payment intent create, update and confirm
/// (a superset of the 22 types in the older OpenAPI description).
/// `allowed_payment_method_types` takes these and `link`. Only
/// `PAYMENT_METHODS` are ever offered, so another allowed type is left
/// out, and excluding one removes nothing.
const STRIPE_TYPES: &[&str] = &[
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
    "bizum",
    "blik",
    "boleto",
    "card",
    "cashapp",
    "crypto",
    "customer_balance",
    "eps",
    "fpx",
    "giropay",
    "grabpay",
    "ideal",
    "kakao_pay",
    "klarna",
    "konbini",
    "kr_card",
    "mb_way",
    "mobilepay",
    "multibanco",
    "naver_pay",
    "nz_bank_account",
    "oxxo",
    "p24",
    "pay_by_bank",
    "payco",
    "paynow",
    "paypal",
    "paypay",
    "payto",
    "pix",
    "promptpay",
    "revolut_pay",
    "samsung_pay",
    "satispay",
    "scalapay",
    "sepa_debit",
    "sequra",
    "sofort",
    "sunbit",
    "swish",
    "twint",
    "upi",
    "us_bank_account",
    "wechat_pay",
    "zip",
];

/// Takes `payment_method_types`: a non-empty list of the methods that the
/// fake models, or None when the parameter is left out.
pub fn take_payment_method_types(params: &mut Params) -> ApiResult<Option<Vec<String>>> {
    take_method_list(params, "payment_method_types")
}

/// Takes the list of payment method types named `name`: a non-empty list
/// of the methods that the fake models, or None when it is left out.
pub fn take_method_list(params: &mut Params, name: &str) -> ApiResult<Option<Vec<String>>> {
    let modelled = PAYMENT_METHODS.join(", ");
    take_type_list(
        params,
        name,
        |kind| PAYMENT_METHODS.contains(&kind),
        &format!("list at least one of {modelled}, or leave it out for the defaults"),
        |kind| format!("fakestripe models {modelled}; got `{kind}`"),
    )
}

/// Takes `allowed_payment_method_types` or `excluded_payment_method_types`
/// (`name`): a non-empty list of any payment method types that Stripe
/// takes there, or None when it is left out.
fn take_any_types(params: &mut Params, name: &str) -> ApiResult<Option<Vec<String>>> {
    let allowed = name == "allowed_payment_method_types";
    take_type_list(
        params,
        name,
        |kind| STRIPE_TYPES.contains(&kind) || (allowed && kind == "link"),
        "list at least one payment method type, or leave it out",
        |kind| {
            format!(
                "`{kind}` is not a payment method type. Use a type such as card, sepa_debit, klarna or ideal"
            )
        },
    )
}

/// Takes the list named `name`, whose items `accepts` must take. An empty
/// list gets the hint `when_empty`, and an item it does not take the text
/// that `invalid` builds from it.
fn take_type_list(
    params: &mut Params,
    name: &str,
    accepts: impl Fn(&str) -> bool,
    when_empty: &str,
    invalid: impl Fn(&str) -> String,
) -> ApiResult<Option<Vec<String>>> {
    let Some(types) = params.string_array(name)? else {
        return Ok(None);
    };
    if types.is_empty() {
        return Err(ApiError::invalid_param(
            name,
            format!("Invalid {name}: {when_empty}."),
        ));
    }
    for (index, kind) in types.iter().enumerate() {
        if !accepts(kind) {
            return Err(ApiError::invalid_param(
                format!("{name}[{index}]"),
                format!("Invalid {name}[{index}]: {}.", invalid(kind)),
            ));
        }
    }
    Ok(Some(types))
}

/// Rejects `payment_method_types` in a request whose API version no longer
/// takes it. From 2026-09-30.endive, Stripe returns a 400 with the code
/// `payment_method_types_no_longer_supported` for it on payment intent
/// create, update and confirm. NOTE: the code on Checkout Session create is
/// assumed to be the same, as the changelog quotes it only for intents.
pub fn reject_removed_payment_method_types(params: &Params, api_version: &str) -> ApiResult<()> {
    if !params.contains("payment_method_types")
        || !version::at_least(api_version, version::PAYMENT_METHOD_TYPES_REMOVED)
    {
        return Ok(());
    }
    Err(ApiError::invalid_param(
        "payment_method_types",
        format!(
            "payment_method_types is no longer supported from API version {} on, and this request uses {api_version}. Send allowed_payment_method_types to choose the payment methods, excluded_payment_method_types to remove some from the defaults, or neither for the defaults.",
            version::PAYMENT_METHOD_TYPES_REMOVED_NAME
        ),
    )
    .with_code("payment_method_types_no_longer_supported"))
}

/// Rejects parameter `name` as unknown when `api_version` is older than
/// `since`, the version that added it.
fn reject_before(params: &Params, name: &str, api_version: &str, since: &str) -> ApiResult<()> {
    if params.contains(name) && !version::at_least(api_version, since) {
        return Err(ApiError::unknown_param(name));
    }
    Ok(())
}

/// Builds the 400 for two parameters that a request may not send together.
pub fn only_one_of(first: &str, second: &str) -> ApiError {
    ApiError::invalid_param(
        second,
        format!("You may only specify one of these parameters: {first}, {second}."),
    )
}

/// The payment method parameters of a Checkout Session or payment intent
/// request. `allowed` comes alone, as Stripe takes it with neither of the
/// other two.
pub struct MethodParams {
    /// `payment_method_types`, in versions before 2026-09-30.
    pub listed: Option<Vec<String>>,
    /// `allowed_payment_method_types`, shown on the object as sent.
    pub allowed: Option<Vec<String>>,
    /// `excluded_payment_method_types`, shown on the object as sent.
    pub excluded: Option<Vec<String>>,
}

impl MethodParams {
    /// Takes `payment_method_types`, `allowed_payment_method_types` and
    /// `excluded_payment_method_types`, each in the versions that have it.
    /// `allowed_since` and `excluded_since` are the versions that added
    /// the last two to the endpoint.
    pub fn take(
        params: &mut Params,
        api_version: &str,
        allowed_since: &str,
        excluded_since: &str,
    ) -> ApiResult<MethodParams> {
        reject_removed_payment_method_types(params, api_version)?;
        reject_before(
            params,
            "allowed_payment_method_types",
            api_version,
            allowed_since,
        )?;
        reject_before(
            params,
            "excluded_payment_method_types",
            api_version,
            excluded_since,
        )?;
        let listed = take_method_list(params, "payment_method_types")?;
        let allowed = take_any_types(params, "allowed_payment_method_types")?;
        let excluded = take_any_types(params, "excluded_payment_method_types")?;
        if allowed.is_some() && listed.is_some() {
            return Err(only_one_of(
                "allowed_payment_method_types",
                "payment_method_types",
            ));
        }
        if allowed.is_some() && excluded.is_some() {
            return Err(only_one_of(
                "allowed_payment_method_types",
                "excluded_payment_method_types",
            ));
        }
        Ok(MethodParams {
            listed,
            allowed,
            excluded,
        })
    }

    /// Returns whether the request sent any of the three parameters.
    pub fn is_some(&self) -> bool {
        self.listed.is_some() || self.allowed.is_some() || self.excluded.is_some()
    }

    /// Returns the name of a parameter the request sent.
    pub fn param(&self) -> &'static str {
        if self.allowed.is_some() {
            "allowed_payment_method_types"
        } else if self.excluded.is_some() {
            "excluded_payment_method_types"
        } else {
            "payment_method_types"
        }
    }

    /// Returns the methods offered in `currency` under `allowed` or
    /// `excluded`, or None when neither was sent. `excluded` removes
    /// methods from `listed`, or from `defaults` without a list.
    pub fn chosen(
        &self,
        currency: &str,
        defaults: impl FnOnce() -> Vec<String>,
    ) -> ApiResult<Option<Vec<String>>> {
        if let Some(allowed) = &self.allowed {
            return filter_allowed(allowed, currency).map(Some);
        }
        match &self.excluded {
            Some(excluded) => {
                let base = self.listed.clone().unwrap_or_else(defaults);
                remove_excluded(base, excluded).map(Some)
            }
            None => Ok(None),
        }
    }
}

/// Returns the currency that payment method `kind` needs, for the methods
/// that take one currency only.
fn required_currency(kind: &str) -> Option<&'static str> {
    match kind {
        "sepa_debit" => Some("eur"),
        "us_bank_account" => Some("usd"),
        _ => None,
    }
}

/// Returns the payment methods offered from `allowed_payment_method_types`:
/// the ones that the fake models and that take `currency`. Stripe leaves
/// out an incompatible method without an error, so a 400 comes only when
/// no method is left.
pub fn filter_allowed(allowed: &[String], currency: &str) -> ApiResult<Vec<String>> {
    let modelled: Vec<&String> = allowed
        .iter()
        .filter(|kind| PAYMENT_METHODS.contains(&kind.as_str()))
        .collect();
    if modelled.is_empty() {
        return Err(ApiError::invalid_param(
            "allowed_payment_method_types",
            format!(
                "None of allowed_payment_method_types ({}) is a payment method that fakestripe models: it models {}. Add one of them.",
                allowed.join(", "),
                PAYMENT_METHODS.join(", ")
            ),
        ));
    }
    let offered: Vec<String> = modelled
        .into_iter()
        .filter(|kind| required_currency(kind).is_none_or(|needed| needed == currency))
        .cloned()
        .collect();
    if offered.is_empty() {
        // NOTE: Stripe's reference does not say what it returns when no
        // allowed method takes the currency. The fake rejects the request.
        return Err(ApiError::invalid_param(
            "allowed_payment_method_types",
            format!(
                "None of allowed_payment_method_types ({}) takes {currency}: sepa_debit takes eur only and us_bank_account takes usd only. Add card, or a method that takes {currency}.",
                allowed.join(", ")
            ),
        ));
    }
    Ok(offered)
}

/// Returns `defaults` without the methods in `excluded_payment_method_types`,
/// or a 400 when that leaves no method.
pub fn remove_excluded(defaults: Vec<String>, excluded: &[String]) -> ApiResult<Vec<String>> {
    let all = defaults.join(", ");
    let offered: Vec<String> = defaults
        .into_iter()
        .filter(|kind| !excluded.contains(kind))
        .collect();
    if offered.is_empty() {
        return Err(ApiError::invalid_param(
            "excluded_payment_method_types",
            format!(
                "excluded_payment_method_types removes every payment method that would be offered ({all}). Leave at least one of them in."
            ),
        ));
    }
    Ok(offered)
}

/// Checks that each method takes `currency`: SEPA Direct Debit takes
/// euros and US bank accounts take dollars. `subject` names what is in
/// that currency, such as "this session's line items".
pub fn check_methods_for_currency(
    types: &[String],
    currency: &str,
    subject: &str,
) -> ApiResult<()> {
    for (index, kind) in types.iter().enumerate() {
        let Some(needed) = required_currency(kind) else {
            continue;
        };
        if currency != needed {
            return Err(ApiError::invalid_param(
                format!("payment_method_types[{index}]"),
                format!(
                    "The payment method `{kind}` only supports {needed}; {subject} in {currency}."
                ),
            ));
        }
    }
    Ok(())
}

/// Returns whether `email` looks like an address the API accepts: one
/// `@` with a name before it, and a domain of two or more dot-separated
/// labels, each of letters, digits and inner hyphens. No spaces, commas or
/// angle brackets, so a list of addresses is rejected.
pub fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@,;<>()[]\\\"".contains(c))
        && labels.len() >= 2
        && labels.iter().all(|label| label_ok(label))
}

/// Checks a payment's `statement_descriptor` and
/// `statement_descriptor_suffix`, where given. `path` turns each name into
/// the parameter's full path for the error.
pub fn check_descriptors(
    descriptor: Option<&str>,
    suffix: Option<&str>,
    path: impl Fn(&str) -> String,
) -> ApiResult<()> {
    if let Some(value) = descriptor {
        check_statement_descriptor(&path("statement_descriptor"), value, false)?;
    }
    if let Some(value) = suffix {
        check_statement_descriptor(&path("statement_descriptor_suffix"), value, true)?;
    }
    Ok(())
}

/// Checks a `statement_descriptor` or `statement_descriptor_suffix` against
/// Stripe's statement descriptor guide, read strictly. The value is
/// printable ASCII without `<`, `>`, `\`, `'`, `"` and `*`, and at most 22
/// characters. A full descriptor also needs at least 5 characters and one
/// letter. `param` names the parameter in the error.
pub fn check_statement_descriptor(param: &str, value: &str, suffix: bool) -> ApiResult<()> {
    let count = value.chars().count();
    let problem = if count > 22 {
        Some(format!(
            "must be at most 22 characters, and this one has {count}"
        ))
    } else if !suffix && count < 5 {
        Some(format!(
            "must be at least 5 characters, and this one has {count}"
        ))
    } else if let Some(bad) = value
        .chars()
        .find(|c| !(' '..='~').contains(c) || "<>\\'\"*".contains(*c))
    {
        Some(format!(
            "may contain only ASCII letters, digits, spaces and punctuation other than < > \\ ' \" *; `{bad}` is not allowed"
        ))
    } else if !suffix && !value.chars().any(|c| c.is_ascii_alphabetic()) {
        Some("must contain at least one letter".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ApiError::invalid_param(
            param,
            format!("Invalid {param}: it {problem}."),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_email;

    #[test]
    fn email_shapes() {
        for valid in [
            "ada@example.com",
            "ada+shop@mail.example.co.uk",
            "O'Brien@example.ie",
            "UPPER@EXAMPLE.COM",
            "josé@exämple.de",
            "a@b-c.io",
        ] {
            assert!(looks_like_email(valid), "{valid}");
        }
        for invalid in [
            "notanemail",
            "a@@b.com",
            "a@example.com,b@example.com",
            "a@example..com",
            "a@-example.com",
            "a@example-.com",
            "@example.com",
            "a@localhost",
            "a b@example.com",
            "<a@example.com>",
            "a@example.com.",
        ] {
            assert!(!looks_like_email(invalid), "{invalid}");
        }
    }
}
