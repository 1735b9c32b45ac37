//! The scenario file as it is written: one struct per step, deserialized
//! with serde and described for `fakestripe schema` with schemars. Every
//! struct rejects unknown keys, so a misspelt key is an error with a line
//! number instead of a silently ignored check.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::located::LocatedValue;
use super::numbers;
use super::values::{
    Card, Duration, EventTypePattern, EventTypePatterns, HttpStatus, StoredSession,
};

// The `Deserialize` of `ScenarioFile` is written by hand in the `shape`
// module, so that a read can leave out the parts in which an earlier read
// found an error. The `serde` attributes describe that reading for the
// schema. The doc comment is the schema's description.
/// A scenario: one checkout story played against the app and the fake, then
/// checked against the reconciliation invariants.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "fakestripe scenario")]
pub struct ScenarioFile {
    /// Format version. Only 1 exists.
    #[serde(deserialize_with = "numbers::version")]
    #[schemars(with = "u32", range(min = 1, max = 1))]
    pub version: Spanned<u32>,
    /// Name shown in reports; defaults to the file name without extension.
    pub name: Option<String>,
    /// The story the scenario reproduces and the behaviour of a correct app.
    pub description: Option<String>,
    /// Seed of the fault plan. The same seed replays the same fault
    /// decisions. `fakestripe run --seed` overrides it.
    #[serde(default, deserialize_with = "numbers::seed")]
    pub seed: u64,
    /// Reconciliation invariants this scenario does not expect to hold, by
    /// name. Their violations are reported but do not fail the scenario.
    #[serde(default)]
    #[schemars(with = "Vec<InvariantName>")]
    pub allow: Vec<Spanned<String>>,
    /// The fault plan in force from the first step: the same entries as the
    /// `faults` list of `PUT /_fakestripe/faults`.
    #[serde(default)]
    #[schemars(with = "Vec<FaultEntry>")]
    pub faults: Vec<Spanned<LocatedValue>>,
    /// Virtual time to advance after the last step, so scheduled deliveries,
    /// retries, expiries and asynchronous payments run before the
    /// invariants are checked. Default 3 days, which covers Stripe's retry
    /// schedule; 0 checks the state as the last step left it.
    pub settle: Option<Duration>,
    /// The steps, run in order.
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<StepEntry>>,
}

/// The name of a reconciliation invariant, for the schema of `allow`.
pub struct InvariantName;

impl JsonSchema for InvariantName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "InvariantName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = crate::invariants::Invariant::ALL
            .iter()
            .map(|i| i.name())
            .collect();
        schemars::json_schema!({ "enum": names })
    }
}

/// One entry of a fault plan. `kind` names the fault; the other keys are
/// its parameters, which the fake validates.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FaultEntry {
    pub kind: FaultKind,
    #[serde(flatten)]
    pub parameters: BTreeMap<String, Value>,
}

/// The fault kinds the fake implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    PaymentStatusLag,
    StaleRead,
    MetadataDivergence,
    WebhookDelay,
    WebhookOrder,
    WebhookDuplicate,
    WebhookDrop,
    Hold,
    ApiError,
    LostResponse,
    ForgedWebhook,
    SearchLag,
}

/// The names of [`FaultKind`], as written in files.
pub const FAULT_KINDS: &[&str] = fakestripe_server::faults::KINDS;

/// One step. Each is a map with a single key, the step's name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Ask the app to start a checkout for an order.
    Checkout(CheckoutStep),
    /// Pay the order's Checkout Session as the customer.
    Pay(Box<PayStep>),
    /// Leave the hosted checkout page through its cancel link.
    Cancel(Option<SessionStep>),
    /// Follow the pending redirect (success or cancel URL) back to the app.
    Redirect(Option<RedirectStep>),
    /// Expire the order's Checkout Session through the Stripe API.
    Expire(Option<SessionStep>),
    /// Move the virtual clock forward and run everything that falls due.
    Advance(Duration),
    /// Hold deliveries of events whose type matches, until released.
    Hold(HoldStep),
    /// Release held deliveries; they are sent at the next advance.
    Release(Option<ReleaseStep>),
    /// Release held deliveries one type at a time, in the order given, and
    /// send each before the next.
    Deliver(Option<ReleaseStep>),
    /// Send the scenario's events of the given types again with the same
    /// event ids, whether they are held or were delivered already.
    Resend(ResendStep),
    /// Replace the fault plan's entries (the seed stays).
    #[schemars(with = "Vec<FaultEntry>")]
    SetFaults(Vec<Spanned<LocatedValue>>),
    /// Advance the clock in steps until a condition holds.
    WaitUntil(Box<WaitUntilStep>),
    /// Check the app's order, the fake's objects, the request log or the
    /// delivery log.
    Expect(Box<ExpectStep>),
}

