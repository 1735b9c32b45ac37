//! Reading scenario files: YAML or JSON into the model, then the checks
//! serde cannot do (order references, attempt numbers, card numbers, fault
//! kinds, event type patterns, field pointers), each reported with the
//! file, line and column it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_saphyr::Spanned;

use super::located::{LocatedValue, plan_error_location, plan_param_path};
use super::model::{
    ExpectStep, FAULT_KINDS, FieldChecks, Item, PayStep, PaymentMethod, STEP_NAMES, ScenarioFile,
    Step, StepEntry, WaitUntilStep,
};
use super::values::{
    EventTypePattern, EventTypePatterns, StoredSession, Wildcards, check_event_type_pattern,
    check_field_pointer, check_sent_event_type, fault_event_type_errors, format_seconds,
};
use crate::diagnostic::{FileError, Source, shorten, suggest, suggest_fault_kind, suggest_within};
use crate::invariants::Invariant;

/// Virtual time advanced after the last step unless a scenario sets
/// `settle`: three days, which is longer than Stripe's retry schedule
/// (about 2.2 days from the first attempt to the last).
pub const DEFAULT_SETTLE_SECONDS: u64 = 3 * 86_400;

/// A scenario that passed every check, ready to run.
#[derive(Debug)]
pub struct Scenario {
    /// The path as it was given, for reports and the replay command.
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub allow: Vec<Invariant>,
    /// The fault plan's entries, sent to the fake as JSON.
    pub faults: Vec<Value>,
    pub settle_seconds: u64,
    pub steps: Vec<PlannedStep>,
}

impl Scenario {
    /// Returns the payment method types that the scenario's `pay` steps
    /// use, each once and in the order of [`PaymentMethod::ALL`].
    pub fn payment_method_types(&self) -> Vec<PaymentMethod> {
        let mut types: Vec<PaymentMethod> = self
            .steps
            .iter()
            .filter_map(|planned| match &planned.step {
                Step::Pay(pay) => Some(pay.method.unwrap_or(PaymentMethod::Card)),
                _ => None,
            })
            .collect();
        types.sort_unstable();
        types.dedup();
        types
    }
}

/// A step with its place in the file and the order it acts on.
#[derive(Debug)]
pub struct PlannedStep {
    pub line: u32,
    pub column: u32,
    /// The order the step acts on, after defaults: a step without `order`
    /// acts on the order of the latest `checkout` step before it.
    pub order: Option<String>,
    pub step: Step,
}

/// Reads and checks one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, Vec<FileError>> {
    let text = crate::diagnostic::read_text(path, "the file").map_err(|err| vec![err])?;
    parse(path, &text)
}

/// Parses and checks scenario text; `path` names it in errors, and its
/// extension selects JSON (`.json`) or YAML (anything else).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, Vec<FileError>> {
    // Without the mark here, the checks' columns on the first line count
    // the same characters as the parser's.
    let text = crate::diagnostic::without_byte_order_mark(text).unwrap_or(text);
    let source = Source { path, text };
    let requirement = "a scenario needs `version` and `steps`";
    let file: ScenarioFile = match source.deserialize(requirement) {
        Ok(file) => file,
        Err(err) => {
            if let Some(error) = app_file_error(&source) {
                return Err(vec![error]);
            }
            // A map without `steps` is most likely not a scenario, and
            // its every key would be an error, so only the first is shown.
            if is_map_without_steps(&source) {
                return Err(vec![not_scenario_help(err)]);
            }
            return Err(super::shape::errors(&source, err, requirement));
        }
    };
    Checker {
        source,
        errors: Vec::new(),
        checkouts: BTreeMap::new(),
        skipped_entry: false,
    }
    .check(file)
}

/// Top-level keys of an app file (fakestripe.yaml), none of which a
/// scenario file has.
const APP_FILE_KEYS: &[&str] = &[
    "start",
    "base_url",
    "env_file",
    "webhook_path",
    "reset",
    "checkout",
    "order",
];

/// Returns the error for a file that is a map with app-file keys and no
/// `steps`, which is most likely a fakestripe.yaml found among the
/// scenarios. Returns None for any other file.
fn app_file_error(source: &Source<'_>) -> Option<FileError> {
    let value: Value = serde_saphyr::from_str(source.text).ok()?;
    let map = value.as_object()?;
    if map.contains_key("steps") {
        return None;
    }
    let keys: Vec<String> = APP_FILE_KEYS
        .iter()
        .filter(|key| map.contains_key(**key))
        .map(|key| format!("`{key}`"))
        .collect();
    if keys.is_empty() {
        return None;
    }
    let message = format!(
        "this looks like an app file, not a scenario: it has {} and no `steps`",
        keys.join(", ")
    );
    let help = "give an app file with --app; a folder of scenarios may hold only the app file that --app names, which the run skips".to_owned();
    Some(source.error(0, 0, message, Some(help)))
}

