"""Classify: upload photos (or take one) and see what a trained model says."""

import streamlit as st

from catdog_core import calibration, charts, codegen, evaluate, explain, images, jobs, metrics, predict, runs
from catdog_core.uploads import MAX_UPLOAD_ZIP_BYTES
from catdog_core.errors import CatdogError
from catdog_core.service import get_service
from catdog_core.words import count
import ui

ui.page_setup()


NONE_OF_THE_ABOVE = "none of the above"  # a batch's tally counts these apart from the classes


def card_columns(with_heatmap: bool):
    """(photo, heatmap or None, answer) places of one photo's card. On a projector the photos take half
    the page each and the answer goes under them: in a quarter of it they stayed 180 pixels wide."""
    if ui.presenter():
        top = st.columns(2, vertical_alignment="center")
        if with_heatmap:
            return top[0], top[1], st.container()
        return top[0], None, top[1]
    if with_heatmap:
        return tuple(st.columns([1, 1, 2], vertical_alignment="center"))
    left, right = st.columns([1, 2], vertical_alignment="center")
    return left, None, right


def show_prediction(run, name: str, data: bytes, view: str | None, key: str,
                    temperature: float | None = None) -> str | None:
    """One file: its image (and where the model looked, `view` one of explain.VIEWS or None), the
    predicted class and a bar per class, or a one-sentence error; with a temperature, the
    probabilities calibrated by it (marked). Returns the predicted label (None for a refused file)."""
    shown_name = images.safe_display_name(name)
    with st.container(border=True):
        try:
            answer = ui.service.classify(run.run_id, data, view == "gradcam")
            picture, prediction = answer.picture, answer.prediction
            if temperature is not None:
                scaled = calibration.rescale(prediction.probabilities, temperature)
                prediction = predict.Prediction(prediction.label, scaled[prediction.label], scaled)
        except CatdogError as exc:
            st.markdown(f"**{ui.plain(shown_name)}**")
            st.error(ui.plain(str(exc)))
            return None
        left, middle, right = card_columns(view is not None)
        if middle is not None:
            with middle:
                where_it_looked(run, data, view, answer)
        left.image(picture, caption=ui.plain(shown_name), width="stretch")
        unlike = answer.novelty is not None and answer.novelty.out_of_distribution
        if unlike:  # the forced answer stays, greyed: the model cannot say "none of these"
            right.markdown("### None of the above?")
            right.info(ui.plain(answer.novelty.sentence(f"the {' and '.join(run.class_names)}")))
            right.markdown(f":grey[Forced to choose, the model says {ui.plain(prediction.label)}, "
                           f"{prediction.confidence:.1%} sure.]")
        else:
            right.markdown(f"### {ui.plain(prediction.label)}  \n{prediction.confidence:.1%} sure"
                           + (f" (calibrated, T = {temperature:.2f})" if temperature is not None else ""))
        if answer.novelty is not None and not unlike:
            right.caption(ui.plain(answer.novelty.sentence(f"the {' and '.join(run.class_names)}")))
        if answer.seen is not None:
            right.warning(seen_sentence(answer.seen))
        right.plotly_chart(ui.figure(charts.probabilities, prediction.probabilities, large=ui.presenter()),
                           key=f"probabilities_{key}", config=charts.NO_TOOLBAR)
    return NONE_OF_THE_ABOVE if unlike else prediction.label


def seen_sentence(seen) -> str:
    """What a student should know about a photo that is one of the dataset's own (a dataset.SeenPhoto)."""
    if seen.split == "train":
        return (f"This photo is in the training set ({ui.plain(seen.name)}): the model has seen it, so its "
                "answer says little about new photos.")
    return (f"This photo is in the {seen.split} set ({ui.plain(seen.name)}): the model never trained on it, "
            "but its accuracy was already measured on it.")


# What each view's colours mean and when they mislead, shown under the view picker.
VIEW_NOTES = {
    "gradcam": "**Grad-CAM**: red where MobileNetV2's last feature map holds the evidence for the predicted "
               "class (its gradients say so), blue where it holds none. That map has only 5x5 cells of 32 "
               "pixels, blurred up to the photo: red spills off the animal onto the table or the wall, and "
               "the warmest cell can be background. Red means *the features there raised the score*, not "
               "*the model needs this part*. For a sharper answer choose Occlusion (about a second a photo).",
    "occlusion": f"**Occlusion**: the photo is classified {explain.OCCLUSION_GRID ** 2} more times, each time "
                 "with a grey square (a quarter of its side) over another part. Red is where covering the "
                 "photo lowered the model's score for the predicted class the most; blue where covering "
                 "changed nothing or raised it. The score is the log-odds, log(p / (1 − p)): at 99.99 % a "
                 "probability hardly moves when a part is covered, the log-odds still do. It misleads when "
                 "the animal is much bigger than the square (the rest of it still says cat), when grey looks "
                 "like the class (a grey cat), and when the background goes with the class in the training "
                 "photos (a sofa, grass): red there is real, the model uses it. About a second a photo.",
}
COLOURS_ARE_RELATIVE = ("Colours are relative to each photo: its warmest spot is red even when nothing in it "
                        "mattered much.")
