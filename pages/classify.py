"""Classify: upload photos (or take one) and see what a trained model says."""

import streamlit as st

from catdog_core import charts, codegen, evaluate, explain, images, jobs, metrics, predict, runs
from catdog_core.errors import CatdogError
import ui

ui.page_setup()


def show_prediction(run, name: str, data: bytes, heatmap: bool, key: str) -> str | None:
    """One file: its image (and where the model looked), the predicted class and a bar per class,
    or a one-sentence error. Returns the predicted label (None for a refused file)."""
    shown_name = images.safe_display_name(name)
    with st.container(border=True):
        try:
            answer = ui.service.classify(run.run_id, data, heatmap)
            picture, prediction, looked = answer.picture, answer.prediction, answer.looked
        except CatdogError as exc:
            st.markdown(f"**{ui.plain(shown_name)}**")
            st.error(ui.plain(str(exc)))
            return None
        if looked is None:
            left, right = st.columns([1, 2], vertical_alignment="center")
        else:
            left, middle, right = st.columns([1, 1, 2], vertical_alignment="center")
            middle.image(looked, caption=f"where it looked for {ui.plain(prediction.label)}", width="stretch")
        left.image(picture, caption=ui.plain(shown_name), width="stretch")
        right.markdown(f"### {ui.plain(prediction.label)}  \n{prediction.confidence:.1%} sure")
        right.plotly_chart(charts.probabilities(prediction.probabilities, large=ui.presenter()),
                           key=f"probabilities_{key}", config=charts.NO_TOOLBAR)
    return prediction.label


def labelled_check(run, heatmap: bool) -> None:
    """Photos whose class is known (a zip of class folders, or files named by class):
    how many the model gets right, the confusion, and each miss with where it looked."""
    st.markdown("Upload photos whose class you know: a **zip of class folders** "
                f"(`{ui.plain(run.class_names[0])}/…`, `{ui.plain(run.class_names[1])}/…`) or files **named by "
                f"class** (`{ui.plain(run.class_names[0])}_01.jpg`, …). The model's answers are checked against them.")
    files = ui.file_uploader("Labelled photos or a zip", key="check_files", multiple=True)
    if not files:
        return
    try:
        items = evaluate.labelled_items([(upload.name, upload.getvalue()) for upload in files])
        with st.spinner(f"Classifying {len(items)} photos…"):
            result = ui.service.check_labelled(run.run_id, items, heatmap)
    except CatdogError as exc:
        st.error(ui.plain(str(exc)))
        return
    if result.unlabelled:
        st.warning(f"{len(result.unlabelled)} file(s) have no class in their name or folder and were left out: "
                   + ui.plain(", ".join(result.unlabelled[:10])) + ("…" if len(result.unlabelled) > 10 else "."))
    for name, why in result.refused:
        st.error(ui.plain(f"{name}: {why}"))
    if not result.total:
        return
    st.metric("Right", f"{result.right} of {result.total}",
              help=metrics.verdict(result.right / result.total, result.total))
    st.caption(f"{metrics.verdict(result.right / result.total, result.total)}.")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.confusion_matrix(result.confusion, result.class_names, "Your photos: confusion"),
                      key="check_confusion", config=charts.NO_TOOLBAR)
    right.markdown("Each row is the class the photo really shows, each column what the model said.")
    if not result.misses:
        st.success("No misses.")
        return
    st.subheader(f"The {result.miss_count} misses, the most confident first")
    for miss in result.misses:
        with st.container(border=True):
            cols = st.columns([1, 1, 2] if miss.looked is not None else [1, 2], vertical_alignment="center")
            cols[0].image(miss.picture, caption=ui.plain(miss.name), width="stretch")
            if miss.looked is not None:
                cols[1].image(miss.looked, caption=f"where it looked for {ui.plain(miss.prediction.label)}", width="stretch")
            cols[-1].markdown(f"**{ui.plain(miss.true_label)}**, said **{ui.plain(miss.prediction.label)}**")
            cols[-1].plotly_chart(charts.probabilities(miss.prediction.probabilities, large=ui.presenter()),
                                  key=f"miss_{miss.name}", config=charts.NO_TOOLBAR)


