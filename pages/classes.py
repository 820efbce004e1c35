"""Your classes: build a dataset in the browser (a class, a name, photos from files or the
camera), then train the quick transfer model on it and classify. Saved like an uploaded zip."""

import streamlit as st

from catdog_core import dataset, images, jobs, uploads
from catdog_core.errors import CatdogError
import ui

ui.page_setup()

SET_KEY = "built_classes"  # {class name: [(file name, bytes)]}, this session's set being built
MAX_CLASSES = 10
MAX_PHOTOS = 200  # per class
MIN_PHOTOS = dataset.MIN_IMAGES_PER_CLASS


def classes() -> dict[str, list[tuple[str, bytes]]]:
    return st.session_state.setdefault(SET_KEY, {})


def add_class() -> None:
    name = str(st.session_state.get("new_class", "")).strip()
    problem = check_name(name)
    if problem:
        st.session_state["_class_problem"] = problem
        return
    classes().setdefault(name, [])
    st.session_state["new_class"] = ""


def check_name(name: str) -> str | None:
    if not name:
        return "Give the class a name."
    if len(name) > 60 or any(ch in name for ch in '/\\\0:') or name.startswith("."):
        return "A class name is up to 60 characters, without / \\ : or a leading dot."
    if name in classes():
        return f"There is already a class called {name}."
    if len(classes()) >= MAX_CLASSES:
        return f"Up to {MAX_CLASSES} classes."
    return None


def add_photos(name: str, files) -> list[str]:
    """Checks each photo as an upload is checked (images.inspect); returns what was refused and why."""
    problems = []
    photos = classes()[name]
    for file_name, data in files:
        if len(photos) >= MAX_PHOTOS:
            problems.append(f"{name} already has {MAX_PHOTOS} photos.")
            break
        try:
            images.inspect(data)
        except CatdogError as exc:
            problems.append(f"{images.safe_display_name(file_name)}: {exc}")
            continue
        if any(existing == data for _, existing in photos):
            continue  # the same photo twice (a file uploaded again)
        photos.append((images.safe_display_name(file_name), data))
    return problems


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
    if classes():
        # Plain names as options: a label with the photo count would change as photos arrive.
        current = st.radio("Add photos to", list(classes()), key="class_target", horizontal=True)
        files = ui.file_uploader(f"Photos of {current}", key=f"class_files_{current}", multiple=True)
        if files and st.button(f"Add {len(files)} photo(s) to {ui.plain(current)}", key="add_files", icon=":material/upload:"):
            for problem in add_photos(current, [(f.name, f.getvalue()) for f in files]):
                st.error(ui.plain(problem))
        if st.toggle("Use the camera", key="class_camera"):
            shot = st.camera_input(f"A photo of {current}", key=f"class_shot_{len(classes()[current])}")
            if shot is not None:
                for problem in add_photos(current, [(f"camera-{len(classes()[current]):03d}.jpg", shot.getvalue())]):
                    st.error(ui.plain(problem))
                st.rerun()  # a fresh camera for the next shot
with right:
    if not classes():
        st.info("No class yet: name one on the left.")
    for name, photos in list(classes().items()):
        header, remove = st.columns([3, 2], vertical_alignment="center")
        header.markdown(f"**{ui.plain(name)}** · {len(photos)} photo{'s' if len(photos) != 1 else ''}")
        if remove.button("Remove class", key=f"drop_{name}", icon=":material/delete:"):
            del classes()[name]
            st.rerun()
        cols = st.columns(6)
        try:
            thumbnails = ui.service.pictures([data for _, data in photos[:24]])
        except CatdogError as exc:
            st.error(ui.plain(str(exc)))
            thumbnails = []
        for i, ((file_name, data), thumbnail) in enumerate(zip(photos[:24], thumbnails)):
            with cols[i % 6]:
                if isinstance(thumbnail, str):
                    continue  # refused when it was added; kept out of the set's zip too
                st.image(thumbnail, width="stretch")  # names wrap badly here
                if st.button("✕", key=f"drop_{name}_{i}", help=f"Remove {ui.plain(file_name)}"):
                    photos.pop(i)
                    st.rerun()
        if len(photos) > 24:
            st.caption(f"and {len(photos) - 24} more")

ready = len(classes()) >= 2 and all(len(p) >= MIN_PHOTOS for p in classes().values())
set_name = st.text_input("Name of this set", key="set_name", max_chars=60, value="my classes")
if st.button("Save and use these classes", type="primary", icon=":material/check:", disabled=not ready,
             help=None if ready else f"Two classes with at least {MIN_PHOTOS} photos each."):
    bar = ui.ProgressBar()
    try:
        with st.spinner("Checking and decoding the photos…"):
            path = ui.service.import_zip(uploads.zip_of_classes(classes()), f"{set_name or 'my classes'}.zip",
                                         progress=bar, from_photos=True)
    except CatdogError as exc:
        st.error(ui.plain(str(exc)))
    else:
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

earlier = uploads.list_sets()
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
            language="python")