/// The step names, as written in files.
pub const STEP_NAMES: &[&str] = &[
    "checkout",
    "pay",
    "cancel",
    "redirect",
    "expire",
    "advance",
    "hold",
    "release",
    "deliver",
    "resend",
    "set_faults",
    "wait_until",
    "expect",
];

impl Step {
    /// Returns the step's name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Checkout(_) => "checkout",
            Step::Pay(_) => "pay",
            Step::Cancel(_) => "cancel",
            Step::Redirect(_) => "redirect",
            Step::Expire(_) => "expire",
            Step::Advance(_) => "advance",
            Step::Hold(_) => "hold",
            Step::Release(_) => "release",
            Step::Deliver(_) => "deliver",
            Step::Resend(_) => "resend",
            Step::SetFaults(_) => "set_faults",
            Step::WaitUntil(_) => "wait_until",
            Step::Expect(_) => "expect",
        }
    }
}

/// One entry of `steps` as written. The entries that are not a step are
/// kept, not rejected during deserialization, so the loader reports each at
/// its own position and goes on to check the rest of the file.
///
/// serde-saphyr 2.2 reads a plain value that names a step with content
/// (`- checkout`) as that step, and takes the content from the next node,
/// which is the next entry of the list. So an entry is read with
/// `deserialize_any`, and only a map goes on to [`Step`].
#[derive(Debug)]
pub enum StepEntry {
    Step(Step),
    /// A plain value in place of a step: its text, or `None` for null, an
    /// empty entry or an empty map.
    Plain(Option<String>),
    /// A map whose first key is not a step name.
    UnknownStep(Spanned<String>),
    /// A step's map with a second key: that key.
    ExtraKey(Spanned<String>),
    /// An entry left unread, because an earlier read of the file found an
    /// error in it.
    Skipped,
}

impl<'de> Deserialize<'de> for StepEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StepEntryVisitor)
    }
}

struct StepEntryVisitor;

impl<'de> Visitor<'de> for StepEntryVisitor {
    type Value = StepEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a step: a map with one key, the step's name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepEntry, A::Error> {
        let Some(name) = map.next_key::<Spanned<String>>()? else {
            return Ok(StepEntry::Plain(None));
        };
        let entry = if STEP_NAMES.contains(&name.value.as_str()) {
            let content = NamedStep {
                name: name.value,
                map: &mut map,
            };
            StepEntry::Step(Step::deserialize(de::value::EnumAccessDeserializer::new(
                content,
            ))?)
        } else {
            map.next_value::<IgnoredAny>()?;
            StepEntry::UnknownStep(name)
        };
        // The deserializer goes on to the next entry only after the visitor
        // read the whole map, so the rest is read in every case, and its
        // first key is kept for the error.
        let mut extra = None;
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            map.next_value::<IgnoredAny>()?;
            extra.get_or_insert(key);
        }
        match (entry, extra) {
            (StepEntry::Step(_), Some(key)) => Ok(StepEntry::ExtraKey(key)),
            (entry, _) => Ok(entry),
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(Some(value.to_owned())))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(Some(value.to_string())))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(Some(value.to_string())))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(Some(value.to_string())))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(Some(value.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<StepEntry, E> {
        Ok(StepEntry::Plain(None))
    }
}

/// A step's content, after its name was read as the map's first key, as
/// an externally tagged [`Step`].
struct NamedStep<'a, A> {
    name: String,
    map: &'a mut A,
}

impl<'de, A: MapAccess<'de>> de::EnumAccess<'de> for NamedStep<'_, A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), A::Error> {
        let variant = seed.deserialize(de::value::StrDeserializer::<A::Error>::new(&self.name))?;
        Ok((variant, self))
    }
}

