"""Dataset: a few examples of every class, the label balance, and how the splits are made."""

import random

import streamlit as st

from catdog_core import charts, codegen, dataset, uploads
import ui

ui.page_setup()

st.title("The dataset")

def earlier_uploads(earlier: list) -> None:
    """A student's own uploads and those the teacher shared; the teacher's view has every one, and
    the switch that shares one with the class. The library checks who may remove or share."""
    if not earlier:
        return
    st.markdown("**Or open one uploaded before** (kept on this machine; only you and the teacher see yours):")
    by_path = {str(s.path): s for s in earlier}
    chosen = st.selectbox("Earlier uploads", list(by_path), key="earlier_upload",
                          format_func=lambda p: f"{by_path[p].name} · {', '.join(by_path[p].classes)} · "
                                                f"{by_path[p].images} images" + " · shared" * by_path[p].shared)
    open_col, remove_col = st.columns(2)
    if open_col.button("Open these classes", key="open_earlier", icon=":material/folder_open:"):
        ui.use_data(chosen)
    mine = ui.is_teacher() or ui.owner() in by_path[chosen].owners
    if mine and remove_col.button("Remove this upload", key="remove_earlier", icon=":material/delete:",
                                  disabled=chosen == ui.data_source(),
                                  help="Its zip and unpacked copy are deleted; runs trained on it stay."):
        if ui.attempt(uploads.delete_set, chosen, ui.actor()):
            st.rerun()
    if ui.is_teacher():
        st.toggle("Shared with the class", value=by_path[chosen].shared, key=f"share_{chosen}",
                  on_change=lambda: ui.attempt(uploads.share_set, chosen, st.session_state[f"share_{chosen}"],
                                               ui.actor()),
                  help="Every student can then open it (and train on it); only you can remove it.")


with st.expander("Use your own classes", icon=":material/upload:"):
    st.markdown("Upload a **zip** holding one folder of images per class (`apples/*.jpg`, `pears/*.jpg`, …), "
                "or the post's `train/` and `validation/` folders. At least two classes with "
                f"{dataset.MIN_IMAGES_PER_CLASS} images each. Every page of your session then uses these "
                "classes; the sidebar has the button back to cats and dogs.")
    upload = ui.file_uploader("Zip of class folders", key="own_classes_zip", limit=uploads.MAX_UPLOAD_ZIP_BYTES)
    if upload is not None and st.button("Use these classes", type="primary", icon=":material/check:"):
        bar = ui.ProgressBar()
        try:
            with ui.refusal() as said, st.spinner("Checking and decoding the images…"):
                path = ui.service.import_zip(upload.getvalue(), upload.name, progress=bar)
            if not said.error:
                ui.use_data(path)
        finally:
            bar.clear()
    earlier_uploads(uploads.list_sets(ui.actor()))

loaded = ui.load_data()
if loaded is None:
    st.stop()

st.caption(f"{ui.plain(loaded.source.description)} · {len(loaded.class_names)} classes · images resized to 160×160")

st.subheader("A few training images")
seed = st.session_state.setdefault("gallery_seed", 0)
train_counts = dataset.label_counts(loaded)["train"]
for name, images, files in dataset.pick_examples(loaded, 3, seed, with_files=True):
    st.markdown(f"**{ui.plain(name)}** · {train_counts[name]:,} training images")
    for col, image, file in zip(st.columns(3), images, files):  # the post's rows of three, across the page
        col.image(image, caption=ui.plain(file.rsplit("/", 1)[-1]), width="stretch")


def _new_examples():
    st.session_state["gallery_seed"] = random.randrange(2**31)


st.button("Show other examples", on_click=_new_examples, icon=":material/shuffle:")

st.subheader("Is it balanced?")
counts = dataset.label_counts(loaded)
left, right = st.columns([3, 2])
left.plotly_chart(ui.figure(charts.label_counts, counts, large=ui.presenter()), config=charts.NO_TOOLBAR)
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
    st.warning("1 file was left out because it is not a usable image." if len(loaded.skipped) == 1 else
               f"{len(loaded.skipped):,} files were left out because they are not usable images.")
    st.dataframe([{"file": s.path, "reason": s.reason} for s in loaded.skipped], hide_index=True)
else:
    st.caption("None: every file decoded as an image.")
for note in loaded.notes:
    st.caption(ui.plain(note))

with st.expander("Show the code", icon=":material/code:"):
    st.code(codegen.load_data(), language="python", wrap_lines=True)
