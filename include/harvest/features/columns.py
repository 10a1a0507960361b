"""Which fields feed the model, and as what: the spec's ``features:`` block over defaults taken
from the field kinds (each kind's :class:`harvest.fields.FeatureRole`)."""

from __future__ import annotations

from dataclasses import dataclass

from harvest.config.spec import SourceSpec
from harvest.errors import HarvestError
from harvest.fields import FeatureRole, field_kind


class FeatureSpecError(HarvestError, ValueError):
    """A source whose spec does not say enough to train (no target, no features)."""

    retryable = False


@dataclass(frozen=True)
class FeatureColumns:
    """The input columns of a source's model, by role; ``target`` is what it predicts."""

    target: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    flags: tuple[str, ...]  # bool fields: numeric 0/1, imputed but never capped
    dates: tuple[str, ...]
    ratios: tuple[tuple[str, str], ...]
    fill_from_text: tuple[tuple[str, str], ...] = ()  # (categorical, text read to fill it)

    @property
    def texts(self) -> tuple[str, ...]:
        """Text columns read only to fill missing categories (never features themselves)."""
        return tuple(dict.fromkeys(text for _, text in self.fill_from_text))

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every column the pipeline reads, in a fixed order."""
        return (*self.categorical, *self.numeric, *self.flags, *self.dates, *self.texts)


def target_column(spec: SourceSpec) -> str | None:
    """The warehouse column a model of ``spec`` predicts: the target field's converted column
    when it has ``convert_to`` (``price`` with ``convert_to: EUR`` -> ``price_eur``, one unit
    across currencies), else the field's own column; ``None`` without a target."""
    if spec.target is None:
        return None
    return spec.detail.fields[spec.target].converted_column(spec.target) or spec.target


def feature_columns(spec: SourceSpec) -> FeatureColumns:
    """The feature columns of ``spec``; raise :class:`FeatureSpecError` when it has no target or
    leaves no feature."""
    if spec.target is None:
        raise FeatureSpecError(f"source {spec.name}: the spec has no target; nothing to train")
    block = spec.features
    never = {spec.detail.key, spec.target, *block.exclude}
    if spec.dedup.title_field:
        never.add(spec.dedup.title_field)

    def role(name: str) -> FeatureRole:
        return field_kind(spec.detail.fields[name].kind).feature_role

    def by_role(chosen: list[str] | None, *roles: FeatureRole) -> tuple[str, ...]:
        if chosen is not None:
            return tuple(chosen)
        return tuple(n for n in spec.detail.fields if role(n) in roles and n not in never)

    numeric = by_role(block.numeric, FeatureRole.NUMERIC, FeatureRole.FLAG)
    columns = FeatureColumns(
        target=str(target_column(spec)),
        categorical=by_role(block.categorical, FeatureRole.CATEGORICAL),
        numeric=tuple(n for n in numeric if role(n) is not FeatureRole.FLAG),
        flags=tuple(n for n in numeric if role(n) is FeatureRole.FLAG),
        dates=by_role(block.dates, FeatureRole.DATE),
        ratios=tuple(block.ratios),
        fill_from_text=tuple(block.fill_from_text.items()),
    )
    not_categorical = [c for c, _ in columns.fill_from_text if c not in columns.categorical]
    if not_categorical:
        raise FeatureSpecError(
            f"source {spec.name}: features.fill_from_text: {not_categorical} are not categorical "
            "features"
        )
    if spec.target in columns.inputs:
        raise FeatureSpecError(
            f"source {spec.name}: features: the target {spec.target!r} cannot be a feature"
        )
    if not columns.inputs:
        raise FeatureSpecError(f"source {spec.name}: features: no field left to learn from")
    return columns
