"""Evaluate: how a saved run does on the fixed test split, and which images it gets wrong."""

import streamlit as st

from catdog_core import calibration, charts, codegen, evaluate, metrics, runs
from catdog_core.errors import CatdogError
import ui

ui.page_setup()

MAX_MISTAKES = 12
CACHE_KEY = "_evaluations"  # {(run id, dataset root): Evaluation}: computed once per session

st.title("Evaluate a trained model")
st.markdown("Every image of the **test split** (fixed once with a seed, never seen in training or "
            "validation) is classified. The mistakes are sorted by loss: the images the model was most "
            "confidently wrong about come first. That is where odd photos and wrong labels show up.")

listing = runs.list_runs()
for message in listing.problems:
    st.warning(ui.plain(message))
if not listing.runs:
    st.info("There is no trained run yet.")
    st.page_link("pages/training.py", label="Train one on the Training page", icon=":material/model_training:")
    st.stop()

loaded = ui.load_data()
if loaded is None:
    st.stop()

on_data, _ = ui.session_runs(listing.runs)
if not on_data:
    st.info("No run was trained on this dataset yet; the runs below were trained on other data.")
run = ui.run_picker("Run", "evaluate_run", listing.runs)
run_id = run.run_id
st.caption(f"Answering: run {ui.plain(run.run_id)} ({ui.plain(run.recipe)}), trained on "
           f"{ui.plain(run.dataset.get('source', 'unknown data'))}.")

cache = st.session_state.setdefault(CACHE_KEY, {})
key = (run_id, str(loaded.source.root))
if key not in cache:  # measured when the run was saved: read from disk, no model needed here
    cache[key] = evaluate.remembered(run, loaded.key, "test")
if cache[key] is None:
    bar = ui.ProgressBar()
    try:
        with ui.refusal(stop=True), st.spinner("Loading the model and classifying the test images…"):
            cache[key] = ui.service.evaluate(run_id, ui.data_source(), "test", progress=bar)
    finally:
        bar.clear()
result = cache[key]

cols = st.columns(1 + min(len(result.per_class), 5))
low, high = result.interval
right_answers = round(result.accuracy * result.count)
headline = f"{right_answers} of {result.count} right" if result.too_few else f"{result.accuracy:.1%}"
cols[0].metric("Test accuracy", headline,
               help=f"{result.count} test images, mean loss {result.loss:.3f}; 95 % interval {low:.0%} to {high:.0%}")
if result.too_few:
    st.warning(f"Test accuracy: {metrics.verdict(result.accuracy, result.count)}. Each test image moves the "
               f"accuracy by {1 / result.count:.0%}; add more images before trusting a number.")
else:
    st.caption(f"Test accuracy {metrics.verdict(result.accuracy, result.count)}.")
if len(result.per_class) <= 5:
    for col, (name, share) in zip(cols[1:], result.per_class.items()):
        col.metric(f"{ui.plain(name)} recognised", f"{share:.1%}" if share is not None else "no images")
else:
    st.dataframe([{"class": n, "accuracy": a} for n, a in result.per_class.items()], hide_index=True,
                 column_config={"accuracy": st.column_config.NumberColumn(format="percent")})

left, right = st.columns([3, 2])
left.plotly_chart(ui.figure(charts.confusion_matrix, result.confusion, result.class_names, large=ui.presenter()),
                  key="evaluate_confusion", config=charts.NO_TOOLBAR)
right.markdown("**Reading the matrix:** each row is the true class, each column what the model said. "
               "The diagonal counts the right answers; every other cell is a kind of mistake, coloured "
               "by its share of the row so small classes show as clearly as big ones.")

st.subheader("Can you trust how sure it is?")
val_key = (run_id, str(loaded.source.root), "validation")
if result.logits is not None and val_key not in cache:
    cache[val_key] = evaluate.remembered(run, loaded.key, "validation")
    if cache[val_key] is None or cache[val_key].logits is None:
        try:
            with st.spinner("Classifying the validation images for the temperature…"):
                cache[val_key] = ui.service.evaluate(run_id, ui.data_source(), "validation")
        except CatdogError as exc:
            cache[val_key] = None
            st.caption(ui.plain(str(exc)))
calibrated_key = (run_id, str(loaded.source.root), "calibration")
if calibrated_key not in cache:  # a temperature fitted once per session and run (its validation is kept above)
    cache[calibrated_key] = calibration.of_evaluations(result, cache.get(val_key))
checked = cache[calibrated_key]
if checked is None:
    st.caption("This run's evaluation was kept before the app kept every photo's scores; train it again "
               "to see how its confidence compares with how often it is right.")
else:
    if checked.too_few:
        st.warning(f"Only {checked.count} test and {checked.fitted_on} validation photos: the bins below hold "
                   "too few photos to judge its confidence (at least 30 of each are needed).")
    left, right = st.columns([3, 2])
    left.plotly_chart(ui.figure(charts.reliability, checked.before, checked.after, large=ui.presenter()),
                      key="evaluate_reliability", config=charts.NO_TOOLBAR)
    right.markdown(f"**{checked.before.sentence()}**")
    right.markdown(checked.summary())
    right.caption("A model trained to lower its loss is often surer than it should be. Temperature scaling "
                  "divides every logit by one number, fitted on the validation split and judged here on the "
                  "test split it never saw; Classify can show the probabilities with it.")

st.subheader("What it got wrong")
if not result.mistakes:
    st.success(f"No mistakes: all {result.count} test images were classified correctly.")
else:
    shown = result.mistakes[:MAX_MISTAKES]
    st.caption(f"{len(result.mistakes)} of {result.count} test images are wrong; the worst "
               f"{len(shown)} by loss, worst first.")
    test = loaded.split("test")
    per_row = 4
    for start in range(0, len(shown), per_row):
        for col, mistake in zip(st.columns(per_row), shown[start:start + per_row]):
            with col.container(border=True):
                st.image(test.images[mistake.index], width="stretch",
                         caption=f"true: {ui.plain(mistake.true_label)} · said: {ui.plain(mistake.predicted_label)}")
                st.caption(" · ".join(f"{ui.plain(n)} {p:.0%}" for n, p in
                                      sorted(mistake.probabilities.items(), key=lambda kv: -kv[1])[:3])
                           + f"  \nloss {mistake.loss:.2f}")

with st.expander("Show the code", icon=":material/code:"):
    st.code(codegen.evaluate(f"{run.run_id}.keras"), language="python", wrap_lines=True)
