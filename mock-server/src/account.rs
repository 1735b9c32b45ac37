//! One account's state: its clock, objects, idempotency keys, webhook
//! endpoints, scheduled work and logs. A test-mode secret key names an
//! account, and `Stripe-Account` names a connected account inside it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::faults::{FaultState, Variant};
use crate::ids::{CompactId, IdGenerator};
use crate::store::Store;
use crate::wire::idempotency::IdempotencyRecord;

/// Work that falls due on the virtual clock. Every open session has a
/// task on the schedule, so the common variants hold compact ids and the
/// whole task takes 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// One delivery attempt of an event to an endpoint.
    Deliver(Box<Delivery>),
    /// An open session reaches its `expires_at`.
    ExpireSession { session_id: CompactId },
    /// An asynchronous payment (SEPA debit, US bank account) settles.
    SettleAsync {
        session_id: CompactId,
        succeed: bool,
    },
    /// A held session becomes visible as paid to retrieve and list.
    EndLag { session_id: CompactId },
    /// A metadata-divergence fault rewrites a payment intent's metadata.
    RewriteMetadata { payment_intent: CompactId },
    /// An authorized card payment that was never captured lapses.
    ExpireAuthorization { payment_intent: CompactId },
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Task>() == 32);

/// A task and when it falls due. Tasks due at the same time run in the
/// order they were scheduled.
#[derive(Debug)]
struct Scheduled {
    due: i64,
    seq: u64,
    task: Task,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// One delivery attempt of an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub endpoint_id: String,
    pub attempt: u32,
    pub variant: Variant,
}

impl Task {
    pub fn deliver(event_id: &str, endpoint_id: &str, attempt: u32, variant: Variant) -> Task {
        Task::Deliver(Box::new(Delivery {
            event_id: event_id.to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            attempt,
            variant,
        }))
    }
}

/// A webhook endpoint's delivery settings and signing secrets.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    /// Current secret first. A rolled secret stays until its expiry, and
    /// deliveries carry one `v1=` signature per live secret.
    pub secrets: Vec<(String, Option<i64>)>,
    pub api_version: Option<String>,
    pub enabled: bool,
    /// Endpoints from `serve --forward-to` do not appear in the API.
    pub hidden: bool,
}

impl Endpoint {
    /// Whether the endpoint receives events of `event_type`.
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.enabled
            && self
                .enabled_events
                .iter()
                .any(|e| e == "*" || e == event_type)
    }

    /// The secrets that sign a delivery at virtual time `now`.
    pub fn live_secrets(&self, now: i64) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|(_, expires_at)| expires_at.is_none_or(|at| at > now))
            .map(|(secret, _)| secret.as_str())
            .collect()
    }
}

/// One delivery attempt, as `GET /_fakestripe/deliveries` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub event_id: String,
    pub event_type: String,
    pub endpoint: String,
    pub url: String,
    pub attempt: u32,
    /// Virtual time the attempt was due.
    pub scheduled_at: i64,
    /// Virtual time the attempt was sent.
    pub sent_at: i64,
    /// The endpoint's HTTP status, if it responded.
    pub status: Option<u16>,
    /// Why the attempt failed without a status (refused, timed out).
    pub error: Option<String>,
    pub latency_ms: u64,
    /// The first bytes of the endpoint's response.
    pub response_body: String,
    /// Set for a deliberately forged delivery: which way it was forged.
    pub forged: Option<String>,
    /// Set for a deliberate duplicate of an earlier delivery.
    pub duplicate: bool,
}

impl DeliveryRecord {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One API request, as `GET /_fakestripe/requests` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub request_id: String,
    pub at: i64,
    pub method: &'static str,
    pub path: String,
    /// The decoded parameters, `None` for none. Secrets never reach this log.
    #[serde(serialize_with = "params_or_empty")]
    pub params: Option<LoggedParams>,
    pub idempotency_key: Option<String>,
    pub idempotent_replayed: bool,
    pub status: u16,
    /// Ids of the objects the request created, changed or read.
    pub objects: Vec<String>,
    /// The fault applied to this request, if any.
    pub fault: Option<String>,
    pub api_version: std::borrow::Cow<'static, str>,
}

fn params_or_empty<S: serde::Serializer>(
    params: &Option<LoggedParams>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match params {
        Some(params) => params.json().serialize(serializer),
        None => serializer.serialize_map(Some(0))?.end(),
    }
}