# Grad-CAM by default: ~50 ms a photo, where occlusion costs ~1 CPU-s, and a class of thirty shares
# one model service. Occlusion (on the cat for each of the post's first six validation cats, where
# Grad-CAM chose the background for two) is one click away, and the caption says why to use it.
DEFAULT_VIEW = "gradcam"


def view_picker(explains: bool) -> str | None:
    """The 'where it looked' switch and the choice of view (a key of explain.VIEWS), with what its
    colours mean; None when switched off. Without MobileNetV2 (a small CNN) only occlusion works."""
    if not st.toggle("Show where the model looked", value=True, key="classify_gradcam",
                     help="A heatmap over each photo: red where the model found the most evidence for its "
                          "answer, blue where it found none."):
        return None
    choices = list(explain.VIEWS) if explains else ["occlusion"]
    view = st.radio("How", choices, index=choices.index(DEFAULT_VIEW) if DEFAULT_VIEW in choices else 0,
                    format_func=explain.VIEWS.get,
                    horizontal=True, key="classify_view",
                    help="Grad-CAM is instant but coarse; occlusion runs the model dozens of times per photo.")
    st.caption(f"{VIEW_NOTES[view]} {COLOURS_ARE_RELATIVE}")
    if not explains:
        st.caption("Grad-CAM needs the transfer model's MobileNetV2 features; occlusion works for any model.")
    return view


def _percent(p: float) -> str:
    """A probability with the digits that show a change near 0 or 100 % (99.996%, not 100.0%)."""
    if p > 0.999995 or p < 0.000005:
        return "> 99.999%" if p > 0.5 else "< 0.001%"
    digits = 1 if 0.0005 <= p <= 0.9995 else 2 if 0.00005 <= p <= 0.99995 else 3
    return f"{p:.{digits}%}"


def where_it_looked(run, data: bytes, view: str, answer) -> None:
    """One photo's heatmap in the current column: `answer` is its classify() answer (which carries
    the Grad-CAM overlay when asked for view 'gradcam'); other views are asked of the service here."""
    label = ui.plain(answer.prediction.label)
    if view == "gradcam" and answer.looked is not None:
        st.image(answer.looked, caption=f"where it looked for {label}", width="stretch")
        return
    with ui.refusal(show=st.caption) as said, st.spinner("Covering the photo, square by square…"):
        found = ui.service.explain_photo(run.run_id, data, view)
    if said.error:
        return
    st.image(found.looked, caption=f"where it looked for {label}", width="stretch")
    if found.lowest is not None:
        st.caption(f"Covering its reddest square took {label} from {_percent(found.probability)} "
                   f"to {_percent(found.lowest)} (log-odds down {found.largest_drop:.1f}).")


CARDS_UP_TO = 4  # photos shown as full cards; more become a grid of small ones, details on demand
THUMB = 128  # pixels a side of a small card's picture


@st.cache_data(max_entries=512, show_spinner=False)
def quick_answer(run_id: str, created: str, data: bytes):
    """(prediction, square thumbnail, the dataset photo it is or None, whether it is unlike the training
    photos) of one photo, asked of the model service once per run and photo content: rerunning a page of
    forty photos (to open one) asks nothing again."""
    answer = get_service().classify(run_id, data, False)
    unlike = answer.novelty is not None and bool(answer.novelty.out_of_distribution)
    return answer.prediction, images.square_thumbnail(answer.picture, THUMB), answer.seen, unlike


def sure(p: float) -> str:
    """A confidence in whole percent that never rounds up to a certainty: 99.7 % reads >99%."""
    return ">99%" if 0.99 < p < 1 else f"{p:.0%}"


