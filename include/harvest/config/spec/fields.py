"""The ``detail:`` section: the item's fields (selectors, kinds, checks, imputation) and its key."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from harvest.config.selectors import check_selector, describe
from harvest.config.spec.base import _Model
from harvest.fields import MANY_KIND, UnknownFieldKind, field_kind


class FieldChecks(_Model):
    """Expectations on one parsed field. Record-level checks (range, set, format) quarantine the
    records that break them; ``max_null_rate`` is checked on the whole partition."""

    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(None, description="allowed values (after parsing)")
    regex: str | None = Field(None, description="format the parsed text must match")
    column: str | None = Field(
        None,
        description="the column min/max apply to: the field's own (default) or one of its "
        "extra columns (price_eur, salary_max)",
    )
    max_null_rate: float | None = Field(None, ge=0, le=1)
    min_coverage: float | None = Field(
        None, ge=0, le=1, description="least share of a partition's records with a value"
    )
    severity: Literal["critical", "warning"] = Field(
        "warning", description="critical: a partition that breaks max_null_rate fails the task"
    )

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from exc
        return value


class FieldSpec(_Model):
    """How to extract one field of an item, what to expect of it, and how to fill it in when it
    is missing.

    The text comes from the item page (``from: page``, the default), from the item's card on a
    list page (``from: card``) or from the page URL (``from: url``, with ``regex``). A selector
    (``css`` or ``xpath``) that selects an element gives the element's whole text,
    whitespace-normalised; ``::text`` / ``text()`` give text nodes and ``::attr(name)`` /
    ``@name`` attributes; an XPath number or string (``count(//li)``, ``string-length(...)``)
    its value. ``jmespath`` reads JSON: a JSON page or card, the text ``css``/``xpath`` selected
    (a ``<script>``), or the page's ``metadata`` (``json-ld``, ``microdata``: objects keyed by
    ``@type``). ``label`` reads the value beside a label (``<th>UPC</th><td>``,
    ``<dt>..</dt><dd>``, ``<strong>Published:</strong> ...``) and ``header`` the cell of a table
    row (a card) under that column heading. Then ``regex`` keeps its first capture group that
    matched (the whole match without a group), ``map`` replaces a string by its value, and
    ``default`` stands in for nothing at all. ``many: true`` keeps every match (a JSON array
    column). A ``url`` field's value is made absolute against the page's URL.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    css: str | None = None
    xpath: str | None = None
    jmespath: str | None = Field(None, description="JMESPath into the JSON selected (or the page)")
    metadata: Literal["json-ld", "microdata"] | None = Field(
        None, description="read the page's embedded metadata (then jmespath: 'Type.field')"
    )
    label: str | None = Field(None, description="the value shown beside this label")
    header: str | None = Field(None, description="from: card on a table row: this column's cell")
    from_: Literal["page", "card", "url"] = Field("page", alias="from")
    regex: str | None = Field(None, description="keep the first capture group that matched")
    map: dict[str, str | int | float | bool] | None = Field(
        None, description="extracted string -> value (a string not in the map is kept)"
    )
    default: str | int | float | bool | None = Field(
        None, description="the value when the selector matches nothing"
    )
    many: bool = Field(False, description="keep every match, stored as a JSON array")
    kind: str = Field(
        "text",
        description="the field kind (include/harvest/fields/): how the value is parsed, "
        "typed, cleaned, compared and used; `parser` is its old name, still accepted",
    )
    required: bool = False
    on_error: Literal["null", "quarantine"] | None = Field(
        None,
        description="a value that does not parse: null (a warning per field) or quarantine "
        "the record; default null for optional fields, quarantine for required ones",
    )
    formats: list[str] | None = Field(None, description="date: the only strftime formats accepted")
    languages: list[str] | None = Field(None, description="date: ISO 639-1 languages to read")
    date_order: Literal["DMY", "MDY", "YMD"] | None = Field(
        None,
        description="date: how the source writes all-numeric dates (12.03.26 is 12 March 2026 "
        "with DMY); without it a date that reads more than one way is refused",
    )
    convert_to: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="price: also store the amount in this ISO 4217 currency as <field>_<code>",
    )
    checks: FieldChecks = FieldChecks()
    impute: Literal["none", "median", "mode", "constant"] = "none"
    impute_value: str | float | int | bool | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> FieldSpec:
        given = [
            k
            for k in ("css", "xpath", "jmespath", "metadata", "label", "header")
            if getattr(self, k) is not None
        ]
        if self.from_ == "url":
            if given:
                raise ValueError(
                    f"'from: url' takes a 'regex', not {' or '.join(repr(k) for k in given)}"
                )
            if self.regex is None:
                raise ValueError("'from: url' needs a 'regex' (with a capture group)")
        elif self.label is not None or self.header is not None:
            if len(given) > 1:
                raise ValueError(
                    f"'label' and 'header' stand alone: give one of {', '.join(given)}"
                )
            if self.header is not None and self.from_ != "card":
                raise ValueError("'header' reads a table row: it needs 'from: card'")
        else:
            check_selector(self.css, self.xpath, self.metadata, self.jmespath)
        return self

    @model_validator(mode="after")
    def _constant_has_value(self) -> FieldSpec:
        if self.impute == "constant" and self.impute_value is None:
            raise ValueError("impute: constant needs impute_value")
        if self.required and self.impute != "none":
            raise ValueError("a required field cannot be imputed")
        if self.many and self.impute != "none":
            raise ValueError("a 'many: true' field cannot be imputed")
        if self.many and any(
            v is not None for v in (self.checks.min, self.checks.max, self.checks.values)
        ):
            raise ValueError("a 'many: true' field takes only checks.max_null_rate and regex")
        return self

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        return FieldChecks._valid_regex(value)

    @model_validator(mode="before")
    @classmethod
    def _parser_is_kind(cls, data: Any) -> Any:
        """``parser:`` is the old name of ``kind:``: either is accepted, both only if equal."""
        if not isinstance(data, dict) or "parser" not in data:
            return data
        data = dict(data)
        parser = data.pop("parser")
        if "kind" in data and data["kind"] != parser:
            raise ValueError(
                f"'kind: {data['kind']}' and 'parser: {parser}' disagree; give only 'kind' "
                "('parser' is its old name)"
            )
        data["kind"] = parser
        return data

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        try:
            field_kind(value)
        except UnknownFieldKind as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _options_fit_the_kind(self) -> FieldSpec:
        field_kind(self.kind).check_options(self.kind_options)  # ValueError names the option
        return self

    @property
    def kind_options(self) -> dict[str, Any]:
        """The options this field sets for its kind (``formats``, ``languages``, ``date_order``,
        ``convert_to``)."""
        options = {
            "formats": self.formats,
            "languages": self.languages,
            "date_order": self.date_order,
            "convert_to": self.convert_to,
        }
        return {k: v for k, v in options.items() if v is not None}

    @property
    def error_policy(self) -> Literal["null", "quarantine"]:
        """What a value that does not parse does: ``on_error``, else by ``required``."""
        if self.on_error is not None:
            return self.on_error
        return "quarantine" if self.required else "null"

    def columns(self, name: str) -> dict[str, str]:
        """The columns this field fills, named ``name``, and their kinds (see
        :meth:`harvest.fields.FieldKind.columns`)."""
        if self.many:  # every match, as one JSON array column
            return field_kind(MANY_KIND).columns(name)
        return field_kind(self.kind).columns(name, self.kind_options)

    def converted_column(self, name: str) -> str | None:
        """``<name>_<currency>`` when the field asks for ``convert_to``, else ``None``."""
        if self.convert_to is None:
            return None
        return f"{name}_{self.convert_to.lower()}"

    @property
    def selector(self) -> str:
        """The selector as written, for messages: ``css: ...``, ``xpath: ...``, ``label: ...``,
        ``css: ..., then jmespath: ...`` or ``url``."""
        if self.label is not None:
            return f"label: {self.label}"
        if self.header is not None:
            return f"header: {self.header}"
        if self.from_ == "url":
            return "url"
        return describe(self.css, self.xpath, self.metadata, self.jmespath)

    @property
    def stored_kind(self) -> str:
        """The kind of the field's own column: the field's ``kind``, or ``json`` (an array of
        values of that kind) for ``many: true``."""
        return MANY_KIND if self.many else self.kind


class DetailSpec(_Model):
    """The item: its fields (from its page, its card or its URL) and which one is the natural
    key."""

    key: str
    fields: dict[str, FieldSpec]

    @model_validator(mode="after")
    def _key_is_a_field(self) -> DetailSpec:
        if not self.fields:
            raise ValueError("at least one field is needed")
        if self.key not in self.fields:
            raise ValueError(
                f"key {self.key!r} is not one of the fields ({', '.join(self.fields)})"
            )
        for name, field_spec in self.fields.items():
            column = field_spec.checks.column
            columns = field_spec.columns(name)
            if column is not None and column not in columns:
                raise ValueError(
                    f"fields.{name}.checks.column {column!r} is not a column of the field "
                    f"(its columns: {', '.join(columns)})"
                )
        if self.fields[self.key].many:
            raise ValueError(f"key {self.key!r} cannot be 'many: true'")
        return self
