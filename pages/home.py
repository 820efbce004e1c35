"""Home: what the app teaches, the post's path, and where the data and runs stand."""

import streamlit as st

from catdog_core import config, dataset, metrics, runs, sources
from catdog_core.errors import DatasetUnavailable
from catdog_core.words import count
import ui

ui.page_setup()

st.title("Cats vs dogs: from a small CNN to transfer learning")
st.markdown(
    "This dashboard retraces TensorFlow's *transfer learning with a pretrained ConvNet* blog post "
    "on the `cats_and_dogs_filtered` images (160×160 pixels, batches of 32). You train the post's "
    "four models yourself, watch their training and validation curves, and see why a frozen, "
    "ImageNet-trained MobileNetV2 beats a small network trained from scratch on 2,000 images."
)

st.subheader("The path in five steps")
steps = [
    ("pages/dataset.py", "1 · Look at the data",
     "a few cats and dogs, how many of each, and what guessing would score."),
    ("pages/training.py", "2 · Train a small CNN",
     "model 1 learns the training images by heart and stalls on validation (overfitting)."),
    ("pages/augmentation.py", "3 · Augment the images",
     "random flips and rotations show the model new variants every epoch (model 2)."),
    ("pages/training.py", "4 · Normalise, then transfer",
     "scale pixels to -1..1 (model 3), then put a frozen MobileNetV2 underneath (model 4)."),
    ("pages/classify.py", "5 · Classify your own photos",
     "upload a picture or take one and see what the trained model says."),
]
beyond = [
    ("pages/evaluate.py", "Then · Study its mistakes",
     "per-class accuracy, a confusion matrix, and the test photos it got most wrong."),
    ("pages/inside.py", "Then · Look inside",
     "where the photos land in MobileNetV2's features and in the small CNN's, and what each convolution sees."),
    ("pages/classes.py", "Then · Your own classes",
     "build classes in the browser from photos or the camera, train on them, classify live from the webcam."),
]
for target, label, text in steps + beyond:
    left, right = st.columns([2, 3] if ui.presenter() else [1, 2], vertical_alignment="center")
    left.page_link(target, label=label, icon=":material/arrow_forward:")
    right.markdown(text)

st.subheader("The data")
loaded, problem = ui.try_load_data()
if loaded is not None:
    counts = dataset.label_counts(loaded)
    fetched = ""
    if loaded.source.kind == "download":  # the post's archive in Keras' cache: fetched by this app, or put there
        where = ui.plain(config.keras_home() / "datasets")
        fetched = (", downloaded once into Keras' cache" if sources.downloaded_here() else
                   f", from the copy of its zip already in Keras' cache ({where})")
    st.markdown(f"**Source:** {ui.plain(loaded.source.description)}{fetched} · "
                f"**classes:** {ui.plain(', '.join(loaded.class_names))}")
    st.dataframe({split: per_class for split, per_class in counts.items()}, width="content")
    if loaded.skipped:
        st.warning(("1 file was skipped because it is not a usable image" if len(loaded.skipped) == 1 else
                    f"{len(loaded.skipped):,} files were skipped because they are not usable images")
                   + "; the Dataset page lists them.")
    else:
        st.caption("Every file was checked once and decoded; none were skipped.")
    for note in loaded.notes:
        st.caption(ui.plain(note))
elif isinstance(problem, DatasetUnavailable) and config.data_dir_setting() is None:
    st.info(f"The dataset is not on this machine yet: {config.DATA_DESCRIPTION}, about 68 MB "
            f"from {config.DATA_URL}. It is downloaded once into Keras' cache.")
    if st.button("Download the dataset", type="primary", icon=":material/download:"):
        with st.spinner("Downloading, unpacking and checking the images…"):
            loaded, problem = ui.try_load_data(allow_download=True)
        if problem is not None:
            st.error(ui.plain(str(problem)))
else:
    ui.show_data_problem(problem, link_home=False)

st.subheader("Trained runs")
listing = runs.list_runs()
if listing.runs:
    line = f"{count(len(listing.runs), 'run')} saved in `{runs.runs_dir()}`."
    top = runs.best(listing.runs, loaded.key, loaded.class_names) if loaded is not None else None
    st.markdown(line)
    if top is not None:
        st.markdown(f"Best on this dataset: **{ui.plain(top.title())}**, validation "
                    f"{ui.plain(metrics.verdict(top.val_accuracy, top.val_count))}; test "
                    f"{ui.plain(metrics.verdict(top.test_accuracy, top.test_count))}.")
else:
    st.markdown("No run has been trained yet.")
for message in listing.problems:
    st.warning(ui.plain(message))
st.page_link("pages/training.py", label="Train and compare models", icon=":material/model_training:")
