"""Models: each training's holdout error against the baseline and the noise floor, the
registered versions with the champion, the champion's SHAP summary, and for any scored row its
top contributions (all from MLflow and ``predictions_<source>``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from harvest.app import ui
from harvest.training import history


@ui.cached
def _history(source: str, tracking_uri: str, minute: object):  # type: ignore[no-untyped-def]
    return history.model_history(tracking_uri, source)


def _errors_figure(runs: object) -> go.Figure:
    fig = go.Figure()
    frame = runs  # a frame of model_history().runs
    x = [str(t) for t in frame["start_time"]]  # type: ignore[index]
    for metric in ("holdout_rmse", "baseline_rmse"):
        fig.add_scatter(name=metric, x=x, y=list(frame[metric]), mode="lines+markers")  # type: ignore[index]
    if frame["rmse_vs_noise_floor"].notna().any():  # type: ignore[index]
        floor = frame["holdout_rmse"] / frame["rmse_vs_noise_floor"]  # type: ignore[index]
        fig.add_scatter(name="noise floor", x=x, y=list(floor), mode="lines", line={"dash": "dot"})
    if frame["holdout_rmse_low"].notna().any():  # type: ignore[index]
        # the holdout RMSE's bootstrap interval, where the training logged one
        fig.data[0].error_y = {
            "type": "data",
            "symmetric": False,
            "array": list(frame["holdout_rmse_high"] - frame["holdout_rmse"]),  # type: ignore[index]
            "arrayminus": list(frame["holdout_rmse"] - frame["holdout_rmse_low"]),  # type: ignore[index]
        }
    fig.update_layout(title="Holdout RMSE per training", xaxis_type="category")
    return fig


def _interval_figure(runs: Any) -> go.Figure | None:
    """Each training's RMSE difference from the baseline with its bootstrap interval (as the
    training logged them: vs_baseline_difference, _low, _high), or None before they were."""
    frame = runs[runs["vs_baseline_difference"].notna()]
    if frame.empty:
        return None
    difference = frame["vs_baseline_difference"]
    fig = go.Figure(
        go.Scatter(
            x=[str(t) for t in frame["start_time"]],
            y=list(difference),
            mode="markers",
            name="RMSE - baseline RMSE",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": list(frame["vs_baseline_high"] - difference),
                "arrayminus": list(difference - frame["vs_baseline_low"]),
            },
        )
    )
    fig.add_hline(y=0, line_dash="dot")
    fig.update_layout(
        title="RMSE against the baseline per training, with its interval (below 0: better)",
        xaxis_type="category",
    )
    return fig


def _second_opinion(runs: Any) -> None:
    """The newest training's second-opinion explanation (LIME beside SHAP), where trained with
    one: how many explained holdout rows have another top feature than SHAP gives them."""
    explained = runs[runs["lime_rows"].fillna(0) > 0]
    if explained.empty:
        st.caption("No second-opinion explanation (LIME) logged for these trainings yet.")
        return
    newest = explained.iloc[-1]
    rows, disagree = int(newest["lime_rows"]), int(newest["lime_shap_top_disagreements"])
    st.metric(
        "Second opinion: rows where LIME's top feature is not SHAP's",
        f"{disagree} of {rows}",
        help="LIME explains a seeded sample of holdout rows beside SHAP at each training "
        "(HARVEST_TRAINING_LIME_SAMPLE); the run's lime/explanations.json in MLflow lists them.",
    )


st.title("Models")
with ui.shown_errors():
    spec = ui.choose_source()
    if spec is not None:
        if spec.target is None:
            raise ui.NoData(f"Source {spec.name} has no target: no model is trained for it.")
        tracking_uri = ui.settings().mlflow_tracking_uri
        found = _history(spec.name, tracking_uri, ui.now())
        if found.runs.empty:
            raise ui.NoData(f"Source {spec.name}: no training yet (`make demo` trains one).")
        ui.plotly(_errors_figure(found.runs), key="models_errors")
        interval = _interval_figure(found.runs)
        if interval is not None:
            ui.plotly(interval, key="models_interval")
        st.caption(
            "The noise floor is the error of a perfect model (the demo site's known noise); "
            "rmse_vs_noise_floor = 1 is as good as any model can be. Bars: the holdout RMSE's "
            "bootstrap interval."
        )
        _second_opinion(found.runs)
        st.subheader(f"Champion: version {found.champion or '(none)'}")
        st.dataframe(found.versions, hide_index=True)
        st.dataframe(found.runs, hide_index=True)
        if found.importances:
            top = sorted(found.importances.items(), key=lambda kv: kv[1])[-15:]
            fig = go.Figure(go.Bar(x=[v for _, v in top], y=[k for k, _ in top], orientation="h"))
            fig.update_layout(title="Champion: mean |SHAP| per feature")
            ui.plotly(fig, key="models_importances")
        if found.champion_run:
            with tempfile.TemporaryDirectory() as folder:
                summary = history.shap_summary(tracking_uri, found.champion_run, Path(folder))
                if summary is not None:
                    st.image(summary.read_bytes(), caption="SHAP summary of the champion")
        st.subheader("A scored row")
        scored = ui.warehouse().predictions(spec.name)
        if scored.empty:
            st.info("No row scored yet (the training DAG's score task fills predictions).")
        else:
            key = st.selectbox("Record", list(scored["record_key"]), key="scored_key")
            row = scored[scored["record_key"] == key].iloc[0]
            st.metric(
                "prediction", f"{row['prediction']:.2f}", help=f"model {row['model_version']}"
            )
            parts = history.contributions(row["explanation"])
            fig = go.Figure(
                go.Bar(x=list(parts["contribution"]), y=list(parts["feature"]), orientation="h")
            )
            fig.update_layout(title=f"{key}: top SHAP contributions")
            ui.plotly(fig, key="models_contributions")
