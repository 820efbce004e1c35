"""Classify: upload photos (or take one) and see what a trained model says."""

import streamlit as st

from catdog_core import calibration, charts, codegen, evaluate, jobs, metrics, predict, runs
from catdog_core.uploads import MAX_UPLOAD_ZIP_BYTES
from catdog_core.words import count
import ui
from ui.heatmap import view_picker
from ui.photocard import card_columns, show_prediction
from ui.photogrid import CARDS_UP_TO, photo_grid

ui.page_setup()


def offer_a_model(listing, job) -> None:
    """Without a transfer model on the data in use, how to get one (the quick preset, one click);
    this session's training panel while its model is on its way or was asked for here."""
    mine = job is not None
    if ui.default_run(listing.runs, "transfer") is None:
        if not ui.data_available():
            st.info("There is no trained model yet, and no dataset to train one on: the Home page says how "
                    "to get the cats-and-dogs photos (or upload your own classes on the Dataset page).")
        else:
            st.info("There is no trained transfer-learning model (model 4) on your dataset yet. Train one here "
                    f"with the quick preset: {jobs.quick_spec().epochs} epochs on cached MobileNetV2 features."
                    + ui.quick_time_note(listing.runs))
            if not (mine and job.active and job.spec.recipe == "transfer"):
                if st.button("Train a quick model now", type="primary", icon=":material/bolt:"):
                    ui.submit(jobs.quick_spec(ui.data_source()), origin="classify")
    # A model on its way, or the one asked for here; a training finished on another page stays there.
    if mine and ((job.active and job.spec.recipe == "transfer") or ui.started_on(job, "classify")):
        ui.job_panel(job.job_id, "classify")


def answer_options(run) -> tuple[str | None, bool, float | None]:
    """(view, whether the labelled check's misses show Grad-CAM, temperature or None): the model
    opened, where it looked, and calibrated probabilities if the run has a fitted temperature."""
    with ui.refusal(stop=True), st.spinner("Loading the model…"):  # while the student picks a photo, not after
        model = ui.service.open_model(run.run_id)
    view = view_picker(model.explains)
    heatmap = view is not None and model.explains  # the labelled check's misses show Grad-CAM (one pass each)
    fitted = calibration.temperature_of(run)
    temperature = fitted if fitted is not None and st.toggle(
        f"Calibrated probabilities (temperature {fitted:.2f})", key="classify_calibrated",
        help="Every logit divided by the temperature fitted on the validation split (Evaluate shows how sure "
             "the model is against how often it is right). The answer never changes, only how sure it is.") else None
    return view, heatmap, temperature


def classify_photos(run, view: str | None, temperature: float | None) -> None:
    """The uploads and the camera, each photo answered (full cards, or a grid past CARDS_UP_TO),
    and the batch's tally above them."""
    uploads = ui.file_uploader("Upload one or several images (JPEG, PNG, WebP, BMP or GIF)",
                               key="classify_files", multiple=True)
    camera_photo(run, view, temperature)
    summary = st.empty()  # filled once every file is classified
    if len(uploads or []) > CARDS_UP_TO:
        labels = photo_grid(run, uploads, view)
    else:
        labels = [show_prediction(run, upload.name, upload.getvalue(), view, f"upload_{i}", temperature)
                  for i, upload in enumerate(uploads or [])]
    labels = [label for label in labels if label is not None]
    if len(labels) > 1:
        summary.markdown(f"**In this batch:** {ui.plain(predict.tally(labels, run.class_names))}")


def camera_photo(run, view: str | None, temperature: float | None) -> None:
    """The camera, off, live (when streamlit-webrtc is installed) or a snapshot, and its photo's card."""
    no_camera = ui.camera_problem()
    if no_camera:
        st.info(no_camera)  # the class's own address, a link
    camera = "off" if no_camera else st.radio(
        "Camera", ["off", "live", "snapshot"], horizontal=True, key="classify_camera_mode",
        help="Live: a prediction on every video frame the model keeps up with.")
    if camera == "live" and not live_camera(run):
        st.caption("Live video needs the streamlit-webrtc package; here is the snapshot camera instead.")
        camera = "snapshot"
    if camera == "snapshot":
        photo = st.camera_input("Take a photo", key="classify_photo")
        if photo is not None:
            show_prediction(run, "camera photo", photo.getvalue(), view, "camera", temperature)


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



