"""The class board: every run on the data in use, who trained it, what they changed, best first."""

import pandas as pd
import streamlit as st

from catdog_core import board, runs
import ui

ui.page_setup()

st.title("The class board")
st.markdown("Every model trained on the data in use, best validation accuracy first. The interval says how "
            "sure that figure is: two runs whose intervals overlap may be equally good, and the order between "
            "them is luck of the validation photos.")

me = ui.owner()
known = board.names()
with st.form("board_name", border=False):
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    typed = left.text_input("Your name on the board", value=known.get(me, ""), max_chars=board.MAX_NAME,
                            placeholder=me, help="Shown next to the runs this browser session trains, "
                                                 "as plain text. Leave it to stay as '" + me + "'.")
    if right.form_submit_button("Save the name", width="stretch"):
        try:
            known[me] = board.set_name(me, typed)
        except board.InvalidName as exc:
            st.error(ui.plain(str(exc)))
        else:
            st.success(f"On the board as **{ui.plain(known[me])}**.")

listing = runs.list_runs()
mine, _ = ui.session_runs(listing.runs)
if not mine:
    st.info("No run on this data yet. Train one on the Training page (Quick transfer is the fastest) and it "
            "appears here, with your name.")
    st.stop()

hide = st.toggle("Hide names (for the projector)", key="board_hide_names",
                 help="Every name but yours becomes blank, here and in the CSV.")
rows = board.rows(mine, me, known)


def shown(row: board.Row) -> dict:
    """One line as the page shows it: the interval beside the accuracy, the long run id last."""
    who = "" if hide and not row.mine else row.who
    accuracy = "–" if row.val_accuracy is None else f"{row.val_accuracy:.1%}" + (
        f" ({row.low:.0%}–{row.high:.0%})" if row.low is not None else "")
    return {"place": row.place, "who": who + (" (you)" if row.mine else ""), "recipe": row.recipe,
            "val acc (95% interval)": accuracy, "changed from the post": row.changes or "nothing",
            "train s": round(row.seconds), "run": row.run_id}


st.dataframe(pd.DataFrame([shown(r) for r in rows]), hide_index=True, column_config={
    "place": st.column_config.NumberColumn(width="small"), "who": st.column_config.TextColumn(width="medium"),
    "changed from the post": st.column_config.TextColumn(width="large")})

own = [r for r in rows if r.mine]
if own:
    best = own[0]
    st.markdown(f"Your best run is **number {best.place} of {len(rows)}**"
                + (f" ({best.val_accuracy:.1%} validation accuracy)." if best.val_accuracy is not None else "."))
else:
    st.caption("None of these runs was trained in this browser session yet.")
st.download_button("Download the board as CSV", board.to_csv(rows, hide), file_name="class-board.csv",
                   mime="text/csv", icon=":material/download:")

with st.expander("Show the code", icon=":material/code:"):
    st.code('''# The board is a sorted table of runs and a 95 % (Wilson) interval for each accuracy.
import math
def interval(accuracy, n, z=1.96):
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half

board = sorted(runs, key=lambda r: -r["val_accuracy"])
for place, r in enumerate(board, 1):
    low, high = interval(r["val_accuracy"], r["val_count"])
    print(place, r["who"], r["recipe"], f"{r['val_accuracy']:.1%} ({low:.1%}-{high:.1%})")''', language="python", wrap_lines=True)