def live_camera(run) -> bool:
    """The webcam, classified frame by frame (streamlit-webrtc); False when it is not installed."""
    try:
        from streamlit_webrtc import webrtc_streamer
    except ImportError:
        return False
    from catdog_core.live import LiveClassifier

    service = ui.service
    classifier = LiveClassifier(lambda frame: service.classify_frame(run.run_id, frame))

    def on_frame(frame):
        import av

        shown, _ = classifier(frame.to_ndarray(format="rgb24"))
        return av.VideoFrame.from_ndarray(shown, format="rgb24")

    # No STUN server: the browser and this server meet on localhost (or the class's own network).
    webrtc_streamer(key=f"live_{run.run_id}", video_frame_callback=on_frame,
                    rtc_configuration={"iceServers": []},
                    media_stream_constraints={"video": True, "audio": False})
    st.caption("The label and its probability are drawn over the video.")
    return True


st.title("Classify your own photos")

listing = runs.list_runs()
transfer = ui.default_run(listing.runs, "transfer")
job = ui.session_job()
# Only this session's own training: another student's job would redraw its curves here every second.
mine = job is not None and st.session_state.get(ui.JOB_KEY) == job.job_id
if transfer is None:
    if not ui.data_available():
        st.info("There is no trained model yet, and no dataset to train one on: the Home page says how "
                "to get the cats-and-dogs photos (or upload your own classes on the Dataset page).")
    else:
        st.info("There is no trained transfer-learning model (model 4) on your dataset yet. Train one here "
                f"with the quick preset: {jobs.quick_spec().epochs} epochs on cached MobileNetV2 features, "
                "well under a minute on a laptop CPU.")
        if not (mine and job.active and job.spec.recipe == "transfer"):
            if st.button("Train a quick model now", type="primary", icon=":material/bolt:"):
                ui.submit(jobs.quick_spec(ui.data_source()))
if mine and (job.active or job.spec.recipe == "transfer"):
    ui.job_panel(job.job_id, "classify")

if not listing.runs:
    st.stop()

run = ui.run_picker("Model", "classify_run", listing.runs, recipe="transfer", placeholder="Choose a trained model")
if run is None:
    st.info("No model was trained on your dataset yet; choose one above or train the quick model.")
    st.stop()
st.caption(f"Answering: run {ui.plain(run.run_id)} ({ui.plain(run.recipe)}), classes "
           f"{ui.plain(', '.join(run.class_names))}; validation {metrics.verdict(run.val_accuracy, run.val_count)}. "
           "The best transfer run on your dataset is chosen by default.")
try:
    with st.spinner("Loading the model…"):  # while the student picks a photo, not after
        model = ui.service.open_model(run.run_id)
except CatdogError as exc:
    st.error(ui.plain(str(exc)))
    st.stop()

heatmap = False
if model.explains:
    heatmap = st.toggle("Show where the model looked", value=True, key="classify_gradcam",
                        help="Grad-CAM: red marks the regions whose MobileNetV2 features pushed the "
                             "predicted class's score up, blue the regions it ignored.")
else:
    st.caption(explain.UNSUPPORTED)

classify_tab, check_tab = st.tabs(["Classify photos", "Check labelled photos"])
with classify_tab:
    uploads = ui.file_uploader("Upload one or several images (JPEG, PNG, WebP, BMP or GIF)",
                               key="classify_files", multiple=True)
    camera = st.radio("Camera", ["off", "live", "snapshot"], horizontal=True, key="classify_camera_mode",
                      help="Live: a prediction on every video frame the model keeps up with. Browsers allow a "
                           "camera only on localhost or over HTTPS.")
    if camera == "live" and not live_camera(run):
        st.caption("Live video needs the streamlit-webrtc package; here is the snapshot camera instead.")
        camera = "snapshot"
    if camera == "snapshot":
        photo = st.camera_input("Take a photo", key="classify_photo")
        if photo is not None:
            show_prediction(run, "camera photo", photo.getvalue(), heatmap, "camera")
    summary = st.empty()  # filled once every file is classified
    labels = [show_prediction(run, upload.name, upload.getvalue(), heatmap, f"upload_{i}")
              for i, upload in enumerate(uploads or [])]
    labels = [label for label in labels if label is not None]
    if len(labels) > 1:
        summary.markdown(f"**In this batch:** {ui.plain(predict.tally(labels, run.class_names))}")
with check_tab:
    labelled_check(run, heatmap)

with st.expander("Show the code", icon=":material/code:"):
    st.code(codegen.classify(f"{run.run_id}.keras", run.class_names), language="python")
