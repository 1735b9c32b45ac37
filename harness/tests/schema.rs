//! The JSON Schema that `fakestripe schema` prints.

use fakestripe::scenario::json_schema;
use fakestripe::scenario::model::{FAULT_KINDS, STEP_NAMES};

#[test]
fn schema_names_every_step_and_fault() {
    let text = json_schema().to_string();
    for name in STEP_NAMES.iter().chain(FAULT_KINDS) {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "the schema does not mention {name}"
        );
    }
}

#[test]
fn schema_rejects_unknown_keys() {
    let schema = json_schema();
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
}

/// The schema lists `fulfillments` beside `fulfilments` in the steps that
/// take it, and rejects a step that gives both.
#[test]
fn schema_lists_fulfillments_spelling() {
    let schema = json_schema();
    for step in ["ExpectStep", "WaitUntilStep"] {
        let definition = &schema["$defs"][step];
        assert_eq!(
            definition["properties"]["fulfillments"]["type"],
            definition["properties"]["fulfilments"]["type"],
            "{step}"
        );
        assert_eq!(
            definition["not"]["required"],
            serde_json::json!(["fulfilments", "fulfillments"]),
            "{step}"
        );
    }
}

#[test]
fn schema_snapshot() {
    insta::assert_json_snapshot!(json_schema());
}