/// A request's parameters as compact JSON, compressed against the first
/// long parameters the account logged. The request log keeps thousands of
/// lines, and requests of one route repeat most of their parameter names
/// and values, so a line of a session create takes about 50 bytes instead
/// of 450.
#[derive(Debug, Clone)]
pub struct LoggedParams {
    dictionary: Arc<[u8]>,
    /// LZ4 block, uncompressed length first.
    bytes: Box<[u8]>,
}

/// Parameters shorter than this are not worth a dictionary.
const PARAMS_DICTIONARY_MIN: usize = 128;

impl LoggedParams {
    /// Decompresses the parameters to JSON text.
    pub fn json(&self) -> Box<RawValue> {
        lz4_flex::block::decompress_size_prepended_with_dict(&self.bytes, &self.dictionary)
            .ok()
            .and_then(|text| String::from_utf8(text).ok())
            .and_then(|text| RawValue::from_string(text).ok())
            .unwrap_or_else(|| RawValue::NULL.to_owned())
    }
}

/// One line of the trace: every request, object change, event, delivery
/// attempt and fault decision, in the order they happened.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEntry {
    pub seq: u64,
    pub at: i64,
    pub kind: &'static str,
    detail: Detail,
}

/// The content of a trace line. A trace contains many thousands of lines,
/// so each is compact JSON, and a request's line shares the request log's
/// record.
#[derive(Debug, Clone)]
enum Detail {
    Json(Box<RawValue>),
    Request(Arc<RequestRecord>),
}

/// The fields of a request that its trace line shows.
#[derive(Serialize)]
struct RequestLine<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    idempotency_key: Option<&'a str>,
    idempotent_replayed: bool,
    objects: &'a [String],
    fault: Option<&'a str>,
    /// The request's `expand` paths, shown only when it has some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expand: Vec<String>,
}

impl<'a> From<&'a RequestRecord> for RequestLine<'a> {
    fn from(record: &'a RequestRecord) -> Self {
        RequestLine {
            request_id: &record.request_id,
            method: record.method,
            path: &record.path,
            status: record.status,
            idempotency_key: record.idempotency_key.as_deref(),
            idempotent_replayed: record.idempotent_replayed,
            objects: &record.objects,
            fault: record.fault.as_deref(),
            expand: record.params.as_ref().map_or_else(Vec::new, expand_paths),
        }
    }
}

/// Returns the `expand` paths of logged parameters.
fn expand_paths(params: &LoggedParams) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Expand {
        #[serde(default)]
        expand: Vec<String>,
    }
    serde_json::from_str::<Expand>(params.json().get()).map_or_else(|_| Vec::new(), |e| e.expand)
}

impl Serialize for Detail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Detail::Json(raw) => raw.serialize(serializer),
            Detail::Request(record) => RequestLine::from(&**record).serialize(serializer),
        }
    }
}

impl TraceEntry {
    /// Parses the details of the line.
    pub fn detail(&self) -> Value {
        serde_json::to_value(&self.detail).unwrap_or(Value::Null)
    }
}

/// The default number of lines each of an account's logs (requests,
/// deliveries, trace) keeps.
pub const DEFAULT_LOG_LIMIT: usize = 10_000;

/// A log that keeps its newest `limit` lines and counts the ones it let go.
#[derive(Debug, Clone)]
pub struct Log<T> {
    lines: VecDeque<T>,
    limit: usize,
    dropped: u64,
}

impl<T> Log<T> {
    pub fn new(limit: usize) -> Self {
        Log {
            lines: VecDeque::new(),
            limit: limit.max(1),
            dropped: 0,
        }
    }

    /// Appends a line. Returns the oldest line if the log was full and
    /// let it go.
    pub fn push(&mut self, line: T) -> Option<T> {
        let dropped = if self.lines.len() == self.limit {
            self.dropped += 1;
            self.lines.pop_front()
        } else {
            None
        };
        self.lines.push_back(line);
        dropped
    }

    /// Number of lines let go to keep the log within its limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<T> std::ops::Deref for Log<T> {
    type Target = VecDeque<T>;

    fn deref(&self) -> &VecDeque<T> {
        &self.lines
    }
}

