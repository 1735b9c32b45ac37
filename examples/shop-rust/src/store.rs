//! Orders and processed webhook events in SQLite.
//!
//! One connection behind a mutex serialises all writes, so no other write
//! interleaves with a transaction. Calls are short and never wait on the network
//! while the lock is held. Every network call (such as listing line items)
//! happens before the transaction that records its result.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;

use crate::order::{self, Skip, Status, Target, Transition};
use crate::stripe::CheckoutSession;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    order_id          TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    fulfilment_count  INTEGER NOT NULL DEFAULT 0,
    session_id        TEXT,
    payment_intent    TEXT,
    amount_total      INTEGER,
    currency          TEXT,
    released          INTEGER NOT NULL DEFAULT 0,
    email             TEXT,
    items             TEXT NOT NULL,
    shipped_items     TEXT,
    -- Random per order row, so idempotency keys of a re-created order id
    -- (after /_reset) never collide with keys Stripe still remembers.
    checkout_token    TEXT NOT NULL,
    checkout_attempts INTEGER NOT NULL DEFAULT 0,
    -- Only the cached-session bug switch reads this column.
    cached_session    TEXT
);
CREATE INDEX IF NOT EXISTS orders_session_id ON orders (session_id);
CREATE TABLE IF NOT EXISTS processed_events (
    event_id     TEXT PRIMARY KEY,
    event_type   TEXT NOT NULL,
    processed_at INTEGER NOT NULL
);
";

/// An order as `GET /orders/{order_id}` returns it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Order {
    pub(crate) order_id: String,
    pub(crate) status: Status,
    pub(crate) fulfilment_count: i64,
    pub(crate) session_id: Option<String>,
    pub(crate) payment_intent: Option<String>,
    pub(crate) amount_total: Option<i64>,
    pub(crate) currency: Option<String>,
    /// Whether the stock reservation was given back.
    pub(crate) released: bool,
    pub(crate) email: Option<String>,
    /// The items from the checkout request.
    pub(crate) items: Value,
    /// The line items listed from Stripe when the order was fulfilled.
    pub(crate) shipped_items: Option<Value>,
}

/// A webhook event to record as processed.
#[derive(Debug, Clone)]
pub(crate) struct EventRecord {
    pub(crate) id: String,
    pub(crate) event_type: String,
}

/// The outcome of [`Store::apply`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Applied {
    /// The event was already processed, so nothing changed.
    Duplicate,
    UnknownOrder,
    Skipped(Skip),
    Changed {
        from: Status,
        to: Status,
    },
}

/// The outcome of [`Store::begin_checkout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckoutStart {
    Ready {
        idempotency_key: String,
    },
    AlreadyPaid,
    /// The last session completed with a delayed payment method that has not
    /// settled. A second session could charge the buyer twice.
    PaymentInProgress,
}

/// The fields a checkout request stores on its order.
#[derive(Debug, Clone)]
pub(crate) struct NewCheckout<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) items: &'a Value,
    pub(crate) currency: Option<&'a str>,
    pub(crate) email: Option<&'a str>,
}

#[derive(Debug)]
pub(crate) struct Store {
    connection: Mutex<Connection>,
}