def labelled_check(run, heatmap: bool) -> None:
    """Photos whose class is known (a zip of class folders, or files named by class):
    how many the model gets right, the confusion, and each miss with where it looked."""
    st.markdown("Upload photos whose class you know: a **zip of class folders** "
                f"(`{ui.plain(run.class_names[0])}/…`, `{ui.plain(run.class_names[1])}/…`) or files **named by "
                f"class** (`{ui.plain(run.class_names[0])}_01.jpg`, …). The model's answers are checked against them.")
    files = ui.file_uploader("Labelled photos or a zip", key="check_files", multiple=True,
                             limit=MAX_UPLOAD_ZIP_BYTES)
    if not files:
        return
    with ui.refusal() as said:
        items = evaluate.labelled_items([(upload.name, upload.getvalue()) for upload in files])
        with st.spinner(f"Classifying {count(len(items), 'photo')}…"):
            result = ui.service.check_labelled(run.run_id, items, heatmap)
    if said.error:
        return
    left_out(result)
    if not result.total:
        return
    check_score(result)
    left, right = st.columns([3, 2])
    left.plotly_chart(ui.figure(charts.confusion_matrix, result.confusion, result.class_names,
                                "Your photos: confusion", large=ui.presenter()),
                      key="check_confusion", config=charts.NO_TOOLBAR)
    right.markdown("Each row is the class the photo really shows, each column what the model said.")
    check_misses(result)


def left_out(result) -> None:
    """The files a labelled check could not use: no class in their name or folder, or refused."""
    if result.unlabelled:
        n = len(result.unlabelled)
        st.warning(("1 file has no class in its name or folder and was left out: " if n == 1 else
                    f"{n:,} files have no class in their name or folder and were left out: ")
                   + ui.plain(", ".join(result.unlabelled[:10])) + ("…" if len(result.unlabelled) > 10 else "."))
    for name, why in result.refused:
        st.error(ui.plain(f"{name}: {why}"))


def check_score(result) -> None:
    """How many the model got right, and which photos it trained on or that are unlike its training photos."""
    st.metric("Right", f"{result.right} of {result.total}",
              help=metrics.verdict(result.right / result.total, result.total))
    st.caption(f"Accuracy: {metrics.verdict(result.right / result.total, result.total)}.")
    if result.seen:
        st.warning(seen_in_check(result))
    if result.unlike:
        n = len(result.unlike)
        st.info(f"{count(n, 'photo')} of these {'does' if n == 1 else 'do'} not look like the training photos "
                f"(none of the above?): {ui.plain(', '.join(result.unlike[:5]))}{'…' if n > 5 else ''}. "
                "The model still had to answer one of its classes for each.")


def check_misses(result) -> None:
    """Each miss of a labelled check, the most confident first: the photo, where it looked, its bars."""
    if not result.misses:
        st.success("No misses.")
        return
    st.subheader("The miss" if result.miss_count == 1 else f"The {result.miss_count} misses, the most confident first")
    for i, miss in enumerate(result.misses):
        with st.container(border=True):
            photo, looked, said = card_columns(miss.looked is not None)
            photo.image(miss.picture, caption=ui.plain(miss.name), width="stretch")
            if looked is not None:
                looked.image(miss.looked, caption=f"where it looked for {ui.plain(miss.prediction.label)}",
                             width="stretch")
            said.markdown(f"**{ui.plain(miss.true_label)}**, said **{ui.plain(miss.prediction.label)}**")
            said.plotly_chart(ui.figure(charts.probabilities, miss.prediction.probabilities, large=ui.presenter()),
                              key=f"miss_{i}", config=charts.NO_TOOLBAR)


def seen_in_check(result) -> str:
    """How many of a labelled check's photos the model trained on, and its accuracy without them."""
    n, left = len(result.seen), result.total - len(result.seen)
    names = ui.plain(", ".join(result.seen[:5]) + ("…" if n > 5 else ""))
    them = "it" if n == 1 else "them"
    without = (f"{result.right_unseen} of {left} right, {metrics.verdict(result.right_unseen / left, left)}"
               if left else "no photo is left")
    return (f"{count(n, 'photo')} of these {result.total} {'is' if n == 1 else 'are'} in the training set "
            f"({names}): the model has seen {them}. Without {them}: {without}.")



st.title("Classify your own photos")

listing = runs.list_runs()
offer_a_model(listing, ui.session_job())  # this session's own job, on the data in use
if not listing.runs:
    st.stop()

run = ui.run_picker("Model", "classify_run", listing.runs, recipe="transfer", placeholder="Choose a trained model")
if run is None:
    st.info("No model was trained on your dataset yet; choose one above or train the quick model.")
    st.stop()
st.caption(f"Answering: run {ui.plain(run.run_id)} ({ui.plain(run.recipe)}), classes "
           f"{ui.plain(', '.join(run.class_names))}; validation {metrics.verdict(run.val_accuracy, run.val_count)}.")
view, heatmap, temperature = answer_options(run)

classify_tab, check_tab = st.tabs(["Classify photos", "Check labelled photos"])
with classify_tab:
    classify_photos(run, view, temperature)
with check_tab:
    labelled_check(run, heatmap)

with st.expander("Show the code", icon=":material/code:"):
    st.code(codegen.classify(f"{run.run_id}.keras", run.class_names), language="python", wrap_lines=True)
