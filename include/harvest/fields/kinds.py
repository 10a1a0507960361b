"""What a field kind is: :class:`FieldKind` (its parser, column types and behaviour on every
floor), the extra columns it may fill (:class:`ExtraColumn`), and the behaviours it chooses from
(:class:`FeatureRole`, :class:`Normalisation`, :class:`Comparison`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

Parser = Callable[[str | None], object]
"""A string (or ``None``) to a typed value, or a :class:`harvest.parsers.Unparseable`; never raises."""

NUMERIC_DTYPES = frozenset({"Int64", "Float64"})
"""The pandas dtypes of number kinds (whole and decimal)."""


class FeatureRole(StrEnum):
    """What the model's feature pipeline (:mod:`harvest.features`) makes of a field of a kind
    when the spec's ``features:`` block does not say."""

    NUMERIC = "numeric"
    """A number read as it is: imputed with the median, outliers capped."""
    FLAG = "flag"
    """A yes/no read as 0/1: imputed, never capped."""
    CATEGORICAL = "categorical"
    """Categories, encoded (rare ones grouped)."""
    DATE = "date"
    """A date, read as its parts (year, month, day of week...)."""
    NONE = "none"
    """Not a feature unless the spec names it."""


class Normalisation(StrEnum):
    """What cleaning (:func:`harvest.cleaning.normalise.normalise_frame`) does to a column."""

    TEXT = "text"
    """Whitespace trimmed and collapsed; mapped onto the field's ``checks.values`` when listed
    (typos corrected and counted)."""
    NUMBER = "number"
    """Coerced to a number of the kind's dtype; an ``Int64`` kind keeps whole numbers only."""
    BOOL = "bool"
    """Booleans, 0/1 and yes/no words to ``boolean``."""
    DATE = "date"
    """Dates, datetimes and date strings to ``datetime.date``."""
    CODE = "code"
    """A code (a currency): whitespace collapsed, upper-cased."""
    DTYPE = "dtype"
    """Only cast to the kind's dtype (a staged Parquet round trip may change it)."""


class Comparison(StrEnum):
    """How de-duplication (:mod:`harvest.cleaning.near`) compares two values of a kind on a
    ``dedup.match_fields`` field, and whether it can block on them."""

    TOLERANCE = "tolerance"
    """Numbers compared by how close they are (the weight of closeness is learned from the
    labelled pairs); never a blocking key."""
    EXACT = "exact"
    """Equal values (whole numbers, booleans); a blocking key."""
    FOLDED = "folded"
    """Text equal once case- and accent-folded (:func:`harvest.text.fold`); a blocking key."""
    SAME_DAY = "same_day"
    """The same calendar day, whatever the value's type; a blocking key."""

    @property
    def blocks(self) -> bool:
        """Whether records are blocked on (only compared within) equal values of this kind."""
        return self is not Comparison.TOLERANCE


@dataclass(frozen=True, kw_only=True)
class ExtraColumn:
    """A column a kind fills beside the field's own: ``<field>_<suffix>``, of kind ``kind``,
    holding ``value(parsed)`` for each parsed value, and normalised by cleaning as
    ``normalisation`` says (``None``: kept as parsed).

    An extra column with an ``option`` exists only when the field sets that option, and is named
    after the option's value (``convert_to: EUR`` on ``price`` adds ``price_eur``); its ``value``
    is ``None``: the step that owns the option fills it (conversion, in :mod:`harvest.records`).
    """

    suffix: str
    kind: str
    value: Callable[[Any], object] | None
    option: str | None = None
    normalisation: Normalisation | None = None

    def column(self, field: str, options: Mapping[str, Any] | None = None) -> str:
        if self.option is not None:
            return f"{field}_{str((options or {})[self.option]).lower()}"
        return f"{field}_{self.suffix}"

    def applies(self, options: Mapping[str, Any] | None) -> bool:
        """Whether a field with these options has this column."""
        return self.option is None or (options or {}).get(self.option) is not None