/// The mutable state of an account.
#[derive(Debug)]
pub struct AccountData {
    pub clock: Clock,
    pub store: Store,
    pub ids: IdGenerator,
    pub idempotency: HashMap<String, IdempotencyRecord>,
    /// The test card number behind each card payment method, so a saved
    /// card charged again behaves as the card it was made from.
    pub card_numbers: HashMap<String, String>,
    /// Tasks by due time, then by the order they were scheduled in. A heap
    /// keeps each task in 48 bytes with nothing around it, and every open
    /// session has one.
    schedule: BinaryHeap<Reverse<Scheduled>>,
    /// Set when a task became the earliest on the schedule.
    earlier_task: bool,
    next_seq: u64,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub deliveries: Log<DeliveryRecord>,
    pub requests: Log<Arc<RequestRecord>>,
    pub trace: Log<TraceEntry>,
    /// Sequence number of the newest trace line the limit let go.
    pub trace_dropped_through: u64,
    pub faults: FaultState,
    /// The connected account (`acct_…`) this state belongs to, if any.
    pub connected_account: Option<String>,
    /// The account's own seed, drawn from its key: the first seed of its
    /// ids, and the seed of a fault plan that gives none.
    seed: u64,
    /// The dictionary that logged parameters compress against: the first
    /// parameters that were long enough, or empty until then.
    params_dictionary: Arc<[u8]>,
    /// The key of the HMAC that webhook signing secrets pass through: a
    /// SHA-256 of the account's scope, its secret key with any connected
    /// account. Checkout URLs show ids, and an id gives away the counter it
    /// was drawn from, so a secret drawn straight from that counter could
    /// be worked out from any checkout URL.
    secret_key: [u8; 32],
    /// How many times the account has been reset. A delivery carries the
    /// value it was prepared under, and its outcome is recorded only while
    /// the value is unchanged, so nothing of a discarded state reaches the
    /// fresh one.
    pub generation: u64,
}

impl AccountData {
    pub fn new(clock: Clock, seed: u64, connected_account: Option<String>) -> Self {
        let ids = IdGenerator::new(seed);
        AccountData {
            clock,
            store: Store::new(ids.upcoming()),
            ids,
            idempotency: HashMap::new(),
            card_numbers: HashMap::new(),
            schedule: BinaryHeap::new(),
            earlier_task: false,
            next_seq: 0,
            endpoints: BTreeMap::new(),
            deliveries: Log::new(DEFAULT_LOG_LIMIT),
            requests: Log::new(DEFAULT_LOG_LIMIT),
            trace: Log::new(DEFAULT_LOG_LIMIT),
            trace_dropped_through: 0,
            faults: FaultState::new(seed),
            connected_account,
            seed,
            params_dictionary: Arc::from(&[][..]),
            secret_key: [0; 32],
            generation: 0,
        }
    }

    /// Keys the account's webhook signing secrets to its scope (its secret
    /// key, with any connected account), so two accounts that set the same
    /// seed get different secrets.
    pub fn with_secret_scope(mut self, scope: &str) -> Self {
        use sha2::Digest;
        self.secret_key = sha2::Sha256::digest(scope.as_bytes()).into();
        self
    }

    /// Returns the key that `with_secret_scope` set, to carry it over a
    /// reset.
    pub fn secret_key(&self) -> [u8; 32] {
        self.secret_key
    }

    pub fn set_secret_key(&mut self, key: [u8; 32]) {
        self.secret_key = key;
    }

