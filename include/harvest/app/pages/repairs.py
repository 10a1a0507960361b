"""Repairs: the spec patches proposed after a night that looked drifted (a level that found no
link, a field whose coverage fell), newest first: per selector its agreement now and proposed,
examples, and the diff of the spec file; a night no selector repairs shows its notice (what
drifted, why no patch). Read from ``<HARVEST_HOME>/repairs``
(:mod:`harvest.learning.proposals`); applying stays one command, never a button here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from harvest.app import ui
from harvest.learning.proposals import Proposal, stored_proposals


def _selectors(proposal: Proposal) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "selector": s["name"],
                "now": s["now"],
                "agreement now": f"{s['now_agreement']:.0%}",
                "proposed": s["proposed"],
                "agreement": f"{s['agreement']:.0%} ({s['agreed']}/{s['checked']})",
            }
            for s in proposal.selectors
        ]
    )


def _examples(proposal: Proposal) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "selector": s["name"],
                "page": e["url"],
                "known": e["known"],
                "read": e["found"],
                "agrees": e["agrees"],
            }
            for s in proposal.selectors
            for e in s["examples"]
        ]
    )


def show(proposal: Proposal) -> None:
    if not proposal.selectors:  # a notice: drifted, and no selector repairs it
        st.subheader(f"{proposal.source}, night of {proposal.date} (no patch found)")
        st.error(proposal.line())
        return
    state = "applied" if proposal.applied else "not applied"
    st.subheader(f"{proposal.source}, night of {proposal.date} ({state})")
    st.dataframe(_selectors(proposal), hide_index=True)
    if proposal.unresolved:
        st.warning(
            "No selector reaches the minimum agreement for "
            f"{', '.join(proposal.unresolved)}: fix them by hand (`harvest preview`)."
        )
    with st.expander("Examples: the value (or URL) known from before and what was read"):
        st.dataframe(_examples(proposal), hide_index=True)
    st.code(proposal.diff, language="diff")
    if not proposal.applied:
        st.markdown(f"Review it with `{proposal.command}`; apply it with:")
        st.code(f"{proposal.command} --apply", language="bash")


with ui.shown_errors():
    st.title("Repairs")
    proposals = stored_proposals(ui.settings().home)
    if not proposals:
        raise ui.NoData(
            "No repair proposed: every night's selectors read what they read before "
            "(`python -m harvest repair --source X --date D` checks one by hand)."
        )
    sources = sorted({p.source for p in proposals})
    chosen = st.sidebar.selectbox("Source", ["every source", *sources], key="repair_source")
    pending = [p for p in proposals if chosen in ("every source", p.source)]
    st.caption(f"{sum(not p.applied for p in pending)} not applied, newest night first")
    for proposal in pending:
        show(proposal)
