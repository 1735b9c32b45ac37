//! Scenario files: the model ([`model`]), reading and checking them
//! ([`load`]), and the JSON Schema that `fakestripe schema` prints.

pub mod load;
pub mod located;
pub mod model;
mod numbers;
mod shape;
pub mod values;

pub use load::{PlannedStep, Scenario, collect_files, load_file, parse};
pub use model::Step;

/// Builds the JSON Schema of scenario files, for editors and other tools.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(model::ScenarioFile);
    schema.to_value()
}
