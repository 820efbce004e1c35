"""Training: pick a recipe and epochs, watch the curves grow, compare saved runs."""

import pandas as pd
import streamlit as st

from catdog_core import augment, charts, dataset, jobs, models, runs, training
from catdog_core.errors import CatdogError
from pages import _ui as ui

ui.run_through_app()

EPOCH_PRESETS = (1, 5, 20)


@st.cache_data(max_entries=32, show_spinner=False)
def recipe_summary(name: str, num_classes: int, settings: dict | None) -> str:
    chosen = augment.AugmentSettings.from_dict(settings) if settings else None
    return models.recipe_summary(name, num_classes, chosen)


def _set_epochs(n: int) -> None:
    st.session_state["epochs"] = n


st.title("Train a model")
settings = ui.current_settings()
loaded = dataset.cached_dataset()
num_classes = len(loaded.class_names) if loaded is not None else 2

left, right = st.columns([3, 2], gap="large")
with left:
    name = st.radio("Recipe", list(models.RECIPES), key="recipe", persist_state="session",
                    format_func=lambda n: models.RECIPES[n].title)
    recipe = models.RECIPES[name]
    st.markdown(f"{recipe.description} The post reports **{recipe.post_val_accuracy}** validation accuracy.")
    summary_box = st.expander("Keras summary")  # filled last: building a model takes a moment

with right:
    if recipe.uses_augmentation:
        st.markdown(f"**Augmentation:** {augment.describe(settings)}")
    else:
        st.markdown("**Augmentation:** none, model 1 (the baseline) trains on the images as they are.")
    st.page_link("pages/augmentation.py", label="Change it on the Augmentation page", icon=":material/flip:")
    if recipe.frozen_base and not settings.is_identity:
        st.caption("Every augmented image passes through MobileNetV2 in each epoch, which is slow on a CPU. "
                   "With no augmentation the base's outputs are computed once and each epoch takes seconds.")

    st.session_state.setdefault("epochs", 20)
    st.number_input("Epochs (the post trains 10 to 20)", 1, training.MAX_EPOCHS, key="epochs",
                    persist_state="session")
    with st.container(horizontal=True):
        for n in EPOCH_PRESETS:
            st.button(f"{n} epoch{'s' if n > 1 else ''}", on_click=_set_epochs, args=(n,), key=f"preset_{n}")

    start, quick = st.columns(2)
    if start.button("Start", type="primary", icon=":material/play_arrow:", width="stretch"):
        ui.submit(jobs.JobSpec(name, int(st.session_state["epochs"]), settings,
                               label=f"{recipe.title}, {int(st.session_state['epochs'])} epochs"))
    if quick.button("Quick transfer", icon=":material/bolt:", width="stretch",
                    help=f"Model 4 for {training.QUICK.epochs} epochs without augmentation, on cached "
                         "MobileNetV2 features: a good model in about a minute."):
        ui.submit(jobs.quick_spec())

st.subheader("Progress")
job = ui.session_job()
if job is None:
    st.caption("No training yet in this session. Press Start: training runs in the background, "
               "so you can switch pages and come back.")
else:
    ui.job_panel(job.job_id, "training")

st.subheader("Saved runs")
listing = runs.list_runs()
for message in listing.problems:
    st.warning(message)
if not listing.runs:
    st.caption("Runs appear here when a training finishes or is stopped after at least one epoch.")
else:
    table = pd.DataFrame([r.row() for r in listing.runs])
    table["epochs"] = table["epochs"].astype(str)
    st.dataframe(table, hide_index=True, column_config={
        "best val acc": st.column_config.NumberColumn(format="percent"),
        "test acc": st.column_config.NumberColumn(format="percent"),
    })

    by_id = {r.run_id: r for r in listing.runs}
    latest_per_recipe = {}
    for run in listing.runs:  # newest first
        latest_per_recipe.setdefault(run.recipe, run.run_id)
    chosen = st.multiselect("Compare runs", list(by_id), default=list(latest_per_recipe.values())[:4],
                            format_func=lambda rid: f"{by_id[rid].recipe} · {rid}", key="compare")
    if chosen:
        curves = {f"{by_id[rid].recipe} · {rid[-4:]}": by_id[rid].history for rid in chosen}
        left, right = st.columns(2)
        for col, metric in ((left, "accuracy"), (right, "loss")):
            col.plotly_chart(ui.legend_below(charts.learning_curves(curves, metric)), key=f"compare_{metric}")

with summary_box, st.spinner("Building the model…"):
    try:
        st.code(recipe_summary(name, num_classes, settings.to_dict() if recipe.uses_augmentation else None),
                language=None)
    except CatdogError as exc:
        st.error(str(exc))
