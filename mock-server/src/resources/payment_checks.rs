//! Parameter checks that more than one resource makes: the payment method
//! types the fake models, the currency each method takes, the shape
//! of an email address, and statement descriptors.

use crate::wire::{ApiError, ApiResult, Params};

/// Payment methods a session can offer. The fake models cards and two
/// methods whose payment settles later.
pub const PAYMENT_METHODS: &[&str] = &["card", "sepa_debit", "us_bank_account"];

/// Takes `payment_method_types`: a non-empty list of the methods that the
/// fake models, or None when the parameter is left out.
pub fn take_payment_method_types(params: &mut Params) -> ApiResult<Option<Vec<String>>> {
    let Some(types) = params.string_array("payment_method_types")? else {
        return Ok(None);
    };
    if types.is_empty() {
        return Err(ApiError::invalid_param(
            "payment_method_types",
            format!(
                "Invalid payment_method_types: list at least one of {}, or leave it out for the defaults.",
                PAYMENT_METHODS.join(", ")
            ),
        ));
    }
    for (index, kind) in types.iter().enumerate() {
        if !PAYMENT_METHODS.contains(&kind.as_str()) {
            return Err(ApiError::invalid_param(
                format!("payment_method_types[{index}]"),
                format!(
                    "Invalid payment_method_types[{index}]: fakestripe models {}; got `{kind}`.",
                    PAYMENT_METHODS.join(", ")
                ),
            ));
        }
    }
    Ok(Some(types))
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
        let needed = match kind.as_str() {
            "sepa_debit" => "eur",
            "us_bank_account" => "usd",
            _ => continue,
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
