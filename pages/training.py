"""Training: pick a recipe and epochs, watch the curves grow, compare, export and reproduce runs."""

import pandas as pd
import streamlit as st

from catdog_core import augment, charts, codegen, export, jobs, models, runs
from catdog_core.words import count
import ui
from ui import datacurve

ui.page_setup()

EPOCH_PRESETS = (1, 5, 20)
FINE_TUNE_TEXT = (
    "As in TensorFlow's transfer-learning tutorial: after the frozen stage, the top of MobileNetV2 "
    "(its layers from *unfreeze from layer* on, out of 154) is unfrozen and the whole model trains on "
    "at a 10x lower learning rate, so the pretrained features are adjusted, not wrecked. "
    "BatchNormalization layers stay in inference mode. Each fine-tune epoch runs the full MobileNetV2 "
    "forward and backward, so it is much slower than a frozen epoch."
)


@st.cache_data(max_entries=32, show_spinner=False)
def recipe_summary(name: str, num_classes: int, settings: dict | None) -> str:
    """Keras' summary of a recipe, built by the model service once per recipe and settings."""
    return ui.shared_service().recipe_summary(name, num_classes, settings)


def saved_runs_table(shown: list, with_classes: bool) -> None:
    """What a class compares first, in columns that fit the page at 1280 pixels: no date column (a run's
    id starts with its date and time), and a run someone named shows its name in place of its id."""
    rows = [{**r.row(), "run": r.extra.get("name") or r.run_id} for r in shown]
    order = ["recipe", "epochs", "val acc", "best val acc", "test acc", "test images"]
    order += ["left out"] * any(r.excluded for r in shown) + ["seconds", "run"] + ["classes"] * with_classes
    ui.show_table(pd.DataFrame(rows), percent=("val acc", "best val acc", "test acc"), order=order,
                  labels={"best val acc": "best val", "test images": "test imgs", "seconds": "train s"})


def export_section(exportable) -> None:
    """Export a run: a student's own runs and the command line's (a classmate's model stays theirs)."""
    st.markdown("**Export a run** to use it outside this app")
    if not exportable:
        st.caption("None of these runs is yours to export yet: train one, or ask the teacher for theirs.")
        return
    exported = ui.run_picker("Run to export", "export_run", exportable)
    export_id = exported.run_id
    row = st.container(horizontal=True, vertical_alignment="bottom")  # wraps, never cuts a label
    who = ui.owner()  # the callable runs on a thread of its own, outside this session's script
    # Made when clicked, by the model service: a frozen-base run keeps no .keras file of its own,
    # and 9 MB read on every run of this page cost every script run of every tab.
    row.download_button("Download .keras", lambda: ui.shared_service().keras_file(export_id, owner=who),
                      file_name=f"{export_id}.keras", mime="application/octet-stream", icon=":material/download:",
                      width="content", help="The Keras model as one .keras file, written when you click (a few "
                                            "seconds); it takes raw 0..255 RGB images of 160x160 pixels.")
    row.download_button("Download a retraining script", codegen.for_run(exported).encode("utf-8"),
                      file_name=f"retrain_{exported.recipe}.py", mime="text/x-python", icon=":material/code:",
                      width="content", help="A standalone Python script (TensorFlow only) that retrains this run's "
                                            "recipe and settings on a data folder: python retrain.py --data FOLDER")
    tflite_key = f"_tflite_{export_id}"
    if row.button("Prepare TFLite", icon=":material/phone_android:", width="content",
                help="Converts the model to TensorFlow Lite for phones and small boards (a few seconds)."):
        with ui.refusal(), st.spinner("Converting to TensorFlow Lite…"):
            st.session_state[tflite_key] = ui.service.tflite_zip(export_id)
    if tflite_key in st.session_state:
        row.download_button("Download TFLite zip", st.session_state[tflite_key], file_name=f"{export_id}-tflite.zip",
                          mime="application/zip", icon=":material/download:", width="content",
                          help=f"{export.TFLITE_FILE} and {export.LABELS_FILE} (class names in output order).")


