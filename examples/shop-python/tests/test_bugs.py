"""Each bug switch makes its mistake, and the command line lists them."""

import json
import os
import pathlib
import subprocess
import sys

from conftest import sign

from shop.bugs import Bug, list_names

APP = pathlib.Path(__file__).resolve().parent.parent / "app.py"

REQUIRED = [
    "trust-redirect",
    "fulfil-unpaid",
    "ignore-async",
    "pi-metadata",
    "no-dedup",
    "mark-before-commit",
    "last-event-wins",
    "no-signature-check",
    "no-idempotency-key",
    "expired-as-failed",
    "cached-session",
    "encoded-session-template",
]


def run_app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "SHOP_BUG"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(APP), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_list_bugs_one_per_line():
    result = run_app("--list-bugs")
    assert result.returncode == 0
    names = result.stdout.splitlines()
    assert names == [bug.value for bug in Bug]
    for name in REQUIRED:
        assert name in names


def test_unknown_bug_exits_with_names():
    result = run_app(env={"SHOP_BUG": "no-such-bug"})
    assert result.returncode == 2
    assert "unknown SHOP_BUG 'no-such-bug'" in result.stderr
    assert result.stderr.endswith(list_names())


def test_names_round_trip():
    for bug in Bug:
        assert Bug.from_name(bug.value) is bug
        assert bug.description
    assert Bug.from_name("trust-redirect,no-dedup") is None


def test_trust_redirect_fulfils_unpaid(shop_with_bug):
    shop = shop_with_bug("trust-redirect")
    session_id = shop.start()
    response = shop.client.get(f"/success?session_id={session_id}")
    assert response.get_json()["status"] == "paid"


def test_fulfil_unpaid_on_completion(shop_with_bug):
    shop = shop_with_bug("fulfil-unpaid")
    session_id = shop.start()
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id, "unpaid"))
    assert shop.order()["status"] == "paid"


def test_ignore_async_never_settles(shop_with_bug):
    shop = shop_with_bug("ignore-async")
    session_id = shop.start()
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id, "unpaid"))
    shop.deliver("checkout.session.async_payment_succeeded", shop.stub.pay(session_id))
    assert shop.order()["status"] == "awaiting_payment"


def test_pi_metadata_never_fulfils(shop_with_bug):
    shop = shop_with_bug("pi-metadata")
    session_id = shop.start()
    form = dict(shop.stub.creates()[0][3])
    assert "payment_intent_data[metadata][order_id]" not in form
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    intent = {"id": "pi_1", "object": "payment_intent", "amount_received": 3000,
              "currency": "eur", "metadata": {}}
    response = shop.deliver("payment_intent.succeeded", intent)
    assert response.get_json()["result"] == "ignored"
    assert shop.order()["status"] == "pending"


def test_no_dedup_fulfils_each_delivery(shop_with_bug):
    shop = shop_with_bug("no-dedup")
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id), "evt_1")
    shop.post_webhook(body)
    shop.post_webhook(body)
    assert shop.order()["fulfilment_count"] == 2


def test_mark_before_commit_loses_event(shop_with_bug):
    shop = shop_with_bug("mark-before-commit")
    session_id = shop.start()
    shop.stub.line_items_fail = True
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id), "evt_1")
    assert shop.post_webhook(body).status_code == 500
    shop.stub.line_items_fail = False
    retried = shop.post_webhook(body)
    assert retried.get_json()["result"] == "duplicate"
    assert shop.order()["status"] == "pending"


def test_last_event_wins_downgrades(shop_with_bug):
    shop = shop_with_bug("last-event-wins")
    session_id = shop.start()
    shop.deliver("checkout.session.async_payment_succeeded", shop.stub.pay(session_id))
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id, "unpaid"))
    assert shop.order()["status"] == "awaiting_payment"


def test_no_signature_check_accepts_forgery(shop_with_bug):
    shop = shop_with_bug("no-signature-check")
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id))
    response = shop.post_webhook(body, signature="t=1,v1=forged")
    assert response.status_code == 200
    assert shop.order()["status"] == "paid"


def test_no_idempotency_key_duplicates_sessions(shop_with_bug):
    shop = shop_with_bug("no-idempotency-key")
    shop.stub.lost_responses = 1
    assert shop.checkout().status_code == 200
    creates = shop.stub.creates()
    assert len(creates) == 2
    for request in creates:
        assert "idempotency-key" not in {name.lower() for name in request[2]}
    assert len(shop.stub.sessions) == 2


def test_expired_as_failed_overwrites_paid(shop_with_bug):
    shop = shop_with_bug("expired-as-failed")
    session_id = shop.start()
    session = shop.stub.pay(session_id)
    shop.deliver("checkout.session.completed", session)
    shop.deliver("checkout.session.expired", dict(session, status="expired"))
    assert shop.order()["status"] == "payment_failed"


def test_cached_session_never_sees_payment(shop_with_bug):
    shop = shop_with_bug("cached-session")
    session_id = shop.start()
    shop.stub.pay(session_id)
    response = shop.client.get(f"/success?session_id={session_id}")
    assert response.get_json()["status"] == "pending"
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert shop.order()["status"] == "awaiting_payment"


def test_encoded_template_breaks_redirect(shop_with_bug):
    shop = shop_with_bug("encoded-session-template")
    shop.start()
    form = dict(shop.stub.creates()[0][3])
    assert form["success_url"].endswith("session_id=%7BCHECKOUT_SESSION_ID%7D")


def test_reserialise_body_rejects_pretty_json(shop_with_bug):
    shop = shop_with_bug("reserialise-body")
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id))
    assert shop.post_webhook(body).status_code == 400


def test_redirect_fulfils_too_counts_twice(shop_with_bug):
    shop = shop_with_bug("redirect-fulfils-too")
    session_id = shop.start()
    session = shop.stub.pay(session_id)
    shop.client.get(f"/success?session_id={session_id}")
    shop.deliver("checkout.session.completed", session)
    assert shop.order()["fulfilment_count"] == 2


def test_unhandled_event_gets_500(shop_with_bug):
    shop = shop_with_bug("unhandled-event-500")
    response = shop.deliver("customer.created", {"id": "cus_1"})
    assert response.status_code == 500


def test_swallow_errors_acknowledges_failure(shop_with_bug):
    shop = shop_with_bug("swallow-errors")
    session_id = shop.start()
    shop.stub.line_items_fail = True
    response = shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert response.status_code == 200
    assert response.get_json()["result"] == "failed"
    assert shop.order()["status"] == "pending"


def test_refetch_status_trusts_stale_read(shop_with_bug):
    shop = shop_with_bug("refetch-status")
    session_id = shop.start()
    shop.stub.stale_payment_status = "unpaid"
    shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert shop.order()["status"] == "awaiting_payment"


def test_line_items_from_event_fails(shop_with_bug):
    shop = shop_with_bug("line-items-from-event")
    session_id = shop.start()
    response = shop.deliver("checkout.session.completed", shop.stub.pay(session_id))
    assert response.status_code == 500
    assert shop.order()["status"] == "pending"


def test_correct_shop_rejects_forgery(shop):
    # The counterpart of the no-signature-check test, with the same body.
    session_id = shop.start()
    body = shop.event("checkout.session.completed", shop.stub.pay(session_id))
    assert shop.post_webhook(body, signature="t=1,v1=forged").status_code == 400
    assert shop.post_webhook(body, signature=sign(body)).status_code == 200
    assert json.loads(body)["type"] == "checkout.session.completed"