    /// Draws a new `whsec_…` signing secret: the next value of the ids'
    /// counter, passed through an HMAC under the account's secret key. It
    /// is as deterministic as the ids, and an id does not give it away.
    pub fn new_webhook_secret(&mut self) -> String {
        use hmac::Mac;
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let drawn = self.ids.next("whsec_");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret_key)
            .expect("HMAC takes a key of any length");
        mac.update(drawn.as_bytes());
        let digest = mac.finalize().into_bytes();
        let tail: String = digest
            .iter()
            .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
            .collect();
        format!("whsec_{tail}")
    }

    /// Sets how many lines each log keeps. Call before anything is logged.
    pub fn with_log_limit(mut self, limit: usize) -> Self {
        self.deliveries = Log::new(limit);
        self.requests = Log::new(limit);
        self.trace = Log::new(limit);
        self
    }

    /// The seed this account's ids are drawn from.
    pub fn ids_seed(&self) -> u64 {
        self.seed
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A sequence number shared by the schedule and the trace, so work due
    /// at the same second runs in the order it was scheduled.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Continues sequence numbers after `last`, so a trace read with
    /// `after=SEQ` stays correct across a reset.
    pub fn resume_sequence(&mut self, last: u64) {
        self.next_seq = self.next_seq.max(last);
    }

    /// Draws the id of a new object, skipping any id an object already
    /// has. Ids are numbered from the seed, so a product id a caller chose
    /// may be one that the account would draw later.
    pub fn new_id(&mut self, prefix: &str) -> String {
        loop {
            let id = self.ids.next(prefix);
            if !self.store.has_id(&id) {
                return id;
            }
        }
    }

    /// Compresses a request's parameters for the request log.
    pub fn log_params(&mut self, json: &RawValue) -> LoggedParams {
        let text = json.get().as_bytes();
        if self.params_dictionary.is_empty() && text.len() >= PARAMS_DICTIONARY_MIN {
            self.params_dictionary = Arc::from(text);
        }
        LoggedParams {
            dictionary: self.params_dictionary.clone(),
            bytes: lz4_flex::block::compress_prepend_size_with_dict(text, &self.params_dictionary)
                .into_boxed_slice(),
        }
    }

    /// Schedules `task` at virtual time `at`.
    pub fn schedule(&mut self, at: i64, task: Task) {
        // The dispatcher sleeps until the earliest task, so only a new
        // earliest one needs to wake it.
        if self.next_due().is_none_or(|due| at < due) {
            self.earlier_task = true;
        }
        let seq = self.next_seq();
        self.schedule
            .push(Reverse(Scheduled { due: at, seq, task }));
    }

    /// Appends a line to the trace.
    pub fn trace(&mut self, kind: &'static str, detail: Value) {
        self.trace_line(kind, &detail);
    }

    /// Appends a line to the trace from any serializable detail.
    pub fn trace_line(&mut self, kind: &'static str, detail: &impl Serialize) {
        let detail =
            serde_json::value::to_raw_value(detail).unwrap_or_else(|_| RawValue::NULL.to_owned());
        self.push_trace(kind, Detail::Json(detail));
    }

    /// Appends a request's line to the trace.
    pub fn trace_request(&mut self, record: Arc<RequestRecord>) {
        self.push_trace("request", Detail::Request(record));
    }

    fn push_trace(&mut self, kind: &'static str, detail: Detail) {
        let seq = self.next_seq();
        let at = self.now();
        if let Some(old) = self.trace.push(TraceEntry {
            seq,
            at,
            kind,
            detail,
        }) {
            self.trace_dropped_through = old.seq;
        }
    }

    /// Returns whether a task was scheduled before every other since the
    /// last call, so the dispatcher must look at the schedule again.
    pub fn take_earlier_task(&mut self) -> bool {
        std::mem::take(&mut self.earlier_task)
    }

    /// The earliest scheduled work, if any.
    pub fn next_due(&self) -> Option<i64> {
        self.schedule.peek().map(|next| next.0.due)
    }

    /// Removes and returns the earliest task if it is a delivery due at
    /// exactly `at`.
    pub fn pop_delivery_due_at(&mut self, at: i64) -> Option<Box<Delivery>> {
        let next = self.schedule.peek()?;
        if next.0.due != at || !matches!(next.0.task, Task::Deliver(_)) {
            return None;
        }
        match self.schedule.pop()?.0.task {
            Task::Deliver(delivery) => Some(delivery),
            _ => None,
        }
    }

    /// Removes and returns the earliest task due at or before `at`.
    pub fn pop_due(&mut self, at: i64) -> Option<(i64, Task)> {
        if self.next_due()? > at {
            return None;
        }
        self.schedule
            .pop()
            .map(|Reverse(next)| (next.due, next.task))
    }
}

/// An account and the handles its background work needs.
#[derive(Debug)]
pub struct Account {
    /// The masked key, for logs.
    pub label: String,
    data: Mutex<AccountData>,
    /// Wakes the account's dispatcher when work is scheduled or the clock
    /// changes.
    pub wake: Notify,
    /// Held while due work runs, so an advance and the background
    /// dispatcher never run the same task twice.
    pub runner: tokio::sync::Mutex<()>,
    /// Taken by an API request before `lock`. Requests of one account
    /// queue here without blocking their worker thread, which serves other
    /// connections in the meantime instead of sleeping on the lock.
    turn: tokio::sync::Mutex<()>,
    /// Deliveries that real-time mode has taken off the schedule and not
    /// yet sent, queued by endpoint.
    pub outbox: Mutex<crate::events::dispatcher::Outbox>,
    /// Notified when the outbox becomes empty.
    pub outbox_empty: Notify,
    /// Bursts of concurrent duplicate deliveries being sent now. While one
    /// is, the account's API requests wait `BURST_API_DELAY` first.
    pub bursts: AtomicUsize,
    /// The account's `generation`, published by a reset so that work
    /// waiting on a webhook endpoint stops at once. Written only under the
    /// account lock, so it never runs ahead of `AccountData::generation`.
    resets: tokio::sync::watch::Sender<u64>,
}

