"""Serve the Python reference shop on 127.0.0.1:$PORT.

Usage: python app.py [--list-bugs | --help]. ``run.sh`` creates the venv and
starts this file, and the fakestripe harness starts ``run.sh``.
"""

import logging
import os
import signal
import sys

from shop import bugs
from shop.config import Config, ConfigError, UnknownBugError

USAGE = """\
usage: app.py [--list-bugs]

Serves the reference shop on 127.0.0.1:$PORT.

environment:
  PORT                   port to listen on (required)
  APP_BASE_URL           base of success and cancel URLs (default http://127.0.0.1:$PORT)
  STRIPE_API_BASE        Stripe API base URL (required)
  STRIPE_SECRET_KEY      Stripe secret key (required)
  STRIPE_WEBHOOK_SECRET  webhook signing secret (required)
  SHOP_DB                SQLite file (default: in memory, lost on exit)
  SHOP_BUG               one bug switch to turn on (see --list-bugs)
  SHOP_LOG_LEVEL         log level: DEBUG, INFO, WARNING or ERROR (default INFO)
  SHOP_THREADS           request threads in waitress (default 8)
  SHOP_SDK_RETRIES       retries of a failed call by the SDK itself, 0 to 5 (default 0)
"""

log = logging.getLogger("shop")


def main(argv: list[str]) -> int:
    if argv == ["--list-bugs"]:
        sys.stdout.write(bugs.list_names())
        return 0
    if argv in (["--help"], ["-h"]):
        sys.stdout.write(USAGE)
        return 0
    if argv:
        sys.stderr.write(f"error: unexpected arguments {argv}\n\n{USAGE}")
        return 2

    try:
        config = Config.from_env()
        threads = _threads_from_env()
        log_level = _log_level_from_env()
    except UnknownBugError as error:
        sys.stderr.write(
            f"error: unknown SHOP_BUG {error.name!r}. Known names:\n{bugs.list_names()}"
        )
        return 2
    except ConfigError as error:
        sys.stderr.write(f"error: {error}\n\n{USAGE}")
        return 2

    _configure_logging(log_level)
    # Flask, waitress and stripe load only after the arguments are checked,
    # so --list-bugs and configuration errors work without the venv.
    import waitress

    from shop.web import create_app

    if config.bug is not None:
        log.warning("bug switch on: %s (%s)", config.bug.value, config.bug.description)
    app = create_app(config)

    # waitress stops on KeyboardInterrupt. SIGTERM, which the harness sends
    # to stop the shop, gets the same treatment so the stop is logged.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    log.info("shop listening on 127.0.0.1:%d", config.port)
    try:
        waitress.serve(app, host="127.0.0.1", port=config.port, threads=threads)
    except KeyboardInterrupt:
        pass
    log.info("shop stopped")
    return 0


def _threads_from_env() -> int:
    text = os.environ.get("SHOP_THREADS") or "8"
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"invalid SHOP_THREADS {text!r}: expected a whole number of at least 1")
    return int(text)


def _log_level_from_env() -> int:
    name = (os.environ.get("SHOP_LOG_LEVEL") or "INFO").upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"invalid SHOP_LOG_LEVEL {name!r}: expected DEBUG, INFO, WARNING or ERROR"
        )
    return logging.getLevelName(name)


def _configure_logging(level: int) -> None:
    # Logs go to stderr, so captured stdout stays free for --list-bugs.
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
