"""A spec's login credentials: from an Airflow Connection or the environment, never the spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harvest.config.credentials import LoginFailed, connection_json, credentials
from harvest.config.spec import LoginSpec

BY_CONN = LoginSpec(url="{base_url}/login", conn_id="shop_login")
BY_ENV = LoginSpec(url="{base_url}/login", env="SHOP")


@pytest.mark.parametrize(
    "value",
    [
        "http://ada:p%40ss%20word@shop.example",  # Airflow's URI form, escaped
        connection_json("ada", "p@ss word"),  # Airflow's JSON form (what the scrape task sends)
    ],
)
def test_a_connection_in_airflows_environment_forms(value: str) -> None:
    got = credentials(BY_CONN, "shop", {"AIRFLOW_CONN_SHOP_LOGIN": value})
    assert (got.username, got.password) == ("ada", "p@ss word")
    assert got.where == "the Airflow Connection 'shop_login'"
    assert "p@ss" not in repr(got)  # never the password in a log


def test_environment_variables() -> None:
    got = credentials(BY_ENV, "shop", {"SHOP_USERNAME": "ada", "SHOP_PASSWORD": "pw"})
    assert (got.username, got.password) == ("ada", "pw")


def test_missing_credentials_name_what_to_set() -> None:
    with pytest.raises(LoginFailed, match=r"Connection 'shop_login'.*AIRFLOW_CONN_SHOP_LOGIN"):
        credentials(BY_CONN, "shop", {})
    with pytest.raises(LoginFailed, match=r"SHOP_USERNAME, SHOP_PASSWORD"):
        credentials(BY_ENV, "shop", {"SHOP_USERNAME": "ada"})


@pytest.mark.parametrize("key", ["password", "username"])
def test_a_spec_with_credentials_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="credentials never go in a spec"):
        LoginSpec.model_validate({"url": "/login", "env": "SHOP", key: "x"})


def test_one_source_of_credentials() -> None:
    with pytest.raises(ValidationError, match="give 'conn_id'"):
        LoginSpec(url="/login")
    with pytest.raises(ValidationError, match="give 'conn_id'"):
        LoginSpec(url="/login", conn_id="a", env="A")