def photo_grid(run, uploads, view: str | None) -> list[str]:
    """Many photos as rows of small cards (a square thumbnail, the label, how sure, and right or
    wrong when the file's name gives its class), and one photo's full card when it is picked.
    Returns the predicted labels."""
    cards = []  # (number shown, upload, name, prediction, thumbnail, class its name gives or None, seen, unlike)
    with st.spinner(f"Classifying {len(uploads)} photos…"):
        for upload in uploads:
            name = images.safe_display_name(upload.name, 28)
            with ui.refusal(f"{name}: ") as said:
                prediction, thumbnail, seen, unlike = quick_answer(run.run_id, run.created, upload.getvalue())
            if said.error:
                continue
            true = evaluate.label_from_name(upload.name, run.class_names)
            cards.append((len(cards) + 1, upload, name, prediction, thumbnail, true, seen, unlike))
    known = [card for card in cards if card[5] is not None]
    if known:
        right = sum(card[3].label == card[5] for card in known)
        st.markdown(f"**Named by class:** {right} of {len(known)} right (a file called `cat.12.jpg` or "
                    f"`dogs_3.png` says what it shows).")
    trained_on = sum(card[6] is not None and card[6].split == "train" for card in cards)
    if trained_on:
        st.warning(f"{count(trained_on, 'photo')} of these {'is' if trained_on == 1 else 'are'} in the training set "
                   "(marked): the model has seen them, so its answers there say little about new photos.")
    strangers = sum(card[7] for card in cards)
    if strangers:
        st.info(f"{count(strangers, 'photo')} of these {'does' if strangers == 1 else 'do'} not look like the "
                f"{ui.plain(' and '.join(run.class_names))} the model learned from (marked *none of the above?*): "
                "the model still had to pick one of its classes.")
    by_number = {card[0]: card for card in cards}
    picked = st.selectbox("Details for one photo", list(by_number), index=None, key="classify_detail",
                          format_func=lambda n: f"{n} · {by_number[n][2]}",
                          placeholder="Pick a photo: its bars and where the model looked")
    if picked is not None:
        upload = by_number[picked][1]
        show_prediction(run, upload.name, upload.getvalue(), view, "detail")
    per_row = 4 if ui.presenter() else 6
    for start in range(0, len(cards), per_row):
        for column, (number, _, name, prediction, thumbnail, true, seen, unlike) in zip(st.columns(per_row),
                                                                                 cards[start:start + per_row]):
            verdict = "" if true is None else (" :green[✓ right]" if prediction.label == true
                                               else f" :red[✗ is {ui.plain(true)}]")
            known = f"  \n:orange[in the {seen.split} set]" if seen is not None else ""
            said = (f"**none of the above?** :grey[{ui.plain(prediction.label)} {sure(prediction.confidence)}]"
                    if unlike else f"**{ui.plain(prediction.label)}** {sure(prediction.confidence)}")
            column.image(thumbnail, width="stretch",
                         caption=f"{said}{verdict}  \n"
                                 f"{number} · {ui.plain(name)}{known}")
    return [NONE_OF_THE_ABOVE if card[7] else card[3].label for card in cards]


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
    if result.unlabelled:
        n = len(result.unlabelled)
        st.warning(("1 file has no class in its name or folder and was left out: " if n == 1 else
                    f"{n:,} files have no class in their name or folder and were left out: ")
                   + ui.plain(", ".join(result.unlabelled[:10])) + ("…" if len(result.unlabelled) > 10 else "."))
    for name, why in result.refused:
        st.error(ui.plain(f"{name}: {why}"))
    if not result.total:
        return
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
    left, right = st.columns([3, 2])
    left.plotly_chart(ui.figure(charts.confusion_matrix, result.confusion, result.class_names,
                                "Your photos: confusion", large=ui.presenter()),
                      key="check_confusion", config=charts.NO_TOOLBAR)
    right.markdown("Each row is the class the photo really shows, each column what the model said.")
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
job = ui.session_job()  # this session's own, on the data in use
mine = job is not None
if transfer is None:
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

if not listing.runs:
    st.stop()

run = ui.run_picker("Model", "classify_run", listing.runs, recipe="transfer", placeholder="Choose a trained model")
if run is None:
    st.info("No model was trained on your dataset yet; choose one above or train the quick model.")
    st.stop()
st.caption(f"Answering: run {ui.plain(run.run_id)} ({ui.plain(run.recipe)}), classes "
           f"{ui.plain(', '.join(run.class_names))}; validation {metrics.verdict(run.val_accuracy, run.val_count)}.")
with ui.refusal(stop=True), st.spinner("Loading the model…"):  # while the student picks a photo, not after
    model = ui.service.open_model(run.run_id)

view = view_picker(model.explains)
heatmap = view is not None and model.explains  # the labelled check's misses show Grad-CAM (one pass each)
fitted = calibration.temperature_of(run)
temperature = fitted if fitted is not None and st.toggle(
    f"Calibrated probabilities (temperature {fitted:.2f})", key="classify_calibrated",
    help="Every logit divided by the temperature fitted on the validation split (Evaluate shows how sure "
         "the model is against how often it is right). The answer never changes, only how sure it is.") else None

classify_tab, check_tab = st.tabs(["Classify photos", "Check labelled photos"])
with classify_tab:
    uploads = ui.file_uploader("Upload one or several images (JPEG, PNG, WebP, BMP or GIF)",
                               key="classify_files", multiple=True)
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
    summary = st.empty()  # filled once every file is classified
    if len(uploads or []) > CARDS_UP_TO:
        labels = photo_grid(run, uploads, view)
    else:
        labels = [show_prediction(run, upload.name, upload.getvalue(), view, f"upload_{i}", temperature)
                  for i, upload in enumerate(uploads or [])]
    labels = [label for label in labels if label is not None]
    if len(labels) > 1:
        summary.markdown(f"**In this batch:** {ui.plain(predict.tally(labels, run.class_names))}")
with check_tab:
    labelled_check(run, heatmap)

with st.expander("Show the code", icon=":material/code:"):
    st.code(codegen.classify(f"{run.run_id}.keras", run.class_names), language="python", wrap_lines=True)