def manage_runs(mine: list) -> None:
    """Rename or delete a run: a student's own runs only, every run for the teacher (the library
    checks the owner again, runs.rename_run / delete_run)."""
    if not mine:
        return
    # Keyed, with its state tracked: a panel or queue above that comes or goes under a class's load
    # used to draw it anew, closed, under the teacher's typing.
    with st.expander("Rename or delete a run", icon=":material/edit:", key="manage_open", on_change="rerun"):
        target = ui.run_picker("Run", "manage_run", mine, explain=False)
        name_col, rename_col = st.columns([3, 1], vertical_alignment="bottom")
        new_name = name_col.text_input("New name (up to 80 characters)", key="manage_name", max_chars=80)
        # Never disabled while the name is empty: in a browser the typed name arrives with the click.
        if rename_col.button("Rename", key="manage_rename", width="stretch"):
            if not new_name.strip():
                st.error("Type the new name first.")
            elif ui.attempt(runs.rename_run, target, new_name, ui.actor()):
                st.rerun()
        if st.session_state.get("_confirm_delete") == target.run_id:
            st.warning(f"Delete run {ui.plain(target.title())} for good? Its model and curves go too.")
            yes, no = st.columns(2)
            if yes.button("Yes, delete it", type="primary", key="manage_delete_yes"):
                st.session_state.pop("_confirm_delete", None)
                if ui.attempt(runs.delete_run, target, ui.actor()):
                    st.rerun()
            if no.button("No, keep it", key="manage_delete_no"):
                st.session_state.pop("_confirm_delete", None)
                st.rerun()
        elif st.button("Delete…", key="manage_delete", icon=":material/delete:"):
            st.session_state["_confirm_delete"] = target.run_id
            st.rerun()


def bounds(name: str, chosen: bool = False) -> tuple[int, int]:
    """A job setting's (lowest, highest) for a widget: jobspec.BOUNDS, what the trainer checks.
    `chosen`: a checkbox turned it on, so it is at least 1 (fine-tune epochs)."""
    bound = jobs.BOUNDS[name]
    return max(int(bound.low), int(chosen)), int(bound.high)


def _set_epochs(n: int) -> None:
    st.session_state["epochs"] = n


st.title("Train a model")
settings = ui.current_settings()
source = ui.data_source()  # None, or the zip of classes uploaded on the Dataset page
loaded = ui.cached_data()
num_classes = len(loaded.class_names) if loaded is not None else 2

left, right = st.columns([3, 2], gap="large")
with left:
    name = st.radio("Recipe", list(models.RECIPES), key="recipe", persist_state="session",
                    format_func=lambda n: models.RECIPES[n].title)
    recipe = models.RECIPES[name]
    tested = f" and {recipe.post_test:.1%} on its test batches" if recipe.post_test else ""
    st.markdown(f"{recipe.description} The post reports **{recipe.post_val_accuracy}** validation accuracy{tested}.")