/// How much longer an API request takes while a burst of concurrent
/// duplicates is being delivered. Stripe's API responds in tens to
/// hundreds of milliseconds, and the fake in about one. An app that checks
/// whether it has seen an event, calls the API, and then records the event
/// leaves a window that long between check and record. The delay gives the
/// other copies of the burst time to arrive inside it, as they would on
/// Stripe.
pub const BURST_API_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// Counts a burst in `Account::bursts` until it is dropped.
pub struct BurstGuard<'a>(&'a AtomicUsize);

impl Drop for BurstGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Account {
    pub fn new(label: String, data: AccountData) -> Arc<Self> {
        Arc::new(Account {
            label,
            data: Mutex::new(data),
            wake: Notify::new(),
            runner: tokio::sync::Mutex::new(()),
            turn: tokio::sync::Mutex::new(()),
            outbox: Mutex::default(),
            outbox_empty: Notify::new(),
            bursts: AtomicUsize::new(0),
            resets: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Returns a receiver that is notified of the next reset. Subscribe while holding
    /// the account lock, so that the generation read under it is the one
    /// the receiver starts from.
    pub fn watch_resets(&self) -> tokio::sync::watch::Receiver<u64> {
        self.resets.subscribe()
    }

    /// Tells the waiting work that the account was reset to `generation`.
    /// Call with the account lock held.
    pub fn publish_reset(&self, generation: u64) {
        self.resets.send_replace(generation);
    }

    /// Waits for this account's turn among API requests. Hold the guard
    /// while holding `lock`, and drop both before any await.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }

    /// Locks the account's state. The lock is never held across an await.
    /// Marks a burst of concurrent duplicates as being sent, until the
    /// returned guard is dropped.
    pub fn start_burst(&self) -> BurstGuard<'_> {
        self.bursts.fetch_add(1, Ordering::SeqCst);
        BurstGuard(&self.bursts)
    }

    /// Waits `BURST_API_DELAY` when a burst of concurrent duplicates is
    /// being sent, before an API request of this account runs.
    pub async fn wait_out_burst(&self) {
        if self.bursts.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(BURST_API_DELAY).await;
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, AccountData> {
        // A panic while the lock was held leaves the data as the panicking
        // request left it; serving on is more useful to a test than refusing.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockMode;

    fn expire(id: &str) -> Task {
        Task::ExpireSession {
            session_id: id.into(),
        }
    }

    #[test]
    fn tasks_fall_due_by_time_then_by_order() {
        let mut data = AccountData::new(Clock::new(ClockMode::Manual), 1, None);
        data.schedule(30, expire("c"));
        data.schedule(10, expire("a"));
        data.schedule(30, expire("d"));
        data.schedule(20, expire("b"));
        assert_eq!(data.next_due(), Some(10));
        assert_eq!(data.pop_due(5), None);
        let mut order = Vec::new();
        while let Some((due, task)) = data.pop_due(30) {
            order.push((due, task));
        }
        assert_eq!(
            order,
            [
                (10, expire("a")),
                (20, expire("b")),
                (30, expire("c")),
                (30, expire("d"))
            ]
        );
        assert_eq!(data.next_due(), None);
    }

    #[test]
    fn logged_params_come_back_and_compress() {
        let mut data = AccountData::new(Clock::new(ClockMode::Manual), 1, None);
        let params = |order: u32| {
            serde_json::value::to_raw_value(&serde_json::json!({
                "mode": "payment",
                "success_url": "https://shop.example/orders/thanks?session_id={CHECKOUT_SESSION_ID}",
                "line_items": [{"price": "price_1", "quantity": "2"}],
                "metadata": {"order_id": order.to_string()},
            }))
            .unwrap()
        };
        let short = serde_json::value::to_raw_value(&serde_json::json!({"limit": "3"})).unwrap();
        // Short parameters before any long ones are kept without a dictionary.
        assert_eq!(data.log_params(&short).json().get(), short.get());
        let first = data.log_params(&params(1));
        let second = data.log_params(&params(2));
        assert_eq!(first.json().get(), params(1).get());
        assert_eq!(second.json().get(), params(2).get());
        assert!(
            second.bytes.len() * 4 < params(2).get().len(),
            "{} bytes from {}",
            second.bytes.len(),
            params(2).get().len()
        );
        assert_eq!(data.log_params(&short).json().get(), short.get());
    }
}
