"""Augmentation: move the sliders and see nine random variants of one image."""

import hashlib
import random

import streamlit as st

from catdog_core import augment, charts, codegen, dataset, images, models
from catdog_core.augment import AugmentSettings
import ui
from ui import augcheck

ui.page_setup()

FIELDS = ("flip", "rotation", "zoom", "translation", "contrast", "brightness", "seed")


@st.cache_resource(max_entries=64, show_spinner=False)
def copies_figure(image_key: str, settings: dict, _image):
    """Nine copies drawn by the model service, as one figure shared by every session. Keyed by the
    image's content key (the dataset's key and the photo's place in it, or an upload's digest) and
    the settings: hashing the pixels, and copying nine images out of a data cache, on every run were
    a sixth of the web server's time under a class."""
    copies = ui.shared_service().preview(_image, settings, 9)
    return charts.picture_sheet(copies) if len(copies) else None


def _load_widgets(settings: AugmentSettings) -> None:
    for name in FIELDS:
        st.session_state[f"aug_{name}"] = getattr(settings, name)


def _reset() -> None:
    st.session_state[ui.SETTINGS_KEY] = AugmentSettings()
    _load_widgets(AugmentSettings())


def train_with_settings() -> None:
    """To the Training page with a recipe that uses these settings: the one chosen there if it does,
    else model 2 (model 1, the baseline, ignores augmentation and said "Augmentation: none")."""
    chosen = st.session_state.get("recipe")
    if chosen not in models.RECIPES or not models.RECIPES[chosen].uses_augmentation:
        st.session_state["recipe"] = next(n for n, r in models.RECIPES.items() if r.uses_augmentation)
    st.switch_page("pages/training.py")


def _random_index(size: int) -> None:
    st.session_state["aug_index"] = random.randrange(size)


st.title("Data augmentation")
st.markdown(
    "With only 2,000 training images a network soon memorises them. Random flips and rotations "
    "(the post's `RandomFlip` and `RandomRotation(0.2)`) show it a new variant of every image in "
    "every epoch. Move a control and the nine copies below are drawn again."
)

# Widgets start from the stored settings, so leaving the page and coming back keeps them.
for name in FIELDS:
    st.session_state.setdefault(f"aug_{name}", getattr(ui.current_settings(), name))

chooser, controls, grid = st.columns([1, 1, 2], gap="medium")

with chooser:
    st.subheader("Image")
    source = st.radio("Take an image from", ["the dataset", "my upload"], horizontal=True, key="aug_source")
    image = image_key = None
    if source == "the dataset":
        loaded = ui.load_data()
        if loaded is not None:
            split = st.selectbox("Split", dataset.SPLITS, key="aug_split")
            part = loaded.split(split)
            if len(part):
                if "aug_index" not in st.session_state:  # first visit: a clear, well-lit photo, not file 0
                    st.session_state["aug_index"] = dataset.clear_example(part)
                st.session_state["aug_index"] = min(st.session_state["aug_index"], len(part) - 1)
                st.number_input(f"Image number (0 to {len(part) - 1})", 0, len(part) - 1, key="aug_index")
                st.button("Random image", on_click=_random_index, args=(len(part),), icon=":material/casino:")
                index = st.session_state["aug_index"]
                image = part.images[index]
                image_key = f"{loaded.key}/{split}/{index}"
                st.image(image, caption=ui.plain(f"{loaded.class_names[part.labels[index]]} · {part.files[index]}"))
            else:
                st.info(f"The {split} split is empty.")
    else:
        upload = ui.file_uploader("Upload an image (JPEG, PNG, WebP, BMP or GIF)", key="aug_upload")
        if upload is not None:
            with ui.refusal(f"{images.safe_display_name(upload.name)}: "):
                _, image = ui.service.picture(upload.getvalue())
                image_key = hashlib.blake2b(upload.getvalue(), digest_size=16).hexdigest()
                st.image(image, caption=ui.plain(images.safe_display_name(upload.name)))

with controls:
    st.subheader("Settings")
    st.radio("Flip", list(augment.FLIP_MODES), horizontal=True, key="aug_flip")
    st.slider("Rotation factor (fraction of a full turn)", 0.0, 0.5, step=0.01, key="aug_rotation")
    degrees = st.empty()  # filled once the settings are checked
    st.slider("Zoom (±)", 0.0, 0.5, step=0.05, key="aug_zoom")
    st.slider("Translation (± fraction of the size)", 0.0, 0.5, step=0.05, key="aug_translation")
    st.slider("Contrast (±)", 0.0, 0.9, step=0.05, key="aug_contrast")
    st.slider("Brightness (±)", 0.0, 0.9, step=0.05, key="aug_brightness")
    st.number_input("Seed", 0, 2**31 - 1, step=1, key="aug_seed",
                    help="The same seed and settings draw the same nine copies.")

    values = {name: st.session_state[f"aug_{name}"] for name in FIELDS}
    values.update({k: round(float(values[k]), 4) for k in FIELDS[1:-1]})
    values["seed"] = int(values["seed"])
    settings = ui.current_settings()  # what these values were refused for keeps the last good settings
    with ui.refusal():
        settings = AugmentSettings(**values)
    st.session_state[ui.SETTINGS_KEY] = settings
    degrees.caption(f"{settings.rotation:g} = up to ±{settings.rotation_degrees:.0f}°")

with grid:
    st.subheader("Nine augmented copies")
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("Reset to the post's settings", on_click=_reset, icon=":material/restart_alt:")
        if st.button("Train with these settings", icon=":material/model_training:", key="aug_train"):
            train_with_settings()
    if image is None:
        st.caption("Choose an image on the left to see it augmented.")
    else:
        sheet = None
        with ui.refusal(), st.spinner("Drawing nine random variants…"):
            sheet = copies_figure(image_key, settings.to_dict(), image)
        if sheet is not None:
            # One figure with the nine inside it, not nine st.image files: a quick slider ends runs whose
            # files the browser has not fetched yet, and Streamlit deletes those (broken images).
            st.plotly_chart(sheet, key="aug_grid", config={"staticPlot": True})
    # Right under the copies, written just after them: the text never describes other pictures.
    st.markdown(f"In use: **{augment.describe(settings)}**. The Training page uses these settings for "
                "models 2, 3 and 4 (model 1, the baseline, uses none).")

with st.expander("Show the code", icon=":material/code:"):
    st.code(codegen.augmentation_page(settings), language="python", wrap_lines=True)

st.divider()
augcheck.section(settings)
st.divider()
augcheck.gap_section(settings)