impl<'de, A: MapAccess<'de>> de::VariantAccess<'de> for NamedStep<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.map.next_value::<IgnoredAny>().map(|_| ())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    // Every variant of `Step` is a newtype variant, so serde never calls
    // the two methods below for it.
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::invalid_type(
            de::Unexpected::TupleVariant,
            &visitor,
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        Err(de::Error::invalid_type(
            de::Unexpected::StructVariant,
            &visitor,
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutStep {
    /// The order id, as the scenario names it. The app receives it with a
    /// suffix that is unique to the run, so runs never share an order.
    pub order: String,
    /// Line items. Default: one item of 10.00 in the order's currency.
    #[schemars(with = "Option<Vec<Item>>")]
    pub items: Option<Spanned<Vec<Spanned<Item>>>>,
    /// Three-letter ISO currency code, such as `eur`. Default `usd`.
    #[schemars(with = "Option<String>")]
    pub currency: Option<Spanned<String>>,
    /// The customer's email, given to the app's checkout request.
    pub email: Option<String>,
    /// The customer's name, given to the app's checkout request.
    pub name: Option<String>,
    /// Metadata for the app's checkout request.
    pub metadata: Option<BTreeMap<String, String>>,
    /// The HTTP status the app must respond with: a code such as 409, or a class
    /// such as `4xx`. Default `2xx`, and also a 3xx with a `Location` header
    /// when fakestripe.yaml has no `checkout.url` pointer.
    pub expect_status: Option<HttpStatus>,
}

/// A line item: either `name` and `unit_amount`, or a `price` id.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub name: Option<String>,
    /// Price of one unit in the currency's minor unit (cents).
    #[serde(default, deserialize_with = "numbers::unit_amount")]
    #[schemars(with = "Option<i64>")]
    pub unit_amount: Option<Spanned<i64>>,
    /// An existing price id (`price_…`).
    pub price: Option<String>,
    /// Default 1.
    #[serde(default, deserialize_with = "numbers::quantity")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub quantity: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    SepaDebit,
    UsBankAccount,
}

impl PaymentMethod {
    /// Every payment method type that a `pay` step can use, which is every
    /// type the fake's Checkout page takes.
    pub const ALL: [PaymentMethod; 3] = [
        PaymentMethod::Card,
        PaymentMethod::SepaDebit,
        PaymentMethod::UsBankAccount,
    ];

    /// Returns Stripe's name of the type, as in `payment_method_types`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::SepaDebit => "sepa_debit",
            PaymentMethod::UsBankAccount => "us_bank_account",
        }
    }

    /// Returns the type with Stripe's name `name`.
    pub fn from_name(name: &str) -> Option<PaymentMethod> {
        PaymentMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == name)
    }
}

/// The eventual outcome of an asynchronous payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AsyncOutcome {
    Succeeded,
    Failed,
}

/// The result of the fake's pay call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayResult {
    Succeeded,
    Processing,
    Declined,
}