impl Store {
    /// Opens the SQLite file at `path`, or a fresh in-memory database when
    /// `path` is `None`, and creates the tables.
    pub(crate) fn open(path: Option<&Path>) -> anyhow::Result<Store> {
        let connection = match path {
            Some(path) => Connection::open(path)
                .with_context(|| format!("failed to open SQLite file {}", path.display()))?,
            None => Connection::open_in_memory().context("failed to open in-memory SQLite")?,
        };
        connection
            .execute_batch(SCHEMA)
            .context("failed to create tables")?;
        Ok(Store {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a transaction rolls it back when the transaction is
        // dropped, so the connection is still consistent after poisoning.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn find_order(&self, order_id: &str) -> anyhow::Result<Option<Order>> {
        let connection = self.lock();
        select_order(&connection, "order_id", order_id)
    }

    /// Finds the order whose current session is `session_id`.
    pub(crate) fn find_order_by_session(&self, session_id: &str) -> anyhow::Result<Option<Order>> {
        let connection = self.lock();
        select_order(&connection, "session_id", session_id)
    }

    /// Creates the order, or reopens a failed or cancelled one, and counts a
    /// new checkout attempt. The idempotency key names the order row and the
    /// attempt, so a retry of this attempt reuses it and the next attempt
    /// gets a new one.
    pub(crate) fn begin_checkout(
        &self,
        checkout: &NewCheckout<'_>,
    ) -> anyhow::Result<CheckoutStart> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let existing: Option<(String, String)> = transaction
            .query_row(
                "SELECT status, checkout_token FROM orders WHERE order_id = ?1",
                [checkout.order_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let items = checkout.items.to_string();
        let currency = checkout.currency.map(str::to_ascii_lowercase);

        let token = match existing {
            None => {
                let token = format!(
                    "{:016x}{:016x}",
                    rand::random::<u64>(),
                    rand::random::<u64>()
                );
                transaction.execute(
                    "INSERT INTO orders (order_id, status, items, currency, email, checkout_token)
                     VALUES (?1, 'pending', ?2, ?3, ?4, ?5)",
                    params![checkout.order_id, items, currency, checkout.email, token],
                )?;
                token
            }
            Some((status, token)) => {
                match parse_status(&status)? {
                    Status::Paid => return Ok(CheckoutStart::AlreadyPaid),
                    Status::AwaitingPayment => return Ok(CheckoutStart::PaymentInProgress),
                    Status::Pending | Status::PaymentFailed | Status::Cancelled => {}
                }
                // A new attempt reserves the stock again.
                transaction.execute(
                    "UPDATE orders
                     SET status = 'pending', released = 0, items = ?2,
                         currency = COALESCE(?3, currency), email = COALESCE(?4, email)
                     WHERE order_id = ?1",
                    params![checkout.order_id, items, currency, checkout.email],
                )?;
                token
            }
        };

        let attempt: i64 = transaction.query_row(
            "UPDATE orders SET checkout_attempts = checkout_attempts + 1
             WHERE order_id = ?1 RETURNING checkout_attempts",
            [checkout.order_id],
            |row| row.get(0),
        )?;
        transaction.commit()?;
        Ok(CheckoutStart::Ready {
            idempotency_key: format!("checkout-{token}-{attempt}"),
        })
    }

    /// Stores a newly created session on its order, unless the order was
    /// paid in the meantime. `cache` also keeps the whole session object,
    /// which only the cached-session bug switch reads.
    pub(crate) fn record_session(
        &self,
        order_id: &str,
        session: &CheckoutSession,
        cache: bool,
    ) -> anyhow::Result<()> {
        let cached = if cache {
            Some(serde_json::to_string(session)?)
        } else {
            None
        };
        let connection = self.lock();
        connection.execute(
            "UPDATE orders
             SET session_id = ?2, amount_total = COALESCE(?3, amount_total),
                 currency = COALESCE(?4, currency), cached_session = ?5
             WHERE order_id = ?1 AND status != 'paid'",
            params![
                order_id,
                session.id,
                session.amount_total,
                session.currency,
                cached
            ],
        )?;
        Ok(())
    }

    /// Returns the session object cached at creation for `order_id`.
    pub(crate) fn cached_session(&self, order_id: &str) -> anyhow::Result<Option<CheckoutSession>> {
        let connection = self.lock();
        let cached: Option<Option<String>> = connection
            .query_row(
                "SELECT cached_session FROM orders WHERE order_id = ?1",
                [order_id],
                |row| row.get(0),
            )
            .optional()?;
        match cached.flatten() {
            Some(text) => Ok(Some(serde_json::from_str(&text)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn is_processed(&self, event_id: &str) -> anyhow::Result<bool> {
        let connection = self.lock();
        let found = connection
            .query_row(
                "SELECT 1 FROM processed_events WHERE event_id = ?1",
                [event_id],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Records `event` as processed in a transaction of its own. Returns
    /// false when it was already recorded. Only the mark-before-commit bug
    /// switch uses this. The correct path records the event inside
    /// [`Store::apply`].
    pub(crate) fn mark_processed(&self, event: &EventRecord) -> anyhow::Result<bool> {
        let connection = self.lock();
        Ok(insert_processed(&connection, event)?)
    }

    /// Applies `transition` to an order in one transaction. With `event`,
    /// the same transaction records it as processed, or finds that it was
    /// and changes nothing. Either the event's effects and its processed
    /// row both commit, or neither does, so a failure leaves the event for
    /// Stripe's retry.
    pub(crate) fn apply(
        &self,
        event: Option<&EventRecord>,
        order_id: &str,
        transition: &Transition,
    ) -> anyhow::Result<Applied> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        if let Some(event) = event
            && !insert_processed(&transaction, event)?
        {
            return Ok(Applied::Duplicate);
        }

        let current: Option<(String, Option<String>)> = transaction
            .query_row(
                "SELECT status, session_id FROM orders WHERE order_id = ?1",
                [order_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((status, session_id)) = current else {
            transaction.commit()?;
            return Ok(Applied::UnknownOrder);
        };
        let status = parse_status(&status)?;

        let applied = match order::decide(status, session_id.as_deref(), transition) {
            Err(skip) => Applied::Skipped(skip),
            Ok(()) => {
                let to = write_transition(&transaction, order_id, transition)?;
                Applied::Changed { from: status, to }
            }
        };
        transaction.commit()?;
        Ok(applied)
    }

    /// Deletes every order and processed event. Returns how many orders and
    /// events were deleted.
    pub(crate) fn reset(&self) -> anyhow::Result<(usize, usize)> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let orders = transaction.execute("DELETE FROM orders", [])?;
        let events = transaction.execute("DELETE FROM processed_events", [])?;
        transaction.commit()?;
        Ok((orders, events))
    }
}

/// Inserts the processed-event row. Returns false when it already existed.
fn insert_processed(connection: &Connection, event: &EventRecord) -> rusqlite::Result<bool> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO processed_events (event_id, event_type, processed_at)
         VALUES (?1, ?2, ?3)",
        params![event.id, event.event_type, now],
    )?;
    Ok(inserted == 1)
}

/// Writes the columns `transition` changes and returns the new status.
fn write_transition(
    transaction: &Transaction<'_>,
    order_id: &str,
    transition: &Transition,
) -> anyhow::Result<Status> {
    let session_id = transition.session_id.as_deref();
    let status = match &transition.target {
        Target::Paid(payment) => {
            transaction.execute(
                "UPDATE orders
                 SET status = 'paid', fulfilment_count = fulfilment_count + 1, released = 0,
                     session_id = COALESCE(?2, session_id),
                     payment_intent = COALESCE(?3, payment_intent),
                     amount_total = COALESCE(?4, amount_total),
                     currency = COALESCE(?5, currency),
                     email = COALESCE(?6, email),
                     shipped_items = ?7
                 WHERE order_id = ?1",
                params![
                    order_id,
                    session_id,
                    payment.payment_intent,
                    payment.amount_total,
                    payment.currency,
                    payment.email,
                    payment.shipped_items.to_string(),
                ],
            )?;
            Status::Paid
        }
        Target::AwaitingPayment => {
            transaction.execute(
                "UPDATE orders SET status = 'awaiting_payment',
                     session_id = COALESCE(?2, session_id)
                 WHERE order_id = ?1",
                params![order_id, session_id],
            )?;
            Status::AwaitingPayment
        }
        Target::PaymentFailed | Target::Cancelled => {
            let status = if transition.target == Target::PaymentFailed {
                Status::PaymentFailed
            } else {
                Status::Cancelled
            };
            transaction.execute(
                "UPDATE orders SET status = ?2, released = 1 WHERE order_id = ?1",
                params![order_id, status.as_str()],
            )?;
            status
        }
    };
    Ok(status)
}

fn select_order(
    connection: &Connection,
    column: &str,
    value: &str,
) -> anyhow::Result<Option<Order>> {
    // `column` is one of two names fixed in this file, never user input.
    let sql = format!(
        "SELECT order_id, status, fulfilment_count, session_id, payment_intent, amount_total,
                currency, released, email, items, shipped_items
         FROM orders WHERE {column} = ?1"
    );
    let row = connection
        .query_row(&sql, [value], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, bool>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, String>(9)?,
                row.get::<_, Option<String>>(10)?,
            ))
        })
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (order_id, status, fulfilment_count, session_id, payment_intent, amount_total) =
        (row.0, row.1, row.2, row.3, row.4, row.5);
    let (currency, released, email, items, shipped_items) = (row.6, row.7, row.8, row.9, row.10);
    Ok(Some(Order {
        order_id,
        status: parse_status(&status)?,
        fulfilment_count,
        session_id,
        payment_intent,
        amount_total,
        currency,
        released,
        email,
        items: serde_json::from_str(&items)?,
        shipped_items: shipped_items
            .map(|text| serde_json::from_str(&text))
            .transpose()?,
    }))
}

fn parse_status(word: &str) -> anyhow::Result<Status> {
    Status::parse(word).with_context(|| format!("invalid order status {word:?} in the database"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::order::Payment;

    fn store_with_order(order_id: &str) -> Store {
        let store = Store::open(None).unwrap();
        let start = store
            .begin_checkout(&NewCheckout {
                order_id,
                items: &json!([{"name": "Mug", "unit_amount": 1500, "quantity": 1}]),
                currency: Some("EUR"),
                email: Some("a@example.test"),
            })
            .unwrap();
        assert!(matches!(start, CheckoutStart::Ready { .. }));
        store
    }

    fn checkout_again(store: &Store, order_id: &str) -> CheckoutStart {
        store
            .begin_checkout(&NewCheckout {
                order_id,
                items: &json!([]),
                currency: None,
                email: None,
            })
            .unwrap()
    }

    fn paid_on(session: &str) -> Transition {
        Transition::new(
            Target::Paid(Payment {
                payment_intent: Some("pi_1".to_owned()),
                amount_total: Some(1500),
                currency: Some("eur".to_owned()),
                email: Some("b@example.test".to_owned()),
                shipped_items: json!([{"description": "Mug", "quantity": 1}]),
            }),
            Some(session.to_owned()),
        )
    }

    fn event(id: &str) -> EventRecord {
        EventRecord {
            id: id.to_owned(),
            event_type: "checkout.session.completed".to_owned(),
        }
    }

    #[test]
    fn new_order_pending_and_reserved() {
        let store = store_with_order("O-1");
        let order = store.find_order("O-1").unwrap().unwrap();
        assert_eq!(order.status, Status::Pending);
        assert_eq!(order.fulfilment_count, 0);
        assert!(!order.released);
        assert_eq!(order.currency.as_deref(), Some("eur"));
        assert_eq!(order.email.as_deref(), Some("a@example.test"));
    }

    #[test]
    fn paid_records_payment() {
        let store = store_with_order("O-1");
        let applied = store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        assert_eq!(
            applied,
            Applied::Changed {
                from: Status::Pending,
                to: Status::Paid
            }
        );
        let order = store.find_order("O-1").unwrap().unwrap();
        assert_eq!(order.status, Status::Paid);
        assert_eq!(order.fulfilment_count, 1);
        assert_eq!(order.session_id.as_deref(), Some("cs_1"));
        assert_eq!(order.payment_intent.as_deref(), Some("pi_1"));
        assert_eq!(order.amount_total, Some(1500));
        assert_eq!(order.email.as_deref(), Some("b@example.test"));
        assert_eq!(order.shipped_items.unwrap()[0]["description"], "Mug");
    }

    #[test]
    fn duplicate_event_changes_nothing() {
        let store = store_with_order("O-1");
        store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        let again = store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        assert_eq!(again, Applied::Duplicate);
        assert_eq!(
            store.find_order("O-1").unwrap().unwrap().fulfilment_count,
            1
        );
    }

    #[test]
    fn second_paid_event_skipped() {
        let store = store_with_order("O-1");
        store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        let second = store
            .apply(Some(&event("evt_2")), "O-1", &paid_on("cs_1"))
            .unwrap();
        assert_eq!(second, Applied::Skipped(Skip::AlreadyPaid));
        assert!(store.is_processed("evt_2").unwrap());
        assert_eq!(
            store.find_order("O-1").unwrap().unwrap().fulfilment_count,
            1
        );
    }

    #[test]
    fn event_recorded_with_effects() {
        let store = store_with_order("O-1");
        assert!(!store.is_processed("evt_1").unwrap());
        store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        assert!(store.is_processed("evt_1").unwrap());
    }

    #[test]
    fn premarked_event_is_duplicate() {
        let store = store_with_order("O-1");
        assert!(store.mark_processed(&event("evt_1")).unwrap());
        assert!(!store.mark_processed(&event("evt_1")).unwrap());
        let applied = store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        assert_eq!(applied, Applied::Duplicate);
        assert_eq!(
            store.find_order("O-1").unwrap().unwrap().status,
            Status::Pending
        );
    }

    #[test]
    fn out_of_order_completion_ignored() {
        let store = store_with_order("O-1");
        store
            .apply(Some(&event("evt_2")), "O-1", &paid_on("cs_1"))
            .unwrap();
        let late = Transition::new(Target::AwaitingPayment, Some("cs_1".to_owned()));
        let applied = store.apply(Some(&event("evt_1")), "O-1", &late).unwrap();
        assert_eq!(
            applied,
            Applied::Skipped(Skip::NotAllowedFrom(Status::Paid))
        );
        assert_eq!(
            store.find_order("O-1").unwrap().unwrap().status,
            Status::Paid
        );
    }

    #[test]
    fn failure_releases_stock() {
        let store = store_with_order("O-1");
        let failed = Transition::new(Target::PaymentFailed, Some("cs_1".to_owned()));
        store.apply(Some(&event("evt_1")), "O-1", &failed).unwrap();
        let order = store.find_order("O-1").unwrap().unwrap();
        assert_eq!(order.status, Status::PaymentFailed);
        assert!(order.released);
        assert_eq!(order.fulfilment_count, 0);
    }

    #[test]
    fn unknown_order_reported() {
        let store = Store::open(None).unwrap();
        let applied = store
            .apply(Some(&event("evt_1")), "O-9", &paid_on("cs_1"))
            .unwrap();
        assert_eq!(applied, Applied::UnknownOrder);
    }

    #[test]
    fn checkout_keys_differ_per_attempt() {
        let store = store_with_order("O-1");
        let CheckoutStart::Ready {
            idempotency_key: second,
        } = checkout_again(&store, "O-1")
        else {
            panic!("second checkout not ready");
        };
        let CheckoutStart::Ready {
            idempotency_key: third,
        } = checkout_again(&store, "O-1")
        else {
            panic!("third checkout not ready");
        };
        assert_ne!(second, third);
        assert!(second.ends_with("-2"), "{second}");
    }

    #[test]
    fn keys_differ_after_reset() {
        let store = Store::open(None).unwrap();
        let first = checkout_again(&store, "O-1");
        store.reset().unwrap();
        let after_reset = checkout_again(&store, "O-1");
        assert_ne!(first, after_reset);
    }

    #[test]
    fn checkout_of_paid_order_rejected() {
        let store = store_with_order("O-1");
        store.apply(None, "O-1", &paid_on("cs_1")).unwrap();
        assert_eq!(checkout_again(&store, "O-1"), CheckoutStart::AlreadyPaid);
    }

    #[test]
    fn checkout_while_awaiting_rejected() {
        let store = store_with_order("O-1");
        let awaiting = Transition::new(Target::AwaitingPayment, Some("cs_1".to_owned()));
        store.apply(None, "O-1", &awaiting).unwrap();
        assert_eq!(
            checkout_again(&store, "O-1"),
            CheckoutStart::PaymentInProgress
        );
    }

    #[test]
    fn checkout_reopens_cancelled_order() {
        let store = store_with_order("O-1");
        let cancelled = Transition::new(Target::Cancelled, Some("cs_1".to_owned()));
        store.apply(None, "O-1", &cancelled).unwrap();
        assert!(matches!(
            checkout_again(&store, "O-1"),
            CheckoutStart::Ready { .. }
        ));
        let order = store.find_order("O-1").unwrap().unwrap();
        assert_eq!(order.status, Status::Pending);
        assert!(!order.released);
    }

    #[test]
    fn reset_deletes_everything() {
        let store = store_with_order("O-1");
        store
            .apply(Some(&event("evt_1")), "O-1", &paid_on("cs_1"))
            .unwrap();
        assert_eq!(store.reset().unwrap(), (1, 1));
        assert!(store.find_order("O-1").unwrap().is_none());
        assert!(!store.is_processed("evt_1").unwrap());
    }

    #[test]
    fn file_database_persists() {
        let path = std::env::temp_dir().join(format!(
            "shop-rust-test-{}-{:x}.sqlite",
            std::process::id(),
            rand::random::<u64>()
        ));
        {
            let store = Store::open(Some(&path)).unwrap();
            checkout_again(&store, "O-1");
        }
        let reopened = Store::open(Some(&path)).unwrap();
        assert!(reopened.find_order("O-1").unwrap().is_some());
        drop(reopened);
        std::fs::remove_file(&path).unwrap();
    }
}