@dataclass(frozen=True, kw_only=True)
class FieldKind:
    """One kind of field: its parser, its column types and its behaviour on every floor (see
    the module docstring). Built with keyword arguments only; an inconsistent kind (a number
    normalisation on a text dtype...) raises ``ValueError`` naming it.

    ``arrow_type_name`` is a pyarrow type alias (``double``, ``date32``); ``sql_type_name`` a
    SQLAlchemy generic type (``Double``, ``Date``), and ``sql_dialect_types`` a type of
    ``sqlalchemy.dialects.<dialect>`` to use instead on that dialect
    (``{"postgresql": "JSONB"}``): names only, made column types by the warehouse's schema
    (:func:`harvest.storage.warehouse.schema.sql_type`; only storage imports SQLAlchemy). ``value`` turns a parsed value into the field's own column
    value (a price's amount); ``None`` keeps the parsed value as it is.
    """

    name: str
    parse: Parser
    pandas_dtype: str
    arrow_type_name: str
    sql_type_name: str
    gx_types: tuple[str, ...]
    feature_role: FeatureRole
    normalisation: Normalisation
    comparison: Comparison
    sql_dialect_types: Mapping[str, str] | None = None
    value: Callable[[Any], object] | None = None
    extra_columns: tuple[ExtraColumn, ...] = ()
    options: tuple[str, ...] = ()
    """Spec keys of a field that this kind takes: parser keywords (``formats``, ``languages``)
    and the options of its extra columns (``convert_to``)."""

    def __post_init__(self) -> None:
        numeric = self.pandas_dtype in NUMERIC_DTYPES
        wrong = [
            f"{what} needs a {dtype} dtype"
            for what, needs, dtype in (
                (f"normalisation {self.normalisation}", self.normalisation == "number", "number"),
                (f"comparison {self.comparison}", self.comparison == "tolerance", "number"),
                (f"feature role {self.feature_role}", self.feature_role == "numeric", "number"),
            )
            if needs and not numeric
        ]
        if self.normalisation == "bool" and self.pandas_dtype != "boolean":
            wrong.append(f"normalisation {self.normalisation} needs the boolean dtype")
        if wrong:
            raise ValueError(
                f"field kind {self.name!r} (pandas dtype {self.pandas_dtype}): {'; '.join(wrong)}"
            )

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming each option in ``options`` (spec keys given a value)
        that this kind does not take."""
        unknown = sorted(k for k, v in options.items() if v is not None and k not in self.options)
        if unknown:
            raise ValueError(
                f"kind {self.name!r} takes no {', '.join(unknown)} option"
                + (f" (it takes {', '.join(self.options)})" if self.options else " (it takes none)")
            )

    def parser(self, **options: Any) -> Parser:
        """The kind's parser with the field's options (the ``None`` ones left out);
        ``ValueError`` for an option the kind does not take."""
        self.check_options(options)
        keywords = {
            k: v for k, v in options.items() if v is not None and not self._column_option(k)
        }
        return partial(self.parse, **keywords) if keywords else self.parse

    def _column_option(self, name: str) -> bool:
        return any(extra.option == name for extra in self.extra_columns)

    def arrow_type(self) -> pa.DataType:
        """The Arrow type the warehouse stages this kind's values as."""
        import pyarrow as pa

        return pa.type_for_alias(self.arrow_type_name)

    def columns(self, field: str, options: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The columns a field of this kind fills and their kinds: ``{field: name}`` then one
        per extra column its ``options`` call for
        (``{"rent": "price", "rent_currency": "text", "rent_eur": "number"}``)."""
        extras = {
            e.column(field, options): e.kind for e in self.extra_columns if e.applies(options)
        }
        return {field: self.name, **extras}

    def extra_column(self, field: str, suffix: str) -> str:
        """The name of the extra column ``suffix`` of ``field``; ``KeyError`` if the kind has none."""
        for extra in self.extra_columns:
            if extra.suffix == suffix:
                return extra.column(field)
        raise KeyError(f"field kind {self.name!r} adds no {suffix!r} column")
