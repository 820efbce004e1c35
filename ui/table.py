"""Tables as a projector needs them: a dataframe normally; in presenter mode an HTML table, whose type
grows with the page's and whose cells wrap (a dataframe is drawn on a canvas: neither happens)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .state import presenter


def show_table(frame: pd.DataFrame, percent=(), widths: dict | None = None, labels: dict | None = None,
               order=None) -> None:
    """`frame` with its `percent` columns as percentages, in `order` (its own when None); `widths`
    (column: pixels) and `labels` (column: header) for the dataframe; missing values as "–"."""
    order = [c for c in (order or frame.columns) if c in frame.columns]
    labels = labels or {}
    if presenter():
        shown = frame[order].astype(object).where(frame[order].notna(), "–")
        for column in percent:
            if column in shown:
                shown[column] = [v if v == "–" else f"{v:.1%}" for v in shown[column]]
        st.table(shown.rename(columns=labels).astype(str), hide_index=True)
        return
    config = {}
    for column in order:
        kind = st.column_config.NumberColumn if column in percent else st.column_config.Column
        options = {"format": "percent"} if column in percent else {}
        config[column] = kind(labels.get(column, column), width=(widths or {}).get(column), **options)
    st.dataframe(frame, hide_index=True, column_config=config, column_order=order, placeholder="–")
