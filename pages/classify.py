"""Classify: upload photos (or take one) and see what a trained model says."""

import streamlit as st

from catdog_core import charts, evaluate, explain, images, jobs, predict, runs
from catdog_core.errors import CatdogError
import ui

ui.page_setup()


def show_prediction(model, run, name: str, data: bytes, heatmap: bool, key: str) -> None:
    """One file: its image (and where the model looked), the predicted class and a bar per class,
    or a one-sentence error."""
    shown_name = images.safe_display_name(name)
    with st.container(border=True):
        try:
            picture, model_input = images.load_for_model(data)
            prediction = predict.classify(model, model_input, run.class_names)
            looked = explain.overlay(picture, explain.grad_cam(model, model_input)) if heatmap else None
        except CatdogError as exc:
            st.markdown(f"**{ui.plain(shown_name)}**")
            st.error(ui.plain(str(exc)))
            return
        if looked is None:
            left, right = st.columns([1, 2], vertical_alignment="center")
        else:
            left, middle, right = st.columns([1, 1, 2], vertical_alignment="center")
            middle.image(looked, caption=f"where it looked for {prediction.label}", width="stretch")
        left.image(picture, caption=shown_name, width="stretch")
        right.markdown(f"### {ui.plain(prediction.label)}  \n{prediction.confidence:.1%} sure")
        right.plotly_chart(charts.probabilities(prediction.probabilities), key=f"probabilities_{key}")


st.title("Classify your own photos")

listing = runs.list_runs()
transfer = ui.default_run(listing.runs, "transfer")
job = ui.session_job()
if transfer is None:
    st.info("There is no trained transfer-learning model (model 4) yet. Train one here with the quick "
            f"preset: {jobs.quick_spec().epochs} epochs on cached MobileNetV2 features, about a minute "
            "on a laptop CPU.")
    if job is None or not (job.active and job.spec.recipe == "transfer"):
        if st.button("Train a quick model now", type="primary", icon=":material/bolt:"):
            ui.submit(jobs.quick_spec(ui.data_source()))
mine = job is not None and st.session_state.get(ui.JOB_KEY) == job.job_id
if job is not None and (job.active or (mine and job.spec.recipe == "transfer")):
    ui.job_panel(job.job_id, "classify")

if not listing.runs:
    st.stop()

run = ui.run_picker("Model", "classify_run", listing.runs, recipe="transfer", placeholder="Choose a trained model")
if run is None:
    st.info("No model was trained on your dataset yet; choose one above or train the quick model.")
    st.stop()
st.caption(f"Answering: run {ui.plain(run.run_id)} ({ui.plain(run.recipe)}), classes "
           f"{ui.plain(', '.join(run.class_names))}; validation {evaluate.verdict(run.val_accuracy, run.val_count)}. "
           "The best transfer run on your dataset is chosen by default.")
try:
    with st.spinner("Loading the model…"):
        model = runs.load_model(run)
except CatdogError as exc:
    st.error(ui.plain(str(exc)))
    st.stop()

heatmap = False
if explain.supports(model):
    heatmap = st.toggle("Show where the model looked", value=True, key="classify_gradcam",
                        help="Grad-CAM: red marks the regions whose MobileNetV2 features pushed the "
                             "predicted class's score up, blue the regions it ignored.")
else:
    st.caption(explain.UNSUPPORTED)

uploads = ui.file_uploader("Upload one or several images (JPEG, PNG, WebP, BMP or GIF)",
                           key="classify_files", multiple=True)
if st.toggle("Use the camera", key="classify_camera"):
    photo = st.camera_input("Take a photo", key="classify_photo")
    if photo is not None:
        show_prediction(model, run, "camera photo", photo.getvalue(), heatmap, "camera")
for i, upload in enumerate(uploads or []):
    show_prediction(model, run, upload.name, upload.getvalue(), heatmap, f"upload_{i}")
