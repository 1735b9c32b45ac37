"""Settings from the environment: defaults and rejected values."""

import pytest

from shop.config import Config, ConfigError

REQUIRED = {
    "PORT": "4242",
    "STRIPE_API_BASE": "http://127.0.0.1:12111",
    "STRIPE_SECRET_KEY": "sk_test_config",
    "STRIPE_WEBHOOK_SECRET": "whsec_config",
}


def test_sdk_retries_default_off():
    assert Config.from_env(REQUIRED).sdk_retries == 0


def test_sdk_retries_read():
    assert Config.from_env({**REQUIRED, "SHOP_SDK_RETRIES": "2"}).sdk_retries == 2


@pytest.mark.parametrize("value", ["6", "-1", "two", "２"])
def test_sdk_retries_invalid(value):
    with pytest.raises(ConfigError, match="SHOP_SDK_RETRIES"):
        Config.from_env({**REQUIRED, "SHOP_SDK_RETRIES": value})