impl PayResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PayResult::Succeeded => "succeeded",
            PayResult::Processing => "processing",
            PayResult::Declined => "declined",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayStep {
    /// Default: the order of the latest `checkout` step.
    pub order: Option<String>,
    /// The session to use, by checkout attempt: 1 for the order's first
    /// checkout. Default: the latest.
    #[serde(default, deserialize_with = "numbers::attempt")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub attempt: Option<Spanned<u32>>,
    /// Default `card`.
    pub method: Option<PaymentMethod>,
    /// A test card number, or one of `success` (4242…), `declined`
    /// (generic decline), `insufficient_funds` and `3ds` (authenticates,
    /// then succeeds). Default `success`. Only with `method: card`.
    #[schemars(with = "Option<String>")]
    pub card: Option<Spanned<Card>>,
    /// Outcome of an asynchronous method. Default `succeeded`.
    #[schemars(with = "Option<AsyncOutcome>")]
    pub outcome: Option<Spanned<AsyncOutcome>>,
    /// Virtual time until an asynchronous payment settles, at most 30
    /// days. Default 180s.
    #[schemars(with = "Option<Duration>")]
    pub delay: Option<Spanned<Duration>>,
    /// The email the customer types on the checkout page.
    pub email: Option<String>,
    /// The name the customer types on the checkout page.
    pub name: Option<String>,
    /// The result the fake must return.
    pub expect: Option<PayResult>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStep {
    /// Default: the order of the latest `checkout` step.
    pub order: Option<String>,
    /// The session to use, by checkout attempt; default the latest.
    #[serde(default, deserialize_with = "numbers::attempt")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub attempt: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectStep {
    /// Default: the order of the latest `checkout` step.
    pub order: Option<String>,
    /// The HTTP status the app's page must respond with, after redirects within
    /// the app. Default: anything below 400.
    pub expect_status: Option<HttpStatus>,
    /// Event type patterns. The scenario's events of these types are sent
    /// again (as `resend` sends them) at the same moment as the browser's
    /// request, so the webhook and the redirect reach the app in parallel.
    #[schemars(with = "Option<Vec<String>>")]
    pub race: Option<EventTypePatterns>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldStep {
    /// Event type patterns, such as `checkout.session.*`. The fake matches
    /// them, and takes `*` alone or once at the end.
    #[schemars(with = "Vec<String>")]
    pub types: EventTypePatterns,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseStep {
    /// Event type patterns, released in this order. Default: every held
    /// delivery, oldest first.
    #[schemars(with = "Option<Vec<String>>")]
    pub types: Option<EventTypePatterns>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendStep {
    /// Event type patterns, sent in this order. Every event created since
    /// the scenario began whose type matches a pattern is sent, oldest
    /// first, and each pattern's sends go out before the next pattern's.
    #[schemars(with = "Vec<String>")]
    pub types: EventTypePatterns,
    /// Sends of each event, 1 to 20. A held event is released by the first
    /// send, and the other sends are duplicates. Default 1.
    #[serde(default, deserialize_with = "numbers::copies")]
    pub copies: Option<u32>,
    /// Send an event's copies at the same moment, in parallel, instead of
    /// one after another. Default false.
    pub concurrent: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = add_fulfillments_alias)]
pub struct WaitUntilStep {
    /// Default: the order of the latest `checkout` step.
    pub order: Option<String>,
    pub status: Option<OrderStatus>,
    pub app_status: Option<String>,
    /// How many times the app fulfilled the order. Also spelt
    /// `fulfillments`.
    #[serde(
        default,
        alias = "fulfillments",
        deserialize_with = "numbers::fulfilments"
    )]
    pub fulfilments: Option<u64>,
    #[schemars(with = "Option<StoredSession>")]
    pub stored_session: Option<Spanned<StoredSession>>,
    pub released: Option<bool>,
    /// An event type pattern: wait until an event of that type has been
    /// delivered and the app responded with 2xx.
    #[schemars(with = "Option<String>")]
    pub delivered: Option<EventTypePattern>,
    /// Maximum virtual time to wait. Default 1h.
    #[schemars(with = "Option<Duration>")]
    pub within: Option<Spanned<Duration>>,
    /// Virtual time advanced between checks. Default 1m.
    #[schemars(with = "Option<Duration>")]
    pub every: Option<Spanned<Duration>>,
    /// Real time to go on checking, without moving the clock, once
    /// `within` has passed: for an app that applies events in a background
    /// job after it responds. Default none, at most 10m.
    #[schemars(with = "Option<Duration>")]
    pub real_time: Option<Spanned<Duration>>,
}

/// Adds the `fulfillments` spelling of `fulfilments` to a step's schema,
/// because schemars leaves serde's aliases out and the schema rejects
/// keys it does not list. Giving both spellings in one step fails to
/// load, so the schema rejects that too.
fn add_fulfillments_alias(schema: &mut schemars::Schema) {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(mut field) = properties.get("fulfilments").cloned() else {
        return;
    };
    if let Some(field) = field.as_object_mut() {
        field.insert(
            "description".to_owned(),
            Value::from(
                "`fulfilments` in the spelling of Stripe's documentation. A step takes one of the two.",
            ),
        );
    }
    properties.insert("fulfillments".to_owned(), field);
    schema.insert(
        "not".to_owned(),
        serde_json::json!({ "required": ["fulfilments", "fulfillments"] }),
    );
}

/// An order status in the harness's words; `status_map` in
/// fakestripe.yaml translates the app's words into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Paid,
    Pending,
    Failed,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Pending => "pending",
            OrderStatus::Failed => "failed",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = add_fulfillments_alias)]
pub struct ExpectStep {
    /// The order the order checks read. Default: the order of the latest
    /// `checkout` step.
    pub order: Option<String>,
    /// The order's status, through `status_map`.
    pub status: Option<OrderStatus>,
    /// The order's status word exactly as the app returns it.
    pub app_status: Option<String>,
    /// How many times the app fulfilled the order. Also spelt
    /// `fulfillments`.
    #[serde(
        default,
        alias = "fulfillments",
        deserialize_with = "numbers::fulfilments"
    )]
    pub fulfilments: Option<u64>,
    /// The session id the order must store: `latest`, `first`, `none` or
    /// an attempt number.
    #[schemars(with = "Option<StoredSession>")]
    pub stored_session: Option<Spanned<StoredSession>>,
    /// The order's amount, in the currency's minor unit.
    #[serde(default, deserialize_with = "numbers::amount")]
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// Whether the order's stock reservation was given back.
    pub released: Option<bool>,
    /// The order's Checkout Session in the fake.
    pub checkout_session: Option<SessionExpect>,
    /// The payment intent of the order's Checkout Session in the fake.
    pub payment_intent: Option<PaymentIntentExpect>,
    /// Checks on the API requests the app made.
    pub requests: Option<RequestsExpect>,
    /// Checks on webhook delivery attempts.
    pub deliveries: Option<Vec<DeliveryExpect>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionExpect {
    /// The session to use, by checkout attempt; default the latest.
    #[serde(default, deserialize_with = "numbers::attempt")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub attempt: Option<Spanned<u32>>,
    /// `open`, `complete` or `expired`.
    pub status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: Option<String>,
    #[serde(default, deserialize_with = "numbers::amount_total")]
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    /// Keys that must be present with these values; other keys may exist.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Any other field, by JSON pointer (`/customer_details/email`).
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub fields: Option<FieldChecks>,
}

