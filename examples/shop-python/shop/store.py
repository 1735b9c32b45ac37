"""Orders and processed webhook events in SQLite.

One connection behind a lock serialises all access, so no other write
interleaves with a transaction. Calls are short and never wait on the
network while the lock is held. Every network call (such as listing line
items) happens before the transaction that records its result.
"""

import contextlib
import dataclasses
import enum
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

from . import order
from .order import Skipped, Status, Transition

SCHEMA = """
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
"""

_ORDER_COLUMNS = (
    "order_id, status, fulfilment_count, session_id, payment_intent, amount_total,"
    " currency, released, email, items, shipped_items"
)


class StoreError(Exception):
    """The database contains a value the shop cannot read."""


class CheckoutRejected(Exception):
    """A new checkout for an order that must not get one."""


class OrderAlreadyPaid(CheckoutRejected):
    pass


class PaymentInProgress(CheckoutRejected):
    """The last session completed with a delayed payment method that has not
    settled. A second session could charge the buyer twice."""


class Outcome(enum.Enum):
    """The outcome of ``Store.apply``."""

    # The event was already processed, so nothing changed.
    DUPLICATE = "duplicate"
    UNKNOWN_ORDER = "unknown_order"
    SKIPPED = "unchanged"
    CHANGED = "applied"


@dataclasses.dataclass(frozen=True)
class Applied:
    outcome: Outcome
    # Set when the outcome is SKIPPED.
    skipped: Skipped | None = None
    # Set when the outcome is CHANGED.
    from_status: Status | None = None
    to_status: Status | None = None

    def detail(self, order_id: str) -> str:
        """Describe the outcome in a few words for the log."""
        if self.outcome is Outcome.UNKNOWN_ORDER:
            return f"order {json.dumps(order_id)} not found"
        if self.skipped is not None:
            return self.skipped.reason()
        if self.from_status is not None and self.to_status is not None:
            return f"{self.from_status.value} -> {self.to_status.value}"
        return ""


@dataclasses.dataclass(frozen=True)
class EventRecord:
    """A webhook event to record as processed."""

    id: str
    event_type: str


