"""Settings read from the environment, which the fakestripe harness fills in
when it starts the shop.

Like ``bugs``, this module needs only the standard library.
"""

import dataclasses
import os
from collections.abc import Callable, Mapping

from .bugs import Bug


class ConfigError(Exception):
    """A missing or invalid environment variable."""


class UnknownBugError(ConfigError):
    """``SHOP_BUG`` names no known switch."""

    def __init__(self, name: str):
        super().__init__(
            f"unknown SHOP_BUG {name!r} (run with --list-bugs to see the names)"
        )
        self.name = name


@dataclasses.dataclass(frozen=True)
class Config:
    # The port to listen on, on 127.0.0.1 (PORT).
    port: int
    # The shop's own address for success and cancel URLs (APP_BASE_URL,
    # default http://127.0.0.1:{PORT}), without a trailing slash.
    app_base_url: str
    # The Stripe API to call (STRIPE_API_BASE).
    stripe_api_base: str
    stripe_secret_key: str
    # The signing secret of the webhook endpoint (STRIPE_WEBHOOK_SECRET).
    webhook_secret: str
    # The SQLite file (SHOP_DB). None means an in-memory database that lives
    # as long as the process.
    database: str | None = None
    # The bug switch named by SHOP_BUG, if any.
    bug: Bug | None = None
    # How many times the SDK retries a failed call by itself
    # (SHOP_SDK_RETRIES, default 0; the SDK's own default is 2).
    sdk_retries: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Build the settings from ``environ`` (default ``os.environ``).

        Empty values count as unset. Raises ConfigError naming the variable.
        """
        source = os.environ if environ is None else environ
        return cls.from_lookup(source.get)

    @classmethod
    def from_lookup(cls, lookup: Callable[[str], str | None]) -> "Config":
        def get(name: str) -> str | None:
            value = lookup(name)
            return value if value else None

        def require(name: str) -> str:
            value = get(name)
            if value is None:
                raise ConfigError(f"missing environment variable {name}")
            return value

        # The bug switch is checked first, so a misspelt name is reported
        # even when other variables are missing.
        bug = None
        bug_name = get("SHOP_BUG")
        if bug_name is not None:
            bug = Bug.from_name(bug_name)
            if bug is None:
                raise UnknownBugError(bug_name)

        port_text = require("PORT")
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            raise ConfigError(
                f"invalid PORT {port_text!r}: expected a number from 0 to 65535"
            )
        port = int(port_text)

        app_base_url = (get("APP_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/")

        retries_text = get("SHOP_SDK_RETRIES") or "0"
        if not retries_text.isascii() or not retries_text.isdigit() or int(retries_text) > 5:
            raise ConfigError(
                f"invalid SHOP_SDK_RETRIES {retries_text!r}: expected a number from 0 to 5"
            )

        return cls(
            port=port,
            app_base_url=app_base_url,
            stripe_api_base=require("STRIPE_API_BASE"),
            stripe_secret_key=require("STRIPE_SECRET_KEY"),
            webhook_secret=require("STRIPE_WEBHOOK_SECRET"),
            database=get("SHOP_DB"),
            bug=bug,
            sdk_retries=int(retries_text),
        )
