"""What if: change one photo by hand and watch the model's probabilities move."""

import io
import time

import streamlit as st
from PIL import Image

from catdog_core import charts, dataset, images, runs
from catdog_core.lessons import whatif
import ui

ui.page_setup()

SLIDERS = {"wi_rotation": 0.0, "wi_zoom": 1.0, "wi_brightness": 0.0, "wi_contrast": 1.0, "wi_patch_on": False,
           "wi_patch_row": 3, "wi_patch_col": 3, "wi_patch_size": 0.3}


def _reset() -> None:
    st.session_state.update(SLIDERS)


@st.cache_data(max_entries=256, show_spinner=False)
def answer(run_id: str, picture) -> tuple:
    """(prediction, seconds) for one changed picture; keyed by the run and the picture's pixels, so
    going back to a setting already seen costs nothing."""
    started = time.perf_counter()
    prediction = ui.service.classify_frame(run_id, picture)
    return prediction, time.perf_counter() - started


def png(picture) -> bytes:
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


def dataset_photo():
    """(picture, name) of the validation photo picked by number, or (None, "") without one."""
    loaded = ui.load_data()
    if loaded is None:
        return None, ""
    part = loaded.split("validation")
    if not len(part):
        st.info("The validation split is empty.")
        return None, ""
    if "wi_index" not in st.session_state:
        st.session_state["wi_index"] = dataset.clear_example(part)
    st.session_state["wi_index"] = min(st.session_state["wi_index"], len(part) - 1)
    st.number_input(f"Validation photo (0 to {len(part) - 1})", 0, len(part) - 1, key="wi_index")
    index = st.session_state["wi_index"]
    return part.images[index], f"{loaded.class_names[part.labels[index]]} · {part.files[index].rsplit('/', 1)[-1]}"


def uploaded_photo():
    """(picture, name) of the student's own photo as the model sees it, or (None, "") without one."""
    upload = ui.file_uploader("Upload a photo (JPEG, PNG, WebP, BMP or GIF)", key="wi_upload")
    if upload is None:
        return None, ""
    picture, name = None, ""
    with ui.refusal(f"{images.safe_display_name(upload.name)}: "):
        _, picture = ui.service.picture(upload.getvalue())
        name = images.safe_display_name(upload.name)
    return picture, name


def pick_photo():
    """The photo to change (None without one), from the dataset or an upload, shown as it is."""
    st.subheader("Photo")
    source = st.radio("Take a photo from", ["the dataset", "my upload"], horizontal=True, key="wi_source")
    picture, name = dataset_photo() if source == "the dataset" else uploaded_photo()
    if picture is not None:
        st.image(picture, caption=ui.plain(f"as it is: {name}"), width="stretch")
    return picture


def change_controls() -> None:
    """The sliders of the change (their values live in the session, under SLIDERS' keys)."""
    st.subheader("Change it")
    # Formats that read as what they are: "150°", not "150.00".
    st.slider("Turn (degrees)", -180.0, 180.0, step=5.0, key="wi_rotation", format="%+.0f°")
    st.slider("Zoom into the centre", 1.0, 3.0, step=0.1, key="wi_zoom", format="%.1f×")
    st.slider("Brightness", -1.0, 1.0, step=0.05, key="wi_brightness", format="%+.2f")
    st.slider("Contrast", 0.0, 3.0, step=0.1, key="wi_contrast", format="%.1f×")
    st.toggle("Grey patch", key="wi_patch_on")
    if st.session_state["wi_patch_on"]:
        st.select_slider("Patch row", list(range(1, whatif.GRID + 1)), key="wi_patch_row")
        st.select_slider("Patch column", list(range(1, whatif.GRID + 1)), key="wi_patch_col")
        st.slider("Patch size (share of the side)", 0.1, 0.6, step=0.05, key="wi_patch_size")
    st.button("Back to the photo as it is", on_click=_reset, icon=":material/restart_alt:", wrap=True)


def chosen_change() -> whatif.Change:
    """The change the sliders say (rounded, so that a setting seen before is answered from memory)."""
    state = st.session_state
    return whatif.Change(rotation=float(state["wi_rotation"]), zoom=float(state["wi_zoom"]),
                         brightness=round(float(state["wi_brightness"]), 4),
                         contrast=round(float(state["wi_contrast"]), 4),
                         patch=(int(state["wi_patch_row"]) - 1, int(state["wi_patch_col"]) - 1)
                         if state["wi_patch_on"] else None, patch_size=round(float(state["wi_patch_size"]), 4))


