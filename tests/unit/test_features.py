"""The feature pipeline: columns from the spec, and scoring rows it never saw (unseen
categories, missing columns, nulls, garbage and extreme values) without crashing."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
import yaml
from lightgbm import LGBMRegressor

from harvest.config.settings import DEFAULT_SOURCES_DIR
from harvest.config.spec import SourceSpec, SpecError, load_spec
from harvest.features import (
    FeatureSpecError,
    build_pipeline,
    feature_columns,
    feature_steps,
    transform_features,
)
from harvest_demo import SiteConfig
from harvest_demo.shown import shown_partition

DEMO = DEFAULT_SOURCES_DIR / "demo.yaml"


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    return load_spec(DEMO)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    config = SiteConfig(listings_per_day=150)
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(3)]
    rows = pd.concat([shown_partition(config, day) for day in days], ignore_index=True)
    return rows[rows["price"].notna() & (rows["price"] < 5000)].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(spec: SourceSpec, frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    model = LGBMRegressor(n_estimators=60, n_jobs=1, verbose=-1, random_state=0)
    pipeline = build_pipeline(feature_columns(spec), spec.features, model, seed=0)
    return pipeline.fit(frame, frame["price"])


def _with(spec: SourceSpec, **changes: object) -> SourceSpec:
    data = yaml.safe_load(DEMO.read_text())
    data.update(changes)
    return SourceSpec.model_validate(data)


def test_columns_default_from_the_field_kinds(spec: SourceSpec) -> None:
    columns = feature_columns(spec)
    assert columns.target == "price_eur"  # price converts to EUR: one unit across currencies
    assert columns.categorical == ("city", "district")  # text; the key and the title are not
    assert columns.numeric == ("area", "rooms", "floor", "built_year")
    assert columns.flags == ("balcony",)
    assert columns.dates == ("available_from",)
    assert columns.ratios == (("area", "rooms"),)


def test_spec_block_overrides_the_defaults(spec: SourceSpec) -> None:
    custom = _with(spec, features={"categorical": ["city"], "exclude": ["floor"], "dates": []})
    columns = feature_columns(custom)
    assert columns.categorical == ("city",)
    assert "floor" not in columns.numeric
    assert columns.dates == ()


def test_spec_features_must_name_fields(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(DEMO.read_text())
    data["features"] = {"ratios": [["area", "bedrooms"]]}
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"demo.yaml: features: \['bedrooms'\] are not in"):
        load_spec(path)


def test_a_spec_without_a_target_or_features_is_refused(spec: SourceSpec) -> None:
    with pytest.raises(FeatureSpecError, match="source demo: the spec has no target"):
        feature_columns(_with(spec, target=None))
    with pytest.raises(FeatureSpecError, match="target 'price' cannot be a feature"):
        feature_columns(_with(spec, features={"numeric": ["price", "area"]}))


def test_target_encoding_is_cross_fitted(spec: SourceSpec, frame: pd.DataFrame) -> None:
    """While fitting, each row's district encoding comes from the other folds: it differs from
    the encoding the fitted encoder gives the same rows at scoring time."""
    steps = feature_steps(feature_columns(spec), spec.features, seed=0)
    matrix = frame
    for _name, step in steps:
        matrix = step.fit_transform(matrix, frame["price"])
    scoring = frame
    for _name, step in steps:
        scoring = step.transform(scoring)
    assert (matrix["district"] - scoring["district"]).abs().max() > 1.0
    assert matrix.dtypes.map(pd.api.types.is_numeric_dtype).all()


def test_scoring_rows_it_never_saw(fitted, frame: pd.DataFrame, caplog) -> None:  # type: ignore[no-untyped-def]
    odd = pd.DataFrame(
        {
            "city": ["Atlantis", None, "Berlin", "Berlin"],
            "district": ["Nowhere", None, None, "Mitte"],
            "area": [1e9, None, "lots", -5.0],
            "rooms": [3, None, 2, np.inf],
            "available_from": ["not a date", None, "2026-04-01", "2026-04-01"],
            "unknown_column": [1, 2, 3, 4],
        }
    )  # floor, built_year and balcony are missing altogether
    with caplog.at_level(logging.WARNING, logger="harvest.features.pipeline"):
        predicted = fitted.predict(odd)
    assert np.isfinite(predicted).all()
    assert "lack the column(s) floor, built_year, balcony" in caplog.text
    train_predictions = fitted.predict(frame)
    assert train_predictions.min() - 1 <= predicted.min()
    assert predicted.max() <= train_predictions.max() + 1


def test_extreme_values_are_capped_to_the_training_range(fitted, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    row = frame.iloc[[0]].copy()
    capped = row.copy()
    capped["area"] = 1e9
    bound = fitted.named_steps["cap_outliers"].winsorizer_.right_tail_caps_["area"]
    at_bound = row.copy()
    at_bound["area"] = bound
    assert fitted.predict(capped)[0] == pytest.approx(fitted.predict(at_bound)[0])
    matrix = transform_features(fitted, capped)
    assert matrix["area"].iloc[0] == pytest.approx(bound)


def test_unseen_category_is_scored_like_a_rare_one(fitted, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    row = frame.iloc[[0]].copy()
    unseen, rare = row.copy(), row.copy()
    unseen["district"] = "Atlantis"
    rare["district"] = "Rare"
    assert fitted.predict(unseen)[0] == pytest.approx(fitted.predict(rare)[0])


def test_shown_partition_leaves_out_what_validation_would_quarantine(spec: SourceSpec) -> None:
    config = SiteConfig(listings_per_day=300)
    every = shown_partition(config, dt.date(2026, 3, 1))
    valid = shown_partition(config, dt.date(2026, 3, 1), spec)
    assert every["area"].min() < 8 and every["price"].isna().any()  # the site's mess is there
    assert valid["area"].min() >= 8 and valid["price"].notna().all()
    assert len(valid) < len(every)


def test_values_cleaning_imputed_count_as_missing(fitted, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    row = frame.iloc[[0]].copy()
    imputed, missing = row.copy(), row.copy()
    imputed["area"], imputed["imputed"] = 63.0, ['["area", "rooms"]']  # as SQLite returns JSON
    missing["area"], missing["rooms"] = None, None
    assert fitted.predict(imputed)[0] == pytest.approx(fitted.predict(missing)[0])
    as_list = row.copy()
    as_list["imputed"] = [["area", "rooms"]]  # as PostgreSQL's JSONB returns it
    assert fitted.predict(as_list)[0] == pytest.approx(fitted.predict(missing)[0])
    assert fitted.predict(row.assign(imputed="[]"))[0] == pytest.approx(fitted.predict(row)[0])


def test_a_missing_category_is_filled_from_the_text_that_names_it_once() -> None:
    from harvest.features.fill import FillFromText

    train = pd.DataFrame(
        {"district": ["Mitte"] * 5 + ["Altona"] * 5 + ["Alt"] * 2, "title": ["x"] * 12}
    )
    fill = FillFromText((("district", "title"),)).fit(train)
    rows = pd.DataFrame(
        {
            "district": [None, None, None, None, "Kalk"],
            "title": [
                "Bright 2-room flat in mitte",  # named once, any case: filled
                "Mitte or Altona, 60 m²",  # two districts named: ambiguous, left missing
                "Altonaer Str. 5",  # only as part of a word: not named
                None,  # no text
                "Flat in Mitte",  # a value present is never replaced
            ],
        }
    )
    out = fill.transform(rows)
    assert list(out.columns) == ["district"]  # the text is read, never a feature
    assert out["district"].tolist()[0] == "Mitte"
    assert out["district"].isna().tolist()[1:4] == [True, True, True]
    assert out["district"].tolist()[4] == "Kalk"


def test_the_demo_pipeline_reads_a_missing_district_from_the_title(
    spec: SourceSpec, frame: pd.DataFrame, fitted
) -> None:  # type: ignore[no-untyped-def]
    columns = feature_columns(spec)
    assert columns.fill_from_text == (("district", "title"),)
    assert "title" in columns.inputs and "title" not in columns.categorical
    pipeline = fitted
    row = frame[frame["district"].notna()].head(1).copy()
    without = row.assign(district=None)
    assert pipeline.predict(without) == pytest.approx(pipeline.predict(row))
    assert pipeline.predict(without.assign(title="no place named")) != pytest.approx(
        pipeline.predict(row)
    )


def test_uninformative_features_are_named_with_their_reason(
    spec: SourceSpec, frame: pd.DataFrame
) -> None:
    """Never filled, constant, near-constant and duplicated columns are found; the ratio and
    fill_from_text pair that read a dropped column go with it."""
    from harvest.features.select import uninformative_features, without_features

    n = len(frame)
    odd = frame.assign(
        floor=np.nan,  # never filled
        balcony=True,  # constant
        built_year=np.where(np.arange(n) < 2, 1950.0, 1990.0),  # near-constant
        district=frame["city"],  # a copy of city
    )
    columns = feature_columns(spec)
    reasons = uninformative_features(columns, odd, constant_tol=0.99)
    assert reasons == {
        "floor": "never filled",
        "balcony": "constant (1.0)",
        "built_year": f"near-constant (1990.0 in {(n - 2) / n:.1%} of rows)",
        "district": "duplicate of city",
    }
    assert uninformative_features(columns, frame, constant_tol=0.99) == {}
    left = without_features(columns, {"rooms": "constant (2.0)", **reasons})
    assert left.numeric == ("area",) and left.flags == () and left.categorical == ("city",)
    assert left.ratios == () and left.fill_from_text == ()
    everything = dict.fromkeys(columns.inputs, "x")
    assert without_features(columns, everything).inputs == ()


def test_capping_a_column_without_spread_passes_it_through(
    spec: SourceSpec, frame: pd.DataFrame
) -> None:
    """A numeric column that is mostly one value (IQR 0) made Winsorizer refuse the fit ("low
    variation"); now that column is left uncapped and the others are capped."""
    mostly = frame.assign(built_year=np.where(np.arange(len(frame)) % 10 == 0, 1950.0, 1990.0))
    model = LGBMRegressor(n_estimators=20, n_jobs=1, verbose=-1, random_state=0)
    pipeline = build_pipeline(feature_columns(spec), spec.features, model, seed=0)
    pipeline.fit(mostly, mostly["price"])
    capping = pipeline.named_steps["cap_outliers"]
    assert capping.uncapped_ == ["built_year"]
    assert "area" in capping.capped_ and "built_year" not in capping.winsorizer_.right_tail_caps_
    assert np.isfinite(pipeline.predict(mostly.head(5))).all()
