"""Forms a spider posts: the login before the crawl (``login:``) and a level's search or filter
form (``levels[].form``), both with Scrapy's ``FormRequest.from_response``, which keeps the
page's own fields (hidden view state, CSRF token, preselected options) and sets only ours.

The login's request and post are not pages of the source (no raw document, never in the HTTP
cache); the session cookie it gets is reused by every page of the crawl (Scrapy's cookie jar).
A login that fails ends the crawl with :class:`~harvest.config.credentials.LoginFailed`'s message in
the stats (``harvest/crawl_error``): the crawl fails naming the source, the URL and where the
credentials came from, instead of crawling the login page as an empty site.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import FormRequest, Response, TextResponse
from twisted.python.failure import Failure

from harvest.config.credentials import Credentials, LoginFailed, credentials
from harvest.config.spec import FormSpec, SourceSpec
from harvest.crawler.outcomes import LOGIN_FORM_SELECTOR

CRAWL_ERROR_STAT = "harvest/crawl_error"  # why the crawl could not go on (crawl.crawl_failed)
LOGIN_FAILED = "login_failed"  # the finish reason of a crawl whose login failed
FORM_META = "harvest_form"  # request.meta: the data posted to get this level page


def form_key(url: str, data: dict[str, str]) -> str:
    """The URL a posted page is stored under: the form's page and what the spec set
    (``…/search#form:category=tools``), stable from run to run (hidden tokens left out)."""
    return f"{url}#form:{urlencode(sorted(data.items()))}"


def form_request(
    response: TextResponse, form: FormSpec, data: dict[str, str], **kwargs: Any
) -> FormRequest:
    """The post of ``form`` on ``response`` with ``data`` set and the page's fields kept;
    ``ValueError`` (Scrapy's) when the page has no such form."""
    return FormRequest.from_response(
        response, formcss=form.css, formdata=data, dont_filter=True, **kwargs
    )


class LoginSteps:
    """Mixin of :class:`~harvest.crawler.spiders.base.HarvestSpider`: log in, then start."""

    spec: SourceSpec
    base_url: str
    crawler: Any
    logger: Any
    _credentials: Credentials | None = None

    def first_requests(self) -> Iterator[Any]:
        raise NotImplementedError

    def login_request(self) -> scrapy.Request:
        """The request of the login page (``login.url``)."""
        login = self.spec.login
        assert login is not None  # noqa: S101 - only called for a spec with a login
        url = login.url.format(base_url=self.base_url)
        return scrapy.Request(
            url,
            callback=self.login_form,
            errback=self.login_errback,
            meta={"dont_cache": True},
            dont_filter=True,
        )

    def login_form(self, response: Response) -> Iterator[Any]:
        """Post the login form with the credentials, the page's hidden fields kept."""
        login = self.spec.login
        assert login is not None  # noqa: S101
        try:
            self._credentials = credentials(login, self.spec.name)
        except LoginFailed as exc:
            self.login_failed(str(exc))
        assert self._credentials is not None  # noqa: S101
        if not isinstance(response, TextResponse):
            self.login_failed(f"{response.url} is not a page with a form", response.url)
        assert isinstance(response, TextResponse)  # noqa: S101
        formxpath = None if login.form else "//form[.//input[@type='password']]"
        try:
            yield FormRequest.from_response(
                response,
                formcss=login.form,
                formxpath=formxpath,
                formdata={
                    login.username_field: self._credentials.username,
                    login.password_field: self._credentials.password,
                },
                callback=self.logged_in,
                errback=self.login_errback,
                meta={"dont_cache": True},
                dont_filter=True,
            )
        except ValueError as exc:  # no such form on the page
            self.login_failed(f"no login form ({login.form or 'a form with a password field'}) "
                              f"on {response.url}: {exc}", response.url)  # fmt: skip

    def logged_in(self, response: Response) -> Iterator[Any]:
        """Check the answer to the login; go on with the crawl's first requests."""
        login = self.spec.login
        assert login is not None  # noqa: S101
        check = login.failed_when or LOGIN_FORM_SELECTOR
        if isinstance(response, TextResponse) and response.css(check):
            self.login_failed(
                f"the page after the login ({response.url}) still shows {check!r}: the site "
                "refused the credentials",
                response.url,
            )
        self.logger.info(
            "logged in to %s as %s",
            response.url,
            self._credentials.username if self._credentials else "?",
        )
        self.crawler.stats.set_value("harvest/logged_in", True)
        yield from self.first_requests()

    def login_errback(self, failure: Failure) -> None:
        response = getattr(failure.value, "response", None)
        why = (
            f"the site answered HTTP {response.status}"
            if isinstance(response, Response)
            else f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
        )
        self.login_failed(why, failure.request.url)  # type: ignore[attr-defined]

    def login_failed(self, why: str, url: str | None = None) -> None:
        """End the crawl: its login failed (said in the log and ``harvest/crawl_error``)."""
        login = self.spec.login
        assert login is not None  # noqa: S101
        where = self._credentials.where if self._credentials else None
        message = why if url is None else (
            f"login to source {self.spec.name!r} at {login.url.format(base_url=self.base_url)} "
            f"failed: {why}" + (f" (credentials from {where})" if where else "")
        )  # fmt: skip
        self.logger.error("%s", message)
        self.crawler.stats.set_value(CRAWL_ERROR_STAT, message)
        raise CloseSpider(LOGIN_FAILED)