with right:
    if recipe.uses_augmentation:
        st.markdown(f"**Augmentation:** {augment.describe(settings)}")
    else:
        st.markdown("**Augmentation:** none, model 1 (the baseline) trains on the images as they are.")
    st.page_link("pages/augmentation.py", label="Change augmentation", icon=":material/flip:")
    variants = jobs.VARIANTS
    if recipe.frozen_base and not settings.is_identity:
        if st.checkbox("New variants every epoch (slower)", key="fresh_variants", persist_state="session",
                       help="As the post: every epoch augments every photo again and runs MobileNetV2 on it."):
            variants = 0
            st.caption("Every augmented photo passes through MobileNetV2 in every epoch: the slow part on a CPU.")
        else:
            st.caption(f"Each augmented photo passes through MobileNetV2, the slow part on a CPU. The first "
                       f"{jobs.VARIANTS} epochs make a new variant of every photo, as the post does, and keep "
                       "MobileNetV2's answer for each; later epochs draw one of those per photo and take a "
                       "second or two.")

    st.session_state.setdefault("epochs", 20)
    st.number_input("Epochs (the post trains 10 to 20)", *bounds("epochs"), key="epochs",
                    persist_state="session")
    with st.container(horizontal=True):
        for n in EPOCH_PRESETS:
            st.button(f"{n} epoch{'s' if n > 1 else ''}", on_click=_set_epochs, args=(n,), key=f"preset_{n}")

    fine_tune_epochs, fine_tune_at = 0, jobs.FINE_TUNE_AT
    if recipe.frozen_base:
        if st.checkbox("Fine-tune after the frozen stage", key="fine_tune", persist_state="session"):
            st.caption(FINE_TUNE_TEXT)
            a, b = st.columns(2)
            fine_tune_epochs = int(a.number_input("Fine-tune epochs", *bounds("fine_tune_epochs", chosen=True), 10,
                                                  key="fine_tune_epochs"))
            fine_tune_at = int(b.number_input("Unfreeze from layer", *bounds("fine_tune_at"), jobs.FINE_TUNE_AT,
                                              key="fine_tune_at"))

    # One job spec from the widgets: what Start submits and what "Show the code" prints.
    epochs = int(st.session_state["epochs"])
    what = f"{recipe.title}, {count(epochs, 'epoch')}" + (f" + {fine_tune_epochs} fine-tune" if fine_tune_epochs else "")
    spec = jobs.JobSpec(name, epochs, settings, source, fine_tune_epochs=fine_tune_epochs,
                        fine_tune_at=fine_tune_at, label=what, variants=variants)
    buttons = st.container(horizontal=True)  # wraps instead of cutting labels in presenter mode
    if buttons.button("Start", type="primary", icon=":material/play_arrow:", width="content"):
        ui.submit(spec)
    if buttons.button("Quick transfer", icon=":material/bolt:", width="content"):
        ui.submit(jobs.quick_spec(source))
    # A caption, not a tooltip: a tooltip covered the recipe's text and its Keras summary. Filled once the
    # runs are listed, after the panel: a run its job has just saved is in that listing.
    quick_note = st.empty()

# Under both columns, the page's width: in half of it Keras' table lost its Output Shape and Param #.
summary_box = st.expander("Keras summary")  # filled last: building a model takes a moment
code_box = st.expander("Show the code", icon=":material/code:")

st.subheader("Progress")
job = ui.session_job()
if job is None:
    st.caption("No training on this data yet in this session. Press Start: training runs in a worker process, "
               "so you can switch pages, close the tab or restart the server and come back.")
else:
    ui.job_panel(job.job_id, "training")
ui.queue_view()

st.subheader("Saved runs")
listing = runs.list_runs()
quick_note.caption(f"Quick transfer: model 4 for {jobs.QUICK.epochs} epochs without augmentation, on cached "
                   f"MobileNetV2 features.{ui.quick_time_note(listing.runs)}")
by_id = {r.run_id: r for r in listing.runs}
for message in listing.problems:
    st.warning(ui.plain(message))
if not listing.runs:
    st.caption("Runs appear here when a training finishes or is stopped after at least one epoch.")