class Store:
    def __init__(self, path: str | None = None):
        """Open the SQLite file at ``path``, or a fresh in-memory database
        when ``path`` is None, and create the tables."""
        # isolation_level=None turns off the module's implicit transactions,
        # so the explicit BEGIN IMMEDIATE below is the only one.
        self._connection = sqlite3.connect(
            path if path is not None else ":memory:",
            isolation_level=None,
            check_same_thread=False,
        )
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._connection.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction, rolled back if it raises."""
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def find_order(self, order_id: str) -> dict[str, Any] | None:
        """Return the order as ``GET /orders/{order_id}`` shows it, or None."""
        with self._locked() as connection:
            row = connection.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        return _order_from_row(row)

    def find_order_by_session(self, session_id: str) -> dict[str, Any] | None:
        """Return the order whose current session is ``session_id``, or None."""
        with self._locked() as connection:
            row = connection.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE session_id = ?", (session_id,)
            ).fetchone()
        return _order_from_row(row)

    def order_status(self, order_id: str) -> Status | None:
        with self._locked() as connection:
            row = connection.execute(
                "SELECT status FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        return None if row is None else _parse_status(row["status"])

    def begin_checkout(
        self,
        order_id: str,
        items: list[dict[str, Any]],
        currency: str | None,
        email: str | None,
    ) -> str:
        """Create the order, or reopen a failed or cancelled one, for a new
        checkout attempt, and return the attempt's idempotency key.

        The key names the order row and the attempt, so a retry of this
        attempt reuses it and the next attempt gets a new one. Raises
        OrderAlreadyPaid or PaymentInProgress when the order must not get
        another session.
        """
        items_json = json.dumps(items)
        currency = currency.lower() if currency is not None else None
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT status, checkout_token FROM orders WHERE order_id = ?",
                (order_id,),
            ).fetchone()
            if row is None:
                token = secrets.token_hex(16)
                connection.execute(
                    "INSERT INTO orders (order_id, status, items, currency, email, checkout_token)"
                    " VALUES (?, 'pending', ?, ?, ?, ?)",
                    (order_id, items_json, currency, email, token),
                )
            else:
                status = _parse_status(row["status"])
                if status is Status.PAID:
                    raise OrderAlreadyPaid(order_id)
                if status is Status.AWAITING_PAYMENT:
                    raise PaymentInProgress(order_id)
                token = row["checkout_token"]
                # A new attempt reserves the stock again.
                connection.execute(
                    "UPDATE orders"
                    " SET status = 'pending', released = 0, items = ?,"
                    "     currency = COALESCE(?, currency), email = COALESCE(?, email)"
                    " WHERE order_id = ?",
                    (items_json, currency, email, order_id),
                )
            connection.execute(
                "UPDATE orders SET checkout_attempts = checkout_attempts + 1"
                " WHERE order_id = ?",
                (order_id,),
            )
            attempt = connection.execute(
                "SELECT checkout_attempts FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()[0]
        return f"checkout-{token}-{attempt}"

    def record_session(
        self, order_id: str, session: dict[str, Any], cache: bool
    ) -> None:
        """Store a newly created session on its order, unless the order was
        paid in the meantime. ``cache`` also keeps the whole session object,
        which only the cached-session bug switch reads."""
        cached = json.dumps(session) if cache else None
        with self._locked() as connection:
            connection.execute(
                "UPDATE orders"
                " SET session_id = ?, amount_total = COALESCE(?, amount_total),"
                "     currency = COALESCE(?, currency), cached_session = ?"
                " WHERE order_id = ? AND status != 'paid'",
                (
                    session["id"],
                    session.get("amount_total"),
                    session.get("currency"),
                    cached,
                    order_id,
                ),
            )

    def cached_session(self, order_id: str) -> dict[str, Any] | None:
        """Return the session object cached at creation for ``order_id``."""
        with self._locked() as connection:
            row = connection.execute(
                "SELECT cached_session FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        if row is None or row["cached_session"] is None:
            return None
        return json.loads(row["cached_session"])

    def is_processed(self, event_id: str) -> bool:
        with self._locked() as connection:
            row = connection.execute(
                "SELECT 1 FROM processed_events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return row is not None

    def mark_processed(self, event: EventRecord) -> bool:
        """Record ``event`` as processed in a transaction of its own.

        Returns False when it was already recorded. Only the
        mark-before-commit bug switch and events that change nothing use
        this. Events with effects are recorded inside ``apply``.
        """
        with self._locked() as connection:
            return _insert_processed(connection, event)

    def apply(
        self, event: EventRecord | None, order_id: str, transition: Transition
    ) -> Applied:
        """Apply ``transition`` to an order in one transaction.

        With ``event``, the same transaction records it as processed, or
        finds that it was and changes nothing. Either the event's effects and
        its processed row both commit, or neither does, so a failure leaves
        the event for Stripe's retry.
        """
        with self._transaction() as connection:
            if event is not None and not _insert_processed(connection, event):
                return Applied(Outcome.DUPLICATE)

            row = connection.execute(
                "SELECT status, session_id FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
            if row is None:
                return Applied(Outcome.UNKNOWN_ORDER)
            status = _parse_status(row["status"])

            skipped = order.decide(status, row["session_id"], transition)
            if skipped is not None:
                return Applied(Outcome.SKIPPED, skipped=skipped)
            _write_transition(connection, order_id, transition)
            return Applied(
                Outcome.CHANGED, from_status=status, to_status=transition.target
            )

    def reset(self) -> tuple[int, int]:
        """Delete every order and processed event, and return how many
        orders and events were deleted."""
        with self._transaction() as connection:
            orders = connection.execute("DELETE FROM orders").rowcount
            events = connection.execute("DELETE FROM processed_events").rowcount
        return orders, events


def _insert_processed(connection: sqlite3.Connection, event: EventRecord) -> bool:
    """Insert the processed-event row. Returns False when it already existed."""
    cursor = connection.execute(
        "INSERT OR IGNORE INTO processed_events (event_id, event_type, processed_at)"
        " VALUES (?, ?, ?)",
        (event.id, event.event_type, int(time.time())),
    )
    return cursor.rowcount == 1


def _write_transition(
    connection: sqlite3.Connection, order_id: str, transition: Transition
) -> None:
    """Write the columns ``transition`` changes."""
    session_id = transition.session_id
    if transition.target is Status.PAID:
        payment = transition.payment
        assert payment is not None, "Transition checks that paid carries a payment"
        connection.execute(
            "UPDATE orders"
            " SET status = 'paid', fulfilment_count = fulfilment_count + 1, released = 0,"
            "     session_id = COALESCE(?, session_id),"
            "     payment_intent = COALESCE(?, payment_intent),"
            "     amount_total = COALESCE(?, amount_total),"
            "     currency = COALESCE(?, currency),"
            "     email = COALESCE(?, email),"
            "     shipped_items = ?"
            " WHERE order_id = ?",
            (
                session_id,
                payment.payment_intent,
                payment.amount_total,
                payment.currency,
                payment.email,
                json.dumps(payment.shipped_items),
                order_id,
            ),
        )
    elif transition.target is Status.AWAITING_PAYMENT:
        connection.execute(
            "UPDATE orders SET status = 'awaiting_payment',"
            "     session_id = COALESCE(?, session_id)"
            " WHERE order_id = ?",
            (session_id, order_id),
        )
    else:
        # payment_failed and cancelled both give the stock back.
        connection.execute(
            "UPDATE orders SET status = ?, released = 1 WHERE order_id = ?",
            (transition.target.value, order_id),
        )


def _order_from_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    shipped_items = row["shipped_items"]
    return {
        "order_id": row["order_id"],
        "status": _parse_status(row["status"]).value,
        "fulfilment_count": row["fulfilment_count"],
        "session_id": row["session_id"],
        "payment_intent": row["payment_intent"],
        "amount_total": row["amount_total"],
        "currency": row["currency"],
        # Whether the stock reservation was given back.
        "released": bool(row["released"]),
        "email": row["email"],
        # The items from the checkout request.
        "items": json.loads(row["items"]),
        # The line items listed from Stripe when the order was fulfilled.
        "shipped_items": json.loads(shipped_items) if shipped_items is not None else None,
    }


def _parse_status(word: str) -> Status:
    try:
        return Status(word)
    except ValueError:
        raise StoreError(f"invalid order status {word!r} in the database") from None
