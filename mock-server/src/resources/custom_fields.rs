//! The `custom_fields` of a Checkout Session: the fields a create defines,
//! and the values a payment enters into them. The limits are those of
//! Stripe's API reference and its guide to Checkout's custom fields.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::wire::params::check_length;
use crate::wire::{ApiError, ApiResult, Params};

/// The maximum number of custom fields on one session.
const MAX_FIELDS: usize = 3;
const MAX_KEY_CHARS: usize = 200;
const MAX_LABEL_CHARS: usize = 50;
const MAX_OPTIONS: usize = 200;
/// The maximum length, in characters, of a dropdown option's label and
/// value and of the dropdown's default value.
const MAX_OPTION_CHARS: usize = 100;
/// The maximum input length of a text field in characters, and of a
/// numeric field in digits, which also bounds `minimum_length` and
/// `maximum_length`.
const MAX_INPUT_CHARS: usize = 255;

/// The field types Checkout offers.
const TYPES: [&str; 3] = ["dropdown", "numeric", "text"];

/// One custom field as the session prints it, in Stripe's field order.
/// Only the settings of the field's own type are set.
#[derive(serde::Serialize)]
pub struct CustomField {
    dropdown: Option<Dropdown>,
    key: String,
    label: Label,
    numeric: Option<TextSettings>,
    optional: bool,
    text: Option<TextSettings>,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(serde::Serialize)]
struct Dropdown {
    default_value: Option<String>,
    options: Vec<DropdownOption>,
    /// The chosen option's `value`, null until payment.
    value: Option<String>,
}

#[derive(serde::Serialize)]
struct DropdownOption {
    label: String,
    value: String,
}

#[derive(serde::Serialize)]
struct Label {
    custom: String,
    /// Always `custom`, the only label type.
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The settings of a text or numeric field.
#[derive(serde::Serialize, Default)]
struct TextSettings {
    default_value: Option<String>,
    maximum_length: Option<i64>,
    minimum_length: Option<i64>,
    /// The customer's input, null until payment.
    value: Option<String>,
}

/// Takes the required identifier `name`: a field's key or an option's
/// value, which Stripe limits to `max` letters and digits.
fn take_identifier(params: &mut Params, name: &str, max: usize) -> ApiResult<String> {
    let text = params.required_string(name)?;
    let path = params.path(name);
    check_length(&path, &text, max)?;
    if !text.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid_param(
            path.clone(),
            format!("Invalid {path}: `{text}` may contain only letters and digits."),
        ));
    }
    Ok(text)
}

/// Reads `custom_fields` of a session create.
pub fn take(fields: Vec<Params>) -> ApiResult<Vec<CustomField>> {
    if fields.len() > MAX_FIELDS {
        return Err(ApiError::invalid_param(
            "custom_fields",
            format!(
                "A Checkout Session can have at most {MAX_FIELDS} custom fields; this request has {}.",
                fields.len()
            ),
        ));
    }
    let mut defined: Vec<CustomField> = Vec::with_capacity(fields.len());
    for field in fields {
        let key_path = field.path("key");
        let field = take_field(field)?;
        if let Some(index) = defined.iter().position(|other| other.key == field.key) {
            return Err(ApiError::invalid_param(
                key_path,
                format!(
                    "The key `{}` is already the key of custom_fields[{index}]. Each custom field needs its own key.",
                    field.key
                ),
            ));
        }
        defined.push(field);
    }
    Ok(defined)
}

fn take_field(mut field: Params) -> ApiResult<CustomField> {
    let key = take_identifier(&mut field, "key", MAX_KEY_CHARS)?;
    let mut label = field
        .hash("label")?
        .ok_or_else(|| ApiError::missing_param(field.path("label")))?;
    label
        .one_of("type", &["custom"])?
        .ok_or_else(|| ApiError::missing_param(label.path("type")))?;
    let custom = label.required_string("custom")?;
    check_length(&label.path("custom"), &custom, MAX_LABEL_CHARS)?;
    label.finish()?;
    let kind = field
        .one_of("type", &TYPES)?
        .ok_or_else(|| ApiError::missing_param(field.path("type")))?;
    let optional = field.boolean("optional")?.unwrap_or(false);

    // Each type has its own settings hash, and the others' are rejected.
    for other in TYPES.iter().filter(|t| **t != kind) {
        if field.contains(other) {
            return Err(ApiError::invalid_param(
                field.path(other),
                format!(
                    "{} applies to custom fields of type {other}; this field's type is {kind}.",
                    field.path(other)
                ),
            ));
        }
    }
    let mut dropdown = None;
    let mut numeric = None;
    let mut text = None;
    match kind.as_str() {
        "dropdown" => {
            let settings = field
                .hash("dropdown")?
                .ok_or_else(|| ApiError::missing_param(field.path("dropdown")))?;
            dropdown = Some(take_dropdown(settings)?);
        }
        "numeric" => {
            numeric = Some(match field.hash("numeric")? {
                Some(settings) => take_text_settings(settings, true)?,
                None => TextSettings::default(),
            });
        }
        _ => {
            text = Some(match field.hash("text")? {
                Some(settings) => take_text_settings(settings, false)?,
                None => TextSettings::default(),
            });
        }
    }
    field.finish()?;
    Ok(CustomField {
        dropdown,
        key,
        label: Label {
            custom,
            kind: "custom",
        },
        numeric,
        optional,
        text,
        kind,
    })
}