@st.fragment
def play(run_id: str, picture) -> None:
    """The sliders and the answer: a slider reruns only this part of the page, not the photo
    picker, the run picker or the sidebar, so the bars follow the hand."""
    controls, result = st.columns([1, 1.3], gap="medium")
    with controls:
        change_controls()
    if picture is None:
        return
    change = chosen_change()
    changed = whatif.apply(picture, change)
    with result:
        st.subheader("What the model says")
        with ui.refusal() as said:
            before, _ = answer(run_id, picture)
            after, seconds = answer(run_id, changed)
        if said.error:
            return
        show_answer(before, after, seconds, changed, change)
        occlusion_map(run_id, changed)


def show_answer(before, after, seconds: float, changed, change: whatif.Change) -> None:
    """The changed photo, the top class's probability and how far it moved, the bars."""
    st.image(changed, caption=ui.plain(change.describe()), width="stretch")
    top = after.label
    moved = round(100 * (after.probabilities[top] - before.probabilities.get(top, 0.0)), 1)
    # A change that rounds to nothing is grey and unsigned: "↓ -0.0 %" in red said the photo got worse.
    said = f"{moved:+.1f} %" if moved else "±0.0 %"
    st.metric(ui.plain(top), f"{after.probabilities[top]:.1%}",
              delta=None if change.is_identity else f"{said} from the photo as it is",
              delta_color="normal" if moved else "off", delta_arrow="auto" if moved else "off")
    st.plotly_chart(charts.probabilities(after.probabilities, large=ui.presenter()), config=charts.NO_TOOLBAR,
                    key="wi_probabilities")
    st.caption(f"Answered in {seconds * 1000:.0f} ms by the model service (the same resize as every photo); "
               "a setting seen before is answered from memory.")


def occlusion_map(run_id: str, changed) -> None:
    """On request, where covering the changed photo lowers its answer the most."""
    if st.button("Where does covering it hurt? (occlusion map)", icon=":material/grid_on:", key="wi_occlusion",
                 wrap=True):  # its whole question, on two lines in a narrow column
        with ui.refusal() as said, st.spinner("Sliding a grey patch over the photo…"):
            shown = ui.service.explain_photo(run_id, png(changed), "occlusion")
        if not said.error:
            st.image(shown.looked, width="stretch",
                     caption=ui.plain(f"red: covering this part lowers {shown.class_name} the most "
                                      f"({shown.probability:.0%} for the whole photo)"))


st.title("What if…")
st.markdown("A model's answer is only as steady as the photo. Turn it, zoom in, make it darker or flatter, or "
            "cover a part with a grey patch, and watch the probabilities move. A good model shrugs off a small "
            "turn; covering the face of a cat is another matter.")

for name, value in SLIDERS.items():
    st.session_state.setdefault(name, value)

listing = runs.list_runs()
run = ui.run_picker("Model", "whatif_run", listing.runs, recipe="transfer", placeholder="Choose a trained model")
if run is None:
    st.info("There is no trained model yet: the Training page's Quick transfer makes one."
            + ui.quick_time_note(listing.runs))
    st.stop()

with ui.refusal(stop=True), st.spinner("Loading the model…"):  # the first answer would otherwise wait for it
    ui.service.open_model(run.run_id)

pick, rest = st.columns([1, 2.3], gap="medium")
with pick:
    picture = pick_photo()
with rest:
    play(run.run_id, picture)

with st.expander("Show the code", icon=":material/code:"):
    st.code('''import numpy as np
from PIL import Image

def changed(photo, degrees=0, zoom=1.0, brightness=0.0, contrast=1.0, patch=None, size=0.3):
    """photo: 160x160x3 uint8. The same steps this page takes, in a few lines."""
    h, w = photo.shape[:2]
    image = Image.fromarray(photo).rotate(degrees, resample=Image.BILINEAR)
    box = (w / 2 - w / (2 * zoom), h / 2 - h / (2 * zoom), w / 2 + w / (2 * zoom), h / 2 + h / (2 * zoom))
    out = np.asarray(image.resize((w, h), Image.BILINEAR, box=box)).astype("float32")
    out = out.mean(axis=(0, 1)) + (out - out.mean(axis=(0, 1))) * contrast + brightness * 255
    out = np.clip(out, 0, 255).astype("uint8")
    if patch is not None:  # (row, column) on a 5x5 board
        top, left = int((patch[0] + 0.5) * h / 5 - size * h / 2), int((patch[1] + 0.5) * w / 5 - size * w / 2)
        out[max(top, 0):top + int(size * h), max(left, 0):left + int(size * w)] = 128
    return out

probabilities = tf.nn.softmax(model(changed(photo, degrees=30)[None]))[0]  # the model takes 0..255 pixels''',
            language="python", wrap_lines=True)