/// Returns whether the file is a map without `steps`.
fn is_map_without_steps(source: &Source<'_>) -> bool {
    serde_saphyr::from_str::<Value>(source.text)
        .ok()
        .and_then(|value| value.as_object().map(|map| !map.contains_key("steps")))
        .unwrap_or(false)
}

/// Adds a help line to the first error of a file that is a map without
/// `steps`, such as a package.json found by a search of the app's folder:
/// such a file is most likely not a scenario at all.
fn not_scenario_help(mut err: FileError) -> FileError {
    if err.help.is_none() {
        err.help = Some(
            "the file has no `steps`, so it may not be a scenario; give the folder that contains the scenarios, such as scenarios/, or the scenario files".to_owned(),
        );
    }
    err
}

/// The steps whose keys are all optional, so `- redirect:` with nothing
/// after the colon is a complete step.
const STEPS_WITHOUT_REQUIRED_KEYS: &[&str] =
    &["cancel", "redirect", "expire", "release", "deliver"];

/// Maximum `real_time` of a `wait_until` step: ten minutes.
const MAX_WAIT_REAL_SECONDS: u64 = 600;

/// Maximum checks of a `wait_until` step: `within` divided by `every`.
const MAX_WAIT_CHECKS: u64 = 10_000;

/// Maximum `delay` of a `pay` step: the longest `delay_seconds` the fake's
/// pay call takes.
pub const MAX_PAY_DELAY_SECONDS: u64 = fakestripe_server::simulate::MAX_SETTLE_DELAY as u64;

/// Test cards by name. The numbers are Stripe's documented test cards.
pub const CARD_ALIASES: &[(&str, &str)] = &[
    ("success", "4242424242424242"),
    ("declined", "4000000000000002"),
    ("insufficient_funds", "4000000000009995"),
    ("3ds", "4000002500003155"),
];

/// Returns the card number that a scenario's `card` value names.
pub fn card_number(card: &str) -> Option<String> {
    if let Some((_, number)) = CARD_ALIASES.iter().find(|(alias, _)| *alias == card) {
        return Some((*number).to_owned());
    }
    let digits: String = card
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let valid = (12..=19).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    valid.then_some(digits)
}

/// Checks a parsed file and turns it into a [`Scenario`].
struct Checker<'a> {
    source: Source<'a>,
    errors: Vec<FileError>,
    /// The number of `checkout` steps so far, by order. The runner counts an
    /// order's checkout attempts the same way, because a checkout step that
    /// fails ends the scenario.
    checkouts: BTreeMap<String, u32>,
    /// Whether an entry of `steps` was not a step. It may have been a
    /// misspelt `checkout`, so later steps' missing orders are not reported.
    /// The entry's own error is the one to fix.
    skipped_entry: bool,
}