/// Expected values of an object's fields, in the order written, each named
/// by a JSON pointer that keeps its place in the file for errors.
#[derive(Debug, Default)]
pub struct FieldChecks(pub Vec<(Spanned<String>, Value)>);

impl<'de> Deserialize<'de> for FieldChecks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldChecksVisitor;

        impl<'de> Visitor<'de> for FieldChecksVisitor {
            type Value = FieldChecks;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map from JSON pointers to expected values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldChecks, A::Error> {
                let mut checks = Vec::new();
                while let Some(entry) = map.next_entry::<Spanned<String>, Value>()? {
                    checks.push(entry);
                }
                Ok(FieldChecks(checks))
            }
        }

        deserializer.deserialize_map(FieldChecksVisitor)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentExpect {
    /// The session to use, by checkout attempt; default the latest.
    #[serde(default, deserialize_with = "numbers::attempt")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub attempt: Option<Spanned<u32>>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "numbers::amount")]
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// Keys that must be present with these values; other keys may exist.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Any other field, by JSON pointer.
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub fields: Option<FieldChecks>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestsExpect {
    /// The app retrieved the order's Checkout Session from the API before
    /// the order first showed as fulfilled.
    pub session_retrieved_before_fulfilment: Option<bool>,
    /// Every session create the app sent carried an `Idempotency-Key`.
    pub idempotent_session_creates: Option<bool>,
    /// The maximum number of Checkout Sessions the app created for any one
    /// order.
    #[serde(default, deserialize_with = "numbers::max_sessions_per_order")]
    pub max_sessions_per_order: Option<u32>,
    /// Counts of requests matching a method and path.
    pub matching: Option<Vec<RequestMatch>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// HTTP method; default any.
    pub method: Option<String>,
    /// Path, where `*` matches any run of characters except `/`, and
    /// `{session}` the id of any of the order's sessions.
    pub path: String,
    /// The status the fake returned.
    pub status: Option<HttpStatus>,
    /// Exact number of matching requests.
    #[serde(default, deserialize_with = "numbers::count")]
    #[schemars(with = "Option<u32>")]
    pub count: Option<Spanned<u32>>,
    #[serde(default, deserialize_with = "numbers::min")]
    #[schemars(with = "Option<u32>")]
    pub min: Option<Spanned<u32>>,
    #[serde(default, deserialize_with = "numbers::max")]
    #[schemars(with = "Option<u32>")]
    pub max: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryExpect {
    /// Event type pattern; default any.
    #[serde(rename = "type")]
    #[schemars(with = "Option<String>")]
    pub event_type: Option<EventTypePattern>,
    /// Only forged deliveries (true) or only genuine ones (false).
    pub forged: Option<bool>,
    /// Only deliberate duplicates (true) or only originals and retries
    /// (false).
    pub duplicate: Option<bool>,
    /// The status every matching attempt must have received from the app,
    /// such as 200 or `4xx`.
    pub status: Option<HttpStatus>,
    /// Exact number of matching attempts.
    #[serde(default, deserialize_with = "numbers::count")]
    #[schemars(with = "Option<u32>")]
    pub count: Option<Spanned<u32>>,
    /// Default 1 unless `count` or `max` is given.
    #[serde(default, deserialize_with = "numbers::min")]
    #[schemars(with = "Option<u32>")]
    pub min: Option<Spanned<u32>>,
    #[serde(default, deserialize_with = "numbers::max")]
    #[schemars(with = "Option<u32>")]
    pub max: Option<Spanned<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader accepts the fake's kinds, and the schema lists
    /// [`FaultKind`], so both must name the same kinds.
    #[test]
    fn fault_kinds_match_fake() {
        for kind in FAULT_KINDS {
            let parsed = serde_json::from_value::<FaultKind>(Value::from(*kind));
            assert!(parsed.is_ok(), "{kind} is not a FaultKind");
        }
        let schema = schemars::schema_for!(FaultKind).to_value();
        let names = schema["enum"]
            .as_array()
            .expect("the schema lists the kinds");
        assert_eq!(names.len(), FAULT_KINDS.len(), "{schema}");
    }
}
