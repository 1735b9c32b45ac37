"""The Flask application: shared state, JSON errors, and the routes that
belong to no flow (health, order read, reset). Each flow has its own
blueprint: ``checkout``, ``redirect`` and ``webhook``."""

import dataclasses
import json
import logging
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from .bugs import Bug
from .config import Config
from .store import Store
from .stripe_api import StripeGateway, build_client

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Shop:
    """Everything a handler needs, stored in ``app.extensions["shop"]``."""

    config: Config
    store: Store
    stripe: StripeGateway

    def bug_is(self, bug: Bug) -> bool:
        """Check whether ``bug`` is the switch turned on by SHOP_BUG."""
        return self.config.bug is bug


class HttpError(Exception):
    """A failed request, rendered as ``{"error": message}`` with ``status``."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(HttpError):
    status = 400


class NotFound(HttpError):
    status = 404


class Conflict(HttpError):
    status = 409


class BadGateway(HttpError):
    """Stripe failed or rejected a call that the request depends on."""

    status = 502


def current_shop() -> Shop:
    return flask.current_app.extensions["shop"]


def quote(value: str) -> str:
    """Quote an id for a message, with JSON escapes for odd characters."""
    return json.dumps(value, ensure_ascii=False)


def create_app(
    config: Config, store: Store | None = None, stripe: StripeGateway | None = None
) -> flask.Flask:
    """Build the application. Tests pass their own store and gateway."""
    from . import checkout, redirect, webhook

    if store is None:
        store = Store(config.database)
    if stripe is None:
        client = build_client(
            config, send_idempotency_keys=config.bug is not Bug.NO_IDEMPOTENCY_KEY
        )
        stripe = StripeGateway(client)

    app = flask.Flask(__name__)
    app.extensions["shop"] = Shop(config=config, store=store, stripe=stripe)
    app.register_blueprint(checkout.blueprint)
    app.register_blueprint(redirect.blueprint)
    app.register_blueprint(webhook.blueprint)

    app.add_url_rule("/healthz", view_func=healthz, methods=["GET"])
    app.add_url_rule("/orders/<order_id>", view_func=get_order, methods=["GET"])
    app.add_url_rule("/_reset", view_func=reset, methods=["POST"])

    app.register_error_handler(HttpError, _render_http_error)
    app.register_error_handler(HTTPException, _render_werkzeug_error)
    app.register_error_handler(Exception, _render_internal_error)
    return app


def healthz() -> flask.Response:
    return flask.Response("ok", mimetype="text/plain")


def get_order(order_id: str) -> flask.Response:
    found = current_shop().store.find_order(order_id)
    if found is None:
        raise NotFound(f"order {quote(order_id)} not found")
    return flask.jsonify(found)


def reset() -> flask.Response:
    orders, events = current_shop().store.reset()
    log.info("deleted all orders (%d) and processed events (%d)", orders, events)
    return flask.jsonify({"deleted_orders": orders, "deleted_events": events})


def error_response(status: int, message: str) -> tuple[flask.Response, int]:
    return flask.jsonify({"error": message}), status


def _render_http_error(error: HttpError) -> tuple[flask.Response, int]:
    if isinstance(error, BadGateway):
        log.error("stripe call failed: %s", error.message)
    return error_response(error.status, error.message)


def _render_werkzeug_error(error: HTTPException) -> Any:
    # Unknown paths and wrong methods keep their status, with a JSON body.
    return error_response(error.code or 500, error.description or error.name)


def _render_internal_error(error: Exception) -> tuple[flask.Response, int]:
    # For a webhook, the 500 status also makes Stripe deliver the event
    # again later.
    log.error("request failed: %s", error, exc_info=error)
    return error_response(500, str(error) or type(error).__name__)