fn take_dropdown(mut dropdown: Params) -> ApiResult<Dropdown> {
    let options_path = dropdown.path("options");
    let option_params = dropdown.hash_array("options")?.unwrap_or_default();
    if option_params.is_empty() {
        return Err(ApiError::missing_param(options_path));
    }
    if option_params.len() > MAX_OPTIONS {
        return Err(ApiError::invalid_param(
            options_path,
            format!(
                "A dropdown can have at most {MAX_OPTIONS} options; this one has {}.",
                option_params.len()
            ),
        ));
    }
    let mut options: Vec<DropdownOption> = Vec::with_capacity(option_params.len());
    for mut option in option_params {
        let label = option.required_string("label")?;
        check_length(&option.path("label"), &label, MAX_OPTION_CHARS)?;
        let value = take_identifier(&mut option, "value", MAX_OPTION_CHARS)?;
        if options.iter().any(|other| other.value == value) {
            return Err(ApiError::invalid_param(
                option.path("value"),
                format!(
                    "The value `{value}` is already the value of another option of this dropdown."
                ),
            ));
        }
        option.finish()?;
        options.push(DropdownOption { label, value });
    }
    let default_value = dropdown.string_at_most("default_value", MAX_OPTION_CHARS)?;
    if let Some(default) = &default_value
        && !options.iter().any(|option| option.value == *default)
    {
        return Err(ApiError::invalid_param(
            dropdown.path("default_value"),
            format!(
                "The default value `{default}` is not the value of any of this dropdown's options."
            ),
        ));
    }
    dropdown.finish()?;
    Ok(Dropdown {
        default_value,
        options,
        value: None,
    })
}

fn take_text_settings(mut settings: Params, digits_only: bool) -> ApiResult<TextSettings> {
    let max = MAX_INPUT_CHARS as i64;
    let minimum_length = settings.integer_in("minimum_length", 1, max)?;
    let maximum_length = settings.integer_in("maximum_length", 1, max)?;
    if let (Some(minimum), Some(maximum)) = (minimum_length, maximum_length)
        && minimum > maximum
    {
        return Err(ApiError::invalid_param(
            settings.path("minimum_length"),
            format!(
                "minimum_length ({minimum}) must not be greater than maximum_length ({maximum})."
            ),
        ));
    }
    let default_value = settings.string_at_most("default_value", MAX_INPUT_CHARS)?;
    if digits_only
        && let Some(default) = &default_value
        && !default.chars().all(|c| c.is_ascii_digit())
    {
        return Err(ApiError::invalid_param(
            settings.path("default_value"),
            format!("The default value `{default}` of a numeric field may contain only digits."),
        ));
    }
    settings.finish()?;
    Ok(TextSettings {
        default_value,
        maximum_length,
        minimum_length,
        value: None,
    })
}

/// The text a payment through the control API enters into a required
/// text field left out of its call, repeated or cut to the field's
/// length limits.
const SAMPLE_TEXT: &str = "Sample text";
/// The digits entered into a required numeric field left out, repeated
/// or cut to the field's length limits.
const SAMPLE_DIGITS: &str = "1234567890";

/// Returns `sample` repeated or cut to a length within the settings'
/// limits, as close to the sample's own length as they allow.
fn fitted_sample(settings: &Value, sample: &str) -> String {
    let minimum = settings["minimum_length"].as_u64().unwrap_or(1) as usize;
    let maximum = settings["maximum_length"]
        .as_u64()
        .map_or(MAX_INPUT_CHARS, |max| max as usize);
    let length = sample.chars().count().clamp(minimum, maximum.max(minimum));
    sample.chars().cycle().take(length).collect()
}