impl Checker<'_> {
    fn check(mut self, file: ScenarioFile) -> Result<Scenario, Vec<FileError>> {
        if file.version.value != 1 {
            let message = format!("unsupported version {}, expected 1", file.version.value);
            self.errors
                .push(self.source.at(&file.version, message, None));
        }
        if file.steps.is_empty() {
            self.errors.push(self.source.error(
                0,
                0,
                "`steps` is empty; a scenario needs at least one step",
                None,
            ));
        }

        let mut allow = Vec::new();
        for name in &file.allow {
            match Invariant::from_name(&name.value) {
                Some(invariant) => allow.push(invariant),
                None => {
                    let names: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
                    let message = format!(
                        "unknown invariant `{}` in `allow`, expected one of {}",
                        name.value,
                        names.join(", ")
                    );
                    let help = suggest(&name.value, &names);
                    self.errors.push(self.source.at(name, message, help));
                }
            }
        }

        let faults = self.check_faults(&file.faults, file.seed);
        let steps = self.check_steps(file.steps);

        if !self.errors.is_empty() {
            // Checks run by topic, so the errors come in file order only
            // once sorted. The sort is stable: errors at one place keep
            // the order they were found in.
            self.errors.sort_by_key(|error| (error.line, error.column));
            return Err(self.errors);
        }
        let name = file.name.unwrap_or_else(|| {
            self.source
                .path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Ok(Scenario {
            path: self.source.path.to_owned(),
            name,
            description: file.description,
            seed: file.seed,
            allow,
            faults,
            settle_seconds: file.settle.map_or(DEFAULT_SETTLE_SECONDS, |d| d.seconds()),
            steps,
        })
    }

    /// Checks each fault entry: its `kind` here, so that a misspelling gets
    /// the same suggestion as from the fake, and its parameters with the
    /// fake's own check. Each error points at the part of the entry it
    /// concerns. Returns the entries as JSON for the fake.
    fn check_faults(&mut self, entries: &[Spanned<LocatedValue>], seed: u64) -> Vec<Value> {
        let values: Vec<Value> = entries.iter().map(|entry| entry.value.to_json()).collect();
        let limit = fakestripe_server::faults::MAX_PLAN_ENTRIES;
        if let Some(first_over) = entries.get(limit) {
            self.errors.push(self.source.at(
                first_over,
                format!(
                    "a fault plan has at most {limit} entries, and this one has {}",
                    entries.len()
                ),
                Some(
                    "merge entries of the same kind with a list of `types` or `routes`".to_owned(),
                ),
            ));
        }
        for (index, (entry, value)) in entries.iter().zip(&values).enumerate() {
            if !self.check_fault_kind(entry) {
                continue;
            }
            // One entry at a time, because the fake reports only the first
            // invalid entry of a plan. The entry is then `faults[0]` in the
            // fake's message.
            let plan = serde_json::json!({ "seed": seed, "faults": [value] });
            let Err(err) = fakestripe_server::faults::validate_plan(&plan) else {
                for (place, message, help) in fault_event_type_errors(&entry.value) {
                    self.errors.push(self.source.error(
                        place.line() as u32,
                        place.column() as u32,
                        message,
                        help,
                    ));
                }
                continue;
            };
            // The fake's messages name the fault kind ("Invalid
            // webhook_drop fault: …"), so they stand on their own.
            let message = err
                .message
                .replace("faults[0]", &format!("faults[{index}]"));
            let path = err
                .param
                .as_deref()
                .map(fault_param_path)
                .unwrap_or_default();
            let location = plan_error_location(entry, &path, &err.message);
            self.errors.push(self.source.error(
                location.line() as u32,
                location.column() as u32,
                message,
                None,
            ));
        }
        values
    }

    /// Checks the `kind` of a fault entry. Returns whether it names a kind
    /// of the fake.
    fn check_fault_kind(&mut self, entry: &Spanned<LocatedValue>) -> bool {
        if !matches!(entry.value, LocatedValue::Map(_)) {
            self.errors.push(self.source.at(
                entry,
                "a fault must be a map with a `kind` key",
                None,
            ));
            return false;
        }
        let Some(kind) = entry.value.get("kind") else {
            let message = format!(
                "missing key `kind`, expected one of {}",
                FAULT_KINDS.join(", ")
            );
            self.errors.push(self.source.at(entry, message, None));
            return false;
        };
        let Some(name) = kind.value.as_str() else {
            self.errors.push(
                self.source
                    .at(kind, "the fault's `kind` must be a string", None),
            );
            return false;
        };
        if FAULT_KINDS.contains(&name) {
            return true;
        }
        let message = format!(
            "unknown fault kind `{}`, expected one of {}",
            shorten(name),
            FAULT_KINDS.join(", ")
        );
        self.errors
            .push(self.source.at(kind, message, suggest_fault_kind(name)));
        false
    }

    fn check_steps(&mut self, entries: Vec<Spanned<StepEntry>>) -> Vec<PlannedStep> {
        let mut orders: BTreeSet<String> = BTreeSet::new();
        let mut current: Option<String> = None;
        let mut planned = Vec::with_capacity(entries.len());
        for entry in entries {
            let line = entry.referenced.line() as u32;
            let column = entry.referenced.column() as u32;
            let position = Position { line, column };
            let Some(step) = self.check_entry(position, entry.value) else {
                continue;
            };
            let order = match &step {
                Step::Checkout(checkout) => {
                    self.check_items(checkout.items.as_ref());
                    self.check_currency(checkout.currency.as_ref());
                    if checkout.order.trim().is_empty() {
                        self.push(position, "`order` must not be empty", None);
                    }
                    orders.insert(checkout.order.clone());
                    *self.checkouts.entry(checkout.order.clone()).or_default() += 1;
                    current = Some(checkout.order.clone());
                    current.clone()
                }
                Step::Pay(pay) => {
                    self.check_pay(pay);
                    let order = self.resolve(position, pay.order.as_ref(), &orders, &current, true);
                    self.check_attempt("attempt", pay.attempt.as_ref(), order.as_deref());
                    order
                }
                Step::Cancel(session) | Step::Expire(session) => {
                    let named = session.as_ref().and_then(|s| s.order.as_ref());
                    let order = self.resolve(position, named, &orders, &current, true);
                    let attempt = session.as_ref().and_then(|s| s.attempt.as_ref());
                    self.check_attempt("attempt", attempt, order.as_deref());
                    order
                }
                Step::Redirect(redirect) => {
                    if let Some(race) = redirect.as_ref().and_then(|r| r.race.as_ref()) {
                        self.check_not_empty(
                            race,
                            "`race` is empty; name at least one event type pattern, or leave it out",
                        );
                        self.check_patterns(race, Wildcards::Anywhere);
                    }
                    let order = redirect.as_ref().and_then(|r| r.order.as_ref());
                    self.resolve(position, order, &orders, &current, true)
                }
                Step::Hold(hold) => {
                    self.check_not_empty(
                        &hold.types,
                        "`types` is empty; name at least one event type pattern",
                    );
                    self.check_patterns(&hold.types, Wildcards::AtEnd);
                    None
                }
                Step::Release(release) | Step::Deliver(release) => {
                    if let Some(types) = release.as_ref().and_then(|r| r.types.as_ref()) {
                        self.check_not_empty(
                            types,
                            "`types` is empty; leave it out to release every held delivery",
                        );
                        self.check_patterns(types, Wildcards::Anywhere);
                    }
                    None
                }
                Step::Resend(resend) => {
                    self.check_not_empty(
                        &resend.types,
                        "`types` is empty; name at least one event type pattern",
                    );
                    self.check_patterns(&resend.types, Wildcards::Anywhere);
                    None
                }
                Step::SetFaults(entries) => {
                    // Seed 0 serves only the check, because the run sends the
                    // scenario's seed.
                    self.check_faults(entries, 0);
                    None
                }
                Step::Advance(_) => None,
                Step::WaitUntil(wait) => {
                    let has_order_check = wait.status.is_some()
                        || wait.app_status.is_some()
                        || wait.fulfilments.is_some()
                        || wait.stored_session.is_some()
                        || wait.released.is_some();
                    if !has_order_check && wait.delivered.is_none() {
                        self.push(
                            position,
                            "`wait_until` needs a condition: status, app_status, fulfilments, stored_session, released or delivered",
                            None,
                        );
                    }
                    self.check_wait_interval(position, wait);
                    if let Some(pattern) = &wait.delivered {
                        let patterns = std::slice::from_ref(pattern);
                        self.check_patterns(patterns, Wildcards::Anywhere);
                    }
                    if has_order_check {
                        let order =
                            self.resolve(position, wait.order.as_ref(), &orders, &current, true);
                        self.check_stored_session(wait.stored_session.as_ref(), order.as_deref());
                        order
                    } else {
                        None
                    }
                }
                Step::Expect(expect) => self.check_expect(position, expect, &orders, &current),
            };
            planned.push(PlannedStep {
                line,
                column,
                order,
                step,
            });
        }
        planned
    }

    /// Returns the step of a `steps` entry, or reports why the entry is not
    /// one.
    fn check_entry(&mut self, position: Position, entry: StepEntry) -> Option<Step> {
        if !matches!(entry, StepEntry::Step(_)) {
            self.skipped_entry = true;
        }
        match entry {
            StepEntry::Step(step) => return Some(step),
            // The read that left it out reported its error.
            StepEntry::Skipped => {}
            StepEntry::Plain(text) => self.check_plain_entry(position, text.as_deref()),
            StepEntry::UnknownStep(name) => {
                let message = format!(
                    "unknown step `{}`, expected one of {}",
                    shorten(&name.value),
                    STEP_NAMES.join(", ")
                );
                let help = suggest(&name.value, STEP_NAMES);
                self.errors.push(self.source.at(&name, message, help));
            }
            StepEntry::ExtraKey(key) => {
                let message = format!(
                    "a step is a map with one key, the step's name, but this one also has `{}`",
                    shorten(&key.value)
                );
                let help = "start each step with its own `-`".to_owned();
                self.errors.push(self.source.at(&key, message, Some(help)));
            }
        }
        None
    }

    /// Reports a plain value written in place of a step, such as
    /// `- checkout` without a colon.
    fn check_plain_entry(&mut self, position: Position, text: Option<&str>) {
        let Some(text) = text.filter(|text| !text.trim().is_empty()) else {
            self.push(
                position,
                "the step is empty",
                Some(
                    "write a step as a map with one key, such as `- checkout: { order: O-1 }`"
                        .to_owned(),
                ),
            );
            return;
        };
        if !STEP_NAMES.contains(&text) {
            let message = format!(
                "unknown step `{}`, expected one of {}",
                shorten(text),
                STEP_NAMES.join(", ")
            );
            self.push(position, message, suggest(text, STEP_NAMES));
            return;
        }
        let message = format!(
            "step `{text}` is written without a colon; a step is a map with one key, the step's name"
        );
        let help = if STEPS_WITHOUT_REQUIRED_KEYS.contains(&text) {
            format!("write `- {text}:` for the step without parameters, or `- {text}: {{ ... }}`")
        } else {
            format!("write `- {text}: ...` with the step's parameters after the colon")
        };
        self.push(position, message, Some(help));
    }

    /// Checks the line items of a `checkout` step. An error about one item
    /// points at the item, and one about a key at its value.
    fn check_items(&mut self, items: Option<&Spanned<Vec<Spanned<Item>>>>) {
        let Some(items) = items else { return };
        if items.value.is_empty() {
            let message = "`items` is empty; leave it out for the default item";
            self.errors.push(self.source.at(items, message, None));
        }
        for (index, item) in items.value.iter().enumerate() {
            let number = index + 1;
            let by_price = item.value.price.is_some();
            let by_amount = item.value.name.is_some() || item.value.unit_amount.is_some();
            if by_price && by_amount {
                let message = format!(
                    "item {number}: give either `price` or `name` and `unit_amount`, not both"
                );
                self.errors.push(self.source.at(item, message, None));
            } else if !by_price && (item.value.name.is_none() || item.value.unit_amount.is_none()) {
                let message = format!(
                    "item {number}: `name` and `unit_amount` are both required without `price`"
                );
                self.errors.push(self.source.at(item, message, None));
            }
            if let Some(amount) = &item.value.unit_amount
                && amount.value < 0
            {
                let message = format!(
                    "item {number}: `unit_amount` is {}, expected 0 or more",
                    amount.value
                );
                let help = "give the price of one unit in the currency's smallest unit, such as 2500 for 25.00 USD".to_owned();
                self.errors
                    .push(self.source.at(amount, message, Some(help)));
            }
            if let Some(quantity) = &item.value.quantity
                && quantity.value == 0
            {
                let message = format!("item {number}: `quantity` is 0, expected at least 1");
                let help = "leave out the item, or `quantity` for one unit".to_owned();
                self.errors
                    .push(self.source.at(quantity, message, Some(help)));
            }
        }
    }

    /// Checks the currency of a `checkout` step against the codes the fake
    /// accepts, in any case, because an app passes it on to the fake, which
    /// rejects any other code. The error points at the value.
    fn check_currency(&mut self, currency: Option<&Spanned<String>>) {
        let Some(currency) = currency else { return };
        let accepted = fakestripe_server::resources::CURRENCIES;
        let code = currency.value.to_ascii_lowercase();
        if accepted.contains(&code.as_str()) {
            return;
        }
        let text = shorten(&currency.value);
        let three_letters = code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase());
        let message = if three_letters {
            format!(
                "unsupported currency `{text}`, expected one that the fake accepts: {}",
                accepted.join(", ")
            )
        } else {
            format!(
                "invalid currency `{text}`, expected a three-letter ISO code such as eur or usd"
            )
        };
        // Many pairs of the 24 codes are two edits apart, so only a code one
        // edit away, such as one with two letters swapped, is suggested.
        let mut help = suggest_within(&code, accepted, |_| 1);
        if help.is_none() && !three_letters {
            help = Some("write a three-letter ISO code such as eur or usd".to_owned());
        }
        self.errors.push(self.source.at(currency, message, help));
    }

    /// Checks that a list of event type patterns names at least one; the
    /// error points at the list.
    fn check_not_empty(&mut self, patterns: &EventTypePatterns, message: &str) {
        if patterns.is_empty() {
            self.errors.push(self.source.at(&patterns.0, message, None));
        }
    }

    /// Checks the `every` and `within` of a `wait_until` step: `every` is
    /// at least 1s, and they allow at most [`MAX_WAIT_CHECKS`] checks. An
    /// error points at `every`, or at `within` when `every` is left out.
    fn check_wait_interval(&mut self, position: Position, wait: &WaitUntilStep) {
        if let Some(real_time) = &wait.real_time
            && real_time.value.seconds() > MAX_WAIT_REAL_SECONDS
        {
            let message = format!(
                "`real_time` is {}, expected at most {}",
                real_time.value,
                format_seconds(MAX_WAIT_REAL_SECONDS)
            );
            let help = "`real_time` is how long to go on checking in real time, for an app's background job, such as `5s`";
            self.errors
                .push(self.source.at(real_time, message, Some(help.to_owned())));
        }
        let within = wait.within.as_ref().map_or(3_600, |d| d.value.seconds());
        let every = wait.every.as_ref().map_or(60, |d| d.value.seconds());
        if every == 0 {
            if let Some(value) = &wait.every {
                let message = "`every` is 0, expected at least 1s";
                let help = "`every` is the virtual time advanced between checks, such as `1m`";
                self.errors
                    .push(self.source.at(value, message, Some(help.to_owned())));
            }
            return;
        }
        let checks = within / every;
        if checks <= MAX_WAIT_CHECKS {
            return;
        }
        let message =
            format!("`within` / `every` allows {checks} checks, more than {MAX_WAIT_CHECKS}");
        let shortest = within.div_ceil(MAX_WAIT_CHECKS);
        let help = format!(
            "set `every` to at least {}, or shorten `within`",
            format_seconds(shortest)
        );
        match (&wait.every, &wait.within) {
            (Some(value), _) | (None, Some(value)) => {
                self.errors.push(self.source.at(value, message, Some(help)))
            }
            // The defaults, 1h and 1m, allow 60 checks.
            (None, None) => self.push(position, message, Some(help)),
        }
    }

    /// Checks the keys of a `pay` step against its method. Each error
    /// points at the key's value.
    fn check_pay(&mut self, pay: &PayStep) {
        let method = pay.method.unwrap_or(PaymentMethod::Card);
        if let Some(card) = &pay.card {
            if method != PaymentMethod::Card {
                let message = format!(
                    "`card` applies only to `method: card`, not `{}`",
                    method.as_str()
                );
                let help = format!(
                    "leave out `card`, and give the result of a {} payment with `outcome: succeeded` or `outcome: failed`",
                    method.as_str()
                );
                self.errors.push(self.source.at(card, message, Some(help)));
            } else if card_number(card.value.as_str()).is_none() {
                let text = card.value.as_str();
                let aliases: Vec<&str> = CARD_ALIASES.iter().map(|(alias, _)| *alias).collect();
                let message = format!(
                    "invalid card `{}`, expected a test card number or one of {}",
                    shorten(text),
                    aliases.join(", ")
                );
                let help = suggest(text, &aliases);
                self.errors.push(self.source.at(card, message, help));
            }
        }
        if let Some(delay) = &pay.delay
            && delay.value.seconds() > MAX_PAY_DELAY_SECONDS
        {
            let message = format!(
                "`delay` is {}, but the fake settles an asynchronous payment at most {} after it",
                delay.value,
                format_seconds(MAX_PAY_DELAY_SECONDS)
            );
            self.errors.push(self.source.at(delay, message, None));
        }
        if method == PaymentMethod::Card {
            let card_method = if pay.method.is_some() {
                "`card`"
            } else {
                "`card`, the default method"
            };
            if let Some(outcome) = &pay.outcome {
                let message = format!(
                    "`outcome` applies only to asynchronous methods (sepa_debit, us_bank_account), not {card_method}"
                );
                let help = "give a card payment's result with the card, such as `card: declined`, or set `method` to sepa_debit or us_bank_account".to_owned();
                self.errors
                    .push(self.source.at(outcome, message, Some(help)));
            }
            if let Some(delay) = &pay.delay {
                let message = format!(
                    "`delay` applies only to asynchronous methods (sepa_debit, us_bank_account), not {card_method}"
                );
                let help = "leave out `delay`, or set `method` to sepa_debit or us_bank_account"
                    .to_owned();
                self.errors.push(self.source.at(delay, message, Some(help)));
            }
        }
    }

    /// Checks a checkout attempt number of `order`, the order the step acts
    /// on: it counts from 1 and names a `checkout` step that comes before.
    /// Each error points at the attempt number.
    fn check_attempt(&mut self, key: &str, attempt: Option<&Spanned<u32>>, order: Option<&str>) {
        let Some(spanned) = attempt else { return };
        let attempt = spanned.value;
        if attempt == 0 {
            let message = format!("`{key}` is 0, but attempts count from 1");
            let help = "use 1 for the order's first `checkout` step".to_owned();
            self.errors
                .push(self.source.at(spanned, message, Some(help)));
            return;
        }
        // An order that does not resolve is reported already.
        let Some(order) = order else { return };
        let count = self.checkouts.get(order).copied().unwrap_or(0);
        if attempt <= count {
            return;
        }
        let steps = if count == 1 { "step" } else { "steps" };
        let message = format!(
            "`{key}` is {attempt}, but order `{order}` has {count} `checkout` {steps} before this step"
        );
        let range = if count == 1 {
            "1".to_owned()
        } else {
            format!("1 to {count}")
        };
        let help = format!(
            "attempts count the order's `checkout` steps from 1, so use {range}, or add a `checkout` step for `{order}` before this one"
        );
        self.errors
            .push(self.source.at(spanned, message, Some(help)));
    }

    fn check_expect(
        &mut self,
        position: Position,
        expect: &ExpectStep,
        orders: &BTreeSet<String>,
        current: &Option<String>,
    ) -> Option<String> {
        let order_checks = expect.status.is_some()
            || expect.app_status.is_some()
            || expect.fulfilments.is_some()
            || expect.stored_session.is_some()
            || expect.amount.is_some()
            || expect.currency.is_some()
            || expect.released.is_some()
            || expect.checkout_session.is_some()
            || expect.payment_intent.is_some();
        let request_checks = expect.requests.as_ref().is_some_and(|r| {
            r.session_retrieved_before_fulfilment.is_some()
                || r.idempotent_session_creates.is_some()
                || r.max_sessions_per_order.is_some()
                || r.matching.as_ref().is_some_and(|m| !m.is_empty())
        });
        let delivery_checks = expect.deliveries.as_ref().is_some_and(|d| !d.is_empty());
        if !order_checks && !request_checks && !delivery_checks {
            self.push(
                position,
                "`expect` has nothing to check",
                Some("add a key such as `status` or `fulfilments`".to_owned()),
            );
        }
        let pointers = [
            expect
                .checkout_session
                .as_ref()
                .and_then(|s| s.fields.as_ref()),
            expect
                .payment_intent
                .as_ref()
                .and_then(|i| i.fields.as_ref()),
        ];
        for FieldChecks(checks) in pointers.into_iter().flatten() {
            for (pointer, _) in checks {
                if let Err(message) = check_field_pointer(&pointer.value) {
                    self.errors.push(self.source.at(pointer, message, None));
                }
            }
        }
        for matcher in expect
            .requests
            .iter()
            .flat_map(|r| r.matching.iter().flatten())
        {
            self.check_counts(
                "request",
                matcher.count.as_ref(),
                matcher.min.as_ref(),
                matcher.max.as_ref(),
            );
            if matcher.path.contains("{session}") && expect.order.is_none() && current.is_none() {
                self.push(
                    position,
                    "`{session}` in a path needs an order, and no `checkout` step comes before",
                    None,
                );
            }
        }
        for matcher in expect.deliveries.iter().flatten() {
            self.check_counts(
                "delivery",
                matcher.count.as_ref(),
                matcher.min.as_ref(),
                matcher.max.as_ref(),
            );
            self.check_patterns(matcher.event_type.as_slice(), Wildcards::Anywhere);
        }
        let needs_order = order_checks
            || expect.requests.as_ref().is_some_and(|r| {
                r.matching
                    .iter()
                    .flatten()
                    .any(|m| m.path.contains("{session}"))
            });
        let order = if needs_order || expect.order.is_some() {
            self.resolve(
                position,
                expect.order.as_ref(),
                orders,
                current,
                needs_order,
            )
        } else {
            None
        };
        let attempts = [
            (
                "checkout_session.attempt",
                expect
                    .checkout_session
                    .as_ref()
                    .and_then(|s| s.attempt.as_ref()),
            ),
            (
                "payment_intent.attempt",
                expect
                    .payment_intent
                    .as_ref()
                    .and_then(|i| i.attempt.as_ref()),
            ),
        ];
        for (key, attempt) in attempts {
            self.check_attempt(key, attempt, order.as_deref());
        }
        self.check_stored_session(expect.stored_session.as_ref(), order.as_deref());
        order
    }

    fn check_stored_session(
        &mut self,
        selector: Option<&Spanned<StoredSession>>,
        order: Option<&str>,
    ) {
        if let Some(selector) = selector
            && let StoredSession::Attempt(attempt) = selector.value
        {
            let attempt = Spanned::new(attempt, selector.referenced, selector.defined);
            self.check_attempt("stored_session", Some(&attempt), order);
        }
    }

    /// Checks each event type pattern of a step against the rules of the
    /// matcher that `wildcards` names. Each error points at its pattern.
    fn check_patterns(&mut self, patterns: &[EventTypePattern], wildcards: Wildcards) {
        for pattern in patterns {
            if let Err(message) = check_event_type_pattern(pattern, wildcards) {
                self.errors.push(self.source.at(&pattern.0, message, None));
            } else if let Err((message, help)) = check_sent_event_type(pattern.as_str()) {
                self.errors.push(self.source.at(&pattern.0, message, help));
            }
        }
    }

    /// Checks that the bounds of a request or delivery check, named by
    /// `kind`, fit together. Each error points at the bound to change.
    fn check_counts(
        &mut self,
        kind: &str,
        count: Option<&Spanned<u32>>,
        min: Option<&Spanned<u32>>,
        max: Option<&Spanned<u32>>,
    ) {
        if let Some(count) = count
            && (min.is_some() || max.is_some())
        {
            let message = format!("a {kind} check takes `count` or `min`/`max`, not both");
            let help =
                "leave out `count` to allow a range, or `min` and `max` to require an exact number";
            self.errors
                .push(self.source.at(count, message, Some(help.to_owned())));
        }
        if let (Some(min), Some(max)) = (min, max)
            && min.value > max.value
        {
            let message = format!(
                "a {kind} check has `min` {} above `max` {}",
                min.value, max.value
            );
            let help = "set `min` to at most `max`".to_owned();
            self.errors.push(self.source.at(min, message, Some(help)));
        }
    }

    /// The order a step acts on: the one it names, which must have been
    /// checked out earlier, or the latest checked-out one.
    fn resolve(
        &mut self,
        position: Position,
        named: Option<&String>,
        orders: &BTreeSet<String>,
        current: &Option<String>,
        required: bool,
    ) -> Option<String> {
        match named {
            Some(order) if orders.contains(order) => Some(order.clone()),
            Some(_) if self.skipped_entry => None,
            Some(order) => {
                let known: Vec<&str> = orders.iter().map(String::as_str).collect();
                let message = if known.is_empty() {
                    format!("order `{order}` is not checked out before this step")
                } else {
                    format!(
                        "order `{order}` is not checked out before this step; checked out so far: {}",
                        known.join(", ")
                    )
                };
                self.push(position, message, suggest(order, &known));
                None
            }
            None if current.is_some() => current.clone(),
            None if required && !self.skipped_entry => {
                self.push(
                    position,
                    "this step needs an order, and no `checkout` step comes before it",
                    None,
                );
                None
            }
            None => None,
        }
    }

    fn push(&mut self, position: Position, message: impl Into<String>, help: Option<String>) {
        let error = self
            .source
            .error(position.line, position.column, message, help);
        self.errors.push(error);
    }
}

