"""Your classes: build a dataset in the browser (a class, a name, photos from files or the
camera), then train the quick transfer model on it and classify. Saved like an uploaded zip."""

import numpy as np
import streamlit as st

from pathlib import Path

from catdog_core import dataset, fileio, images, jobs, uploads
from catdog_core.errors import CatdogError
from catdog_core.gathering import Gathering
from catdog_core.words import count
import ui

ui.page_setup()

MIN_PHOTOS = dataset.MIN_IMAGES_PER_CLASS
SHOWN = 24  # photos a class shows (the rest are counted)
PER_ROW = 6
THUMB = 120  # pixels a side: every thumbnail the same square, so the remove buttons line up
UNREADABLE = np.full((THUMB, THUMB, 3), 224, np.uint8)  # in place of a photo the service refused

gathered = Gathering(ui.owner())  # this session's classes, on disk: kept across a reload, never in memory


def add_class() -> None:
    try:
        gathered.add_class(str(st.session_state.get("new_class", "")).strip())
    except CatdogError as exc:
        st.session_state["_class_problem"] = str(exc)
        return
    st.session_state["new_class"] = ""


def add_files(name: str, files: list[tuple[str, bytes]]) -> None:
    """Given photos join the class on disk; the sentences about refused ones are kept for the next
    run to show."""
    st.session_state["_add_problems"] = gathered.add_photos(name, files)


@st.cache_data(max_entries=600, show_spinner=False)
def thumbnail(folder: str, file: str):
    """A gathered photo as a square thumbnail (its file is named by its content, so the key is),
    or the sentence the model service refused it with."""
    try:
        picture = ui.service.pictures([(Path(folder) / file).read_bytes()])[0]
    except (CatdogError, OSError) as exc:
        return str(exc)
    return picture if isinstance(picture, str) else images.square_thumbnail(picture, THUMB)


classes = gathered.classes()

st.title("Build your own classes")
st.markdown("Teach the model something new: add two or more classes, give each some photos (from files or "
            "the camera, several shots in a row), then train the quick transfer model on them and try it on "
            f"the Classify page. Each class needs at least {MIN_PHOTOS} photos; 15 or more work better.")

left, right = st.columns([2, 3], gap="large")
with left:
    st.text_input("New class name", key="new_class", max_chars=60, placeholder="e.g. apples")
    st.button("Add the class", on_click=add_class, icon=":material/add:")
    problem = st.session_state.pop("_class_problem", None)
    if problem:
        st.error(ui.plain(problem))
    if classes:
        # Plain names as options: a label with the photo count would change as photos arrive.
        current = st.radio("Add photos to", list(classes), key="class_target", horizontal=True)
        st.markdown(f"**Photos of {ui.plain(current)}**")
        # Given means added (✕ under a photo takes it out again), and the photos leave the server's memory.
        files, typed = ui.photo_drop("Drop photos or press +",
                                     key=f"class_photos_{current}")
        if files:
            add_files(current, files)
            del files
            fileio.trim_heap()  # the photos are on disk now: their buffers go back to the system
            st.rerun()
        elif typed:
            st.info("Typed words add nothing here: attach photos with the button at the left of the box.")
        st.caption(f"Photos you give join {ui.plain(current)} at once, up to "
                   f"{images.MAX_UPLOAD_BYTES // 2**20} MB each; ✕ under a photo takes it out.")
        for problem in st.session_state.pop("_add_problems", []):
            st.error(ui.plain(problem))
        no_camera = ui.camera_problem()
        if no_camera:
            st.caption(no_camera)
        elif st.toggle("Use the camera", key="class_camera"):
            shot = st.camera_input(f"A photo of {current}", key=f"class_shot_{len(classes[current])}")
            if shot is not None:
                shot_name = f"camera-{len(classes[current]):03d}.jpg"
                st.session_state["_add_problems"] = gathered.add_photos(current, [(shot_name, shot.getvalue())])
                st.rerun()  # a fresh camera for the next shot (what was refused is said after it)
with right:
    if not classes:
        st.info("No class yet: name one on the left.")
    for name, photos in list(classes.items()):
        header, remove = st.columns([3, 2], vertical_alignment="center")
        header.markdown(f"**{ui.plain(name)}** · {count(len(photos), 'photo')}")
        if remove.button("Remove class", key=f"drop_{name}", icon=":material/delete:"):
            gathered.remove_class(name)
            st.rerun()
        thumbnails = [thumbnail(str(gathered.folder), p.file) for p in photos[:SHOWN]]
        for start in range(0, len(thumbnails), PER_ROW):  # a row of columns per row: a gap never shifts a column
            for i, column in zip(range(start, min(start + PER_ROW, len(thumbnails))), st.columns(PER_ROW)):
                photo, shown = photos[i], thumbnails[i]
                unreadable = isinstance(shown, str)  # refused by the service
                column.image(UNREADABLE if unreadable else shown, width="stretch")
                why = f" (it could not be read: {shown})" if unreadable else ""
                if column.button("✕", key=f"drop_{name}_{i}", help=ui.plain(f"Remove {photo.shown}{why}")):
                    gathered.remove_photo(name, photo.file)
                    st.rerun()
        if len(photos) > SHOWN:
            st.caption(f"and {len(photos) - SHOWN} more")

ready = len(classes) >= 2 and all(len(p) >= MIN_PHOTOS for p in classes.values())
set_name = st.text_input("Name of this set", key="set_name", max_chars=60, value="my classes")
if st.button("Save and use these classes", type="primary", icon=":material/check:", disabled=not ready,
             help=None if ready else f"Two classes with at least {MIN_PHOTOS} photos each."):
    bar = ui.ProgressBar()
    try:
        with ui.refusal() as said, st.spinner("Checking and decoding the photos…"):
            path = ui.service.import_zip(gathered.as_zip(), f"{set_name or 'my classes'}.zip",
                                         progress=bar, from_photos=True)
        if not said.error:
            st.session_state["_set_saved"] = True
            ui.use_data(path)
    finally:
        bar.clear()

if st.session_state.get("_set_saved") and ui.data_source():
    st.success("Saved: every page of your session now uses these classes (the sidebar has the way back).")
    if st.button("Train the quick transfer model on them", icon=":material/bolt:"):
        ui.submit(jobs.quick_spec(ui.data_source()))
    job = ui.session_job()
    if job is not None and job.owner == ui.owner():
        ui.job_panel(job.job_id, "classes")
    st.page_link("pages/classify.py", label="Then classify new photos", icon=":material/pets:")

earlier = uploads.list_sets(ui.actor())
if earlier:
    with st.expander("Open a set saved before", icon=":material/folder_open:"):
        by_path = {str(s.path): s for s in earlier}
        chosen = st.selectbox("Saved sets", list(by_path), key="classes_earlier",
                              format_func=lambda p: f"{by_path[p].name} · {', '.join(by_path[p].classes)}")
        if st.button("Use this set", key="classes_open"):
            ui.use_data(chosen)

with st.expander("Show the code", icon=":material/code:"):
    st.code('''# The classes, saved as folders of photos: my_classes/apples/001.jpg, my_classes/pears/001.jpg, ...
train_ds = keras.utils.image_dataset_from_directory("my_classes", validation_split=0.2, subset="training",
                                                    seed=123, image_size=(160, 160), batch_size=32)
val_ds = keras.utils.image_dataset_from_directory("my_classes", validation_split=0.2, subset="validation",
                                                  seed=123, image_size=(160, 160), batch_size=32)
# then model 4 (the transfer model) as on the Training page, with Dense(len(train_ds.class_names))''',
            language="python", wrap_lines=True)
