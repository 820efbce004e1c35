"""Dataset: a few examples of every class, the label balance, and how the splits are made."""

import random

import streamlit as st

from catdog_core import charts, dataset, uploads
from catdog_core.errors import CatdogError
import ui

ui.page_setup()

st.title("The dataset")

with st.expander("Use your own classes", icon=":material/upload:"):
    st.markdown("Upload a **zip** holding one folder of images per class (`apples/*.jpg`, `pears/*.jpg`, …), "
                "or the post's `train/` and `validation/` folders. At least two classes with "
                f"{dataset.MIN_IMAGES_PER_CLASS} images each. Every page of your session then uses these "
                "classes; the sidebar has the button back to cats and dogs.")
    upload = ui.file_uploader("Zip of class folders", key="own_classes_zip")
    if upload is not None and st.button("Use these classes", type="primary", icon=":material/check:"):
        bar = ui.ProgressBar()
        try:
            with st.spinner("Checking and decoding the images…"):
                path = uploads.import_zip(upload.getvalue(), upload.name, progress=bar)
        except CatdogError as exc:
            st.error(ui.plain(str(exc)))
        else:
            st.session_state[ui.SOURCE_KEY] = str(path)
            st.rerun()
        finally:
            bar.clear()

loaded = ui.load_data()
if loaded is None:
    st.stop()

st.caption(f"{ui.plain(loaded.source.description)} · {len(loaded.class_names)} classes · images resized to 160×160")

st.subheader("A few training images")
seed = st.session_state.setdefault("gallery_seed", 0)
for name, images in dataset.pick_examples(loaded, 3, seed):
    st.markdown(f"**{ui.plain(name)}**")
    cols = st.columns(6)
    for col, image in zip(cols, images):
        col.image(image, caption=name, width="stretch")


def _new_examples():
    st.session_state["gallery_seed"] = random.randrange(2**31)


st.button("Show other examples", on_click=_new_examples, icon=":material/shuffle:")

st.subheader("Is it balanced?")
counts = dataset.label_counts(loaded)
left, right = st.columns([3, 2])
left.plotly_chart(charts.label_counts(counts))
baseline = dataset.majority_baseline(loaded, "validation")
tied = dataset.majority_classes(loaded)
if len(tied) == 1:
    guess = f"Always answering **{ui.plain(tied[0])}**, the most common class in the training split,"
else:
    guess = (f"The training split has as many images of {ui.plain(' and '.join(tied))}, so always answering "
             "any one of them")
right.markdown(
    f"{guess} would be right on about **{baseline:.0%}** of the validation images. A model has to beat that "
    "number before it has learned anything."
)
right.info(
    "**The test split stays put.** About one fifth of the validation images are test images, each "
    "chosen by a hash of its own file name, so the test set never overlaps validation, never changes "
    "between epochs or runs, and adding a photo never moves another. The blog post takes its test "
    "batches with `take`/`skip` from a dataset that reshuffles on every pass, so its test images "
    "change each time and mix with validation."
)
if loaded.auto_split:
    right.caption("This folder had no train/ and validation/ folders: 20 % of each class became "
                  "validation, chosen with the same fixed seed.")

st.subheader("Skipped files")
if loaded.skipped:
    st.warning(f"{len(loaded.skipped)} file(s) were left out because they are not usable images.")
    st.dataframe([{"file": s.path, "reason": s.reason} for s in loaded.skipped], hide_index=True)
else:
    st.caption("None: every file decoded as an image.")
for note in loaded.notes:
    st.caption(ui.plain(note))