#[derive(Debug, Clone, Copy)]
struct Position {
    line: u32,
    column: u32,
}

/// Returns the path inside a fault entry that a fake error's `param`
/// names: `["types", "1"]` for `faults[0][types][1]`.
fn fault_param_path(param: &str) -> Vec<&str> {
    if !param.starts_with("faults[") {
        return Vec::new();
    }
    // The first two parts are `faults` and the entry's index in the plan.
    plan_param_path(param).split_off(2)
}

/// Finds the scenario files under `paths`: each file as given, and each
/// directory's `.yaml`, `.yml` and `.json` files, recursively, sorted.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|err| missing_path(path, &err))?;
        if metadata.is_dir() {
            let mut found = Vec::new();
            let mut visited = BTreeSet::new();
            walk(path, &mut found, &mut visited)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = BTreeSet::new();
    files.retain(|file| seen.insert(file.clone()));
    Ok(files)
}

/// Describes a scenario path that cannot be read, with the fix when the
/// path or its link target does not exist.
fn missing_path(path: &Path, err: &std::io::Error) -> String {
    if err.kind() != std::io::ErrorKind::NotFound {
        return format!("{}: {err}", path.display());
    }
    match std::fs::read_link(path) {
        Ok(target) => format!(
            "{}: a symbolic link to {}, which does not exist; point it at a scenario file or folder",
            path.display(),
            target.display()
        ),
        Err(_) => format!(
            "{}: no such file or folder; give scenario files (.yaml, .yml or .json) or folders of them",
            path.display()
        ),
    }
}