/// Returns the session's `custom_fields` with the values a payment
/// enters. `entered` maps a field's key to the customer's input, where an
/// empty string is a field left blank. A field missing from `entered`
/// takes its default value, and a required field without one takes a
/// value that fits it, as a payment through the control API needs no
/// input for them. Errors name `custom_fields[key]`.
pub fn enter(fields: &Value, entered: Option<&BTreeMap<String, String>>) -> ApiResult<Value> {
    let empty = BTreeMap::new();
    let entered = entered.unwrap_or(&empty);
    let list = fields.as_array().map(Vec::as_slice).unwrap_or_default();
    if let Some(unknown) = entered
        .keys()
        .find(|key| !list.iter().any(|field| field["key"] == key.as_str()))
    {
        let known: Vec<&str> = list.iter().filter_map(|f| f["key"].as_str()).collect();
        let message = if known.is_empty() {
            "This session has no custom fields; leave custom_fields out.".to_owned()
        } else {
            format!(
                "This session has no custom field with the key `{unknown}`; its keys are {}.",
                known.join(", ")
            )
        };
        return Err(ApiError::invalid_param(
            format!("custom_fields[{unknown}]"),
            message,
        ));
    }
    let mut filled = fields.clone();
    for field in filled
        .as_array_mut()
        .map(Vec::as_mut_slice)
        .unwrap_or_default()
    {
        let key = field["key"].as_str().unwrap_or_default().to_owned();
        let kind = field["type"].as_str().unwrap_or("text").to_owned();
        let required = field["optional"] != true;
        let settings = &field[kind.as_str()];
        let value = match entered.get(&key).map(String::as_str) {
            Some("") if required => {
                return Err(ApiError::invalid_param(
                    format!("custom_fields[{key}]"),
                    format!(
                        "The custom field `{key}` is required; enter a value or leave it out of the call to have one entered."
                    ),
                ));
            }
            Some("") => None,
            Some(input) => Some(checked_input(&key, &kind, settings, input)?),
            None => match settings["default_value"].as_str() {
                Some(default) => Some(default.to_owned()),
                None if required => Some(sample_value(&kind, settings)),
                None => None,
            },
        };
        field[kind.as_str()]["value"] = json!(value);
    }
    Ok(filled)
}

/// Returns a value that fits a required field, for a payment that left
/// it out.
fn sample_value(kind: &str, settings: &Value) -> String {
    match kind {
        "dropdown" => settings["options"][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        "numeric" => fitted_sample(settings, SAMPLE_DIGITS),
        _ => fitted_sample(settings, SAMPLE_TEXT),
    }
}

/// Checks the customer's input against the field, as the page does
/// before it lets the customer pay.
fn checked_input(key: &str, kind: &str, settings: &Value, input: &str) -> ApiResult<String> {
    let param = format!("custom_fields[{key}]");
    crate::wire::params::check_typed_text(&param, input)?;
    if kind == "dropdown" {
        let options = settings["options"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if options.iter().any(|option| option["value"] == input) {
            return Ok(input.to_owned());
        }
        let values: Vec<&str> = options.iter().filter_map(|o| o["value"].as_str()).collect();
        return Err(ApiError::invalid_param(
            param,
            format!(
                "`{input}` is not an option of the custom field `{key}`; send one of {}.",
                values.join(", ")
            ),
        ));
    }
    if kind == "numeric" && !input.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid_param(
            param,
            format!("The custom field `{key}` takes digits only, not `{input}`."),
        ));
    }
    let length = input.chars().count() as i64;
    let minimum = settings["minimum_length"].as_i64().unwrap_or(1);
    let maximum = settings["maximum_length"]
        .as_i64()
        .unwrap_or(MAX_INPUT_CHARS as i64);
    if length < minimum || length > maximum {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "The custom field `{key}` takes {minimum} to {maximum} characters; `{input}` has {length}."
            ),
        ));
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fit_the_length_limits() {
        let limits = json!({"minimum_length": 15, "maximum_length": 20});
        assert_eq!(fitted_sample(&limits, SAMPLE_TEXT), "Sample textSamp");
        let short = json!({"maximum_length": 4});
        assert_eq!(fitted_sample(&short, SAMPLE_DIGITS), "1234");
        assert_eq!(fitted_sample(&json!({}), SAMPLE_DIGITS), SAMPLE_DIGITS);
    }
}
