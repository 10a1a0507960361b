"""Forms a crawl posts (``levels[].form``: a search or filter form) and the login before a crawl
(``login:``). Credentials never live in a spec: they come from an Airflow Connection or the
environment, read by the crawl when it logs in (:mod:`harvest.config.credentials`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from harvest.config.selectors import check_css
from harvest.config.spec.base import _Model

CREDENTIAL_KEYS = ("username", "password", "user", "login", "secret", "token", "credentials")
ENV_PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def _nothing_set() -> list[dict[str, str]]:
    return [{}]  # one post of the form as the page fills it


class FormSpec(_Model):
    """Post a form of the level's page (a search or filter form) and read the answer as the
    level's page: Scrapy's ``FormRequest.from_response`` keeps the page's own fields (hidden
    view state, CSRF token, preselected options) and sets those in ``data``; one post per
    mapping when ``data`` is a list."""

    css: str | None = Field(None, description="CSS selector of the form (default: the first)")
    data: list[dict[str, str]] = Field(
        default_factory=_nothing_set, description="the fields to set; a list: one post each"
    )

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("css")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_css(value)


class LoginSpec(_Model):
    """Log in before the crawl: fetch ``url``, fill its login form (``form``, default the form
    with a password field) with the credentials of the Airflow Connection ``conn_id`` (its login
    and password) or of the environment (``<env>_USERNAME``, ``<env>_PASSWORD``), post it with
    the page's hidden fields kept, and crawl with that session. A login that fails (an error
    status, the login form again, ``failed_when`` on the page) ends the crawl with an error."""

    url: str = Field(description="the page with the login form; may use {base_url}")
    form: str | None = Field(None, description="CSS selector of the login form")
    username_field: str = Field("username", description="the form field of the user name")
    password_field: str = Field("password", description="the form field of the password")
    conn_id: str | None = Field(None, description="Airflow Connection with login and password")
    env: str | None = Field(None, description="prefix of the <ENV>_USERNAME/_PASSWORD variables")
    failed_when: str | None = Field(
        None,
        description="CSS selector on the page after a failed login (default: a password field)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_credentials_here(cls, value: Any) -> Any:
        if isinstance(value, dict):
            found = sorted(k for k in value if str(k).lower() in CREDENTIAL_KEYS)
            if found:
                raise ValueError(
                    f"{', '.join(found)}: credentials never go in a spec; name an Airflow "
                    "Connection (conn_id: ...) or an environment prefix (env: SHOP gives "
                    "SHOP_USERNAME and SHOP_PASSWORD)"
                )
        return value

    @model_validator(mode="after")
    def _one_source_of_credentials(self) -> LoginSpec:
        if (self.conn_id is None) == (self.env is None):
            raise ValueError("give 'conn_id' (an Airflow Connection) or 'env', one of them")
        if self.env is not None and not ENV_PREFIX_RE.match(self.env):
            raise ValueError(f"env {self.env!r}: an upper-case variable prefix, such as SHOP")
        return self

    @field_validator("form", "failed_when")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_css(value)