/// Folders that hold dependencies, build output or caches of common
/// toolchains (npm, Cargo, Go and PHP vendoring, Python), which a search
/// for scenario files skips. Hidden folders, whose names start with `.`,
/// are skipped too.
const SKIPPED_FOLDERS: &[&str] = &["node_modules", "target", "vendor", "venv", "__pycache__"];

/// Adds the scenario files under `dir` to `found`. Hidden files and
/// folders and the folders in [`SKIPPED_FOLDERS`] are left out, and so is
/// a folder already `visited` under another path, as through a symbolic
/// link to a folder above it.
fn walk(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    visited: &mut BTreeSet<PathBuf>,
) -> std::io::Result<()> {
    if !visited.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if SKIPPED_FOLDERS.contains(&name.as_str()) {
                continue;
            }
            walk(&path, found, visited)?;
        } else if is_scenario_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_scenario_file(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("yaml" | "yml" | "json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_name_the_fix() {
        let dir = std::env::temp_dir().join(format!("fakestripe-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        let absent = dir.join("absent.yaml");
        let link = dir.join("link.yaml");
        let _ = std::fs::remove_file(&link);
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("gone.yaml"), &link).expect("the link is made");

        let absent_error = collect_files(&[absent]).expect_err("the path does not exist");
        assert!(
            absent_error.contains("no such file or folder"),
            "{absent_error}"
        );
        assert!(
            absent_error.contains(".yaml, .yml or .json"),
            "{absent_error}"
        );
        #[cfg(unix)]
        {
            let link_error = collect_files(&[link]).expect_err("the link target does not exist");
            assert!(link_error.contains("a symbolic link to"), "{link_error}");
            assert!(link_error.contains("gone.yaml"), "{link_error}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `- name:` with nothing after the colon is a whole step exactly for
    /// the steps in [`STEPS_WITHOUT_REQUIRED_KEYS`], as the help for a step
    /// written without a colon states.
    #[test]
    fn steps_without_required_keys_match_model() {
        for name in STEP_NAMES {
            let text = format!("version: 1\nsteps:\n  - checkout: {{ order: O-1 }}\n  - {name}:\n");
            let valid = parse(Path::new("empty-step.yaml"), &text).is_ok();
            assert_eq!(
                valid,
                STEPS_WITHOUT_REQUIRED_KEYS.contains(name),
                "`- {name}:`"
            );
        }
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let text = "\u{feff}version: 1\nsteps:\n  - checkout: { order: O-1 }\n";
        assert!(parse(Path::new("marked.yaml"), text).is_ok());

        let json = "\u{feff}{\"version\": 1, \"steps\": [{\"checkout\": {\"order\": \"O-1\"}}]}";
        assert!(parse(Path::new("marked.json"), json).is_ok());

        // The column of a fault on the first line counts from after the mark.
        let bad = "\u{feff}version: x\nsteps: []\n";
        let errors = parse(Path::new("bad.yaml"), bad).unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (1, 10), "{}", errors[0]);
    }
}