else:
    mine, others = ui.session_runs(listing.runs)
    with_others = bool(others) and st.toggle(f"Also the runs of other data ({len(others)})", key="runs_other_data",
                                              help="Runs trained on other classes or photos (your own classes, "
                                                   "another upload): their accuracy is not comparable with these.")
    saved_runs_table(mine + others if with_others else mine, with_classes=with_others)
    if not mine:
        st.caption("No run on the data in use yet.")

    best_per_recipe = {}
    for run in sorted(mine, key=lambda r: -(r.val_accuracy or 0)):  # the best of each recipe on this data
        best_per_recipe.setdefault(run.recipe, run.run_id)
    tag = ui.dataset_tag()
    if st.session_state.get("_compare_dataset") != tag:  # first time here, or the data changed
        st.session_state.pop("compare", None)
        st.session_state["_compare_followed"] = list(st.session_state.get(ui.NEW_RUNS_KEY, []))
    st.session_state["_compare_dataset"] = tag
    if "compare" in st.session_state:  # keep the choice, minus deleted runs, plus what was just trained on this data
        kept = [rid for rid in st.session_state["compare"] if rid in by_id]
        followed = st.session_state.setdefault("_compare_followed", [])
        on_data = {r.run_id for r in mine}
        new = [rid for rid in st.session_state.get(ui.NEW_RUNS_KEY, [])
               if rid in on_data and rid not in kept and rid not in followed]
        followed += new
        st.session_state["compare"] = kept + new
    if "compare" not in st.session_state:
        st.session_state["compare"] = list(best_per_recipe.values())[:4]  # the best of each recipe on this data
    chosen = st.multiselect("Compare runs", list(by_id), format_func=lambda rid: by_id[rid].title(), key="compare")
    if chosen:
        curves, marks = {}, {}
        for rid in chosen:
            label = f"{by_id[rid].recipe} · {by_id[rid].short_name}"  # renamed: its new name
            curves[label] = by_id[rid].history
            marks.update(ui.fine_tune_marker(label, by_id[rid].history, by_id[rid].fine_tune_from_epoch))
        left, right = st.columns(2)
        for col, metric in ((left, "accuracy"), (right, "loss")):
            col.plotly_chart(ui.curves_figure(curves, metric, marks), key=f"compare_{metric}", config=charts.NO_TOOLBAR)

    export_section([r for r in listing.runs if ui.actor().may_copy(r.owner)])
    manage_runs([r for r in listing.runs if ui.actor().may(r.owner)])

st.subheader("Reproduce the post")
st.markdown("Train the post's four models with its settings (20 epochs, batch 32, random flips and "
            "rotation 0.2) and compare them with its numbers; they train one after another in the background. "
            + ui.reproduce_time_text(listing.runs, 20))
group = st.session_state.get(ui.GROUP_KEY)
following = [j for j in jobs.get_queue().group(group) if j.active] if group else []
if following:
    st.caption(f"{len(following)} of the four models still queued or training; the panel above follows the "
               "running one, the table fills in as each finishes.")
    if st.button("Stop reproducing (all four)", icon=":material/stop_circle:", key="stop_group"):
        jobs.get_queue().stop_group(group, ui.actor())
        st.rerun()
elif st.button("Reproduce the post (4 models × 20 epochs)", icon=":material/replay:"):
    ui.submit_group(jobs.post_specs(source), jobs.REPRODUCE_LABEL)
rows = runs.post_comparison(ui.session_runs(listing.runs)[0], jobs.REPRODUCE_LABEL)  # on the data in use
shown = [{k: ("–" if v is None else f"{v:.1%}" if k.endswith("acc") else v) for k, v in row.items() if k != "stopped"}
         | ({"epochs": by_id[row["run"]].epochs_text} if row["run"] in by_id else {})
         for row in rows]  # "–" where nothing was measured yet; "1 of 20 (stopped)" for a stopped run
ui.show_table(pd.DataFrame(shown).astype(str))
reproduced = {row["model"]: by_id[row["run"]].history for row in rows if row["run"] in by_id}
if reproduced:
    st.plotly_chart(ui.curves_figure(reproduced, "accuracy", title="The reproduced runs: accuracy"),
                    key="reproduce_curves", config=charts.NO_TOOLBAR)

st.subheader("How much data is enough?")
datacurve.section()

with summary_box, st.spinner("Building the model…"), ui.refusal():
    st.code(recipe_summary(name, num_classes, settings.to_dict() if recipe.uses_augmentation else None),
            language=None)

with code_box:
    st.code(codegen.training(spec, num_classes), language="python", wrap_lines=True)
