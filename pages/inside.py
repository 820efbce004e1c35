"""Inside the models: where the held-out photos land in each network's feature space (the
embedding map), and what each convolution of the small CNN makes of one photo."""

import html

import streamlit as st

from catdog_core import augment, charts, embedding, runs
import ui

ui.page_setup()


@st.cache_resource(max_entries=4, show_spinner=False)
def map_figure(run_id: str, dataset_key: str, source: str | None, method: str):
    """The embedding map of a run on a dataset (keyed by its content), built once per server by the
    model service."""
    return ui.shared_service().embedding_map(run_id, source, method)


@st.cache_resource(max_entries=4, show_spinner=False)
def presenter_map(run_id: str, dataset_key: str, source: str | None, method: str):
    """The same map with presenter mode's bigger type: a copy, made once (the built one is shared)."""
    fig, seconds = map_figure(run_id, dataset_key, source, method)
    return embedding.for_presenter(fig), seconds


st.title("Inside the models")
st.markdown("Why does transfer learning win? Each photo becomes a long list of numbers inside a network; "
            "here those lists are squeezed to two dimensions (PCA) so that photos the network finds alike "
            "land close together.")

loaded = ui.load_data()
if loaded is None:
    st.stop()
listing = runs.list_runs()
if not listing.runs:
    st.info("Train a model first: the Training page, or the quick transfer model on Classify.")
    st.page_link("pages/training.py", label="Train a model", icon=":material/model_training:")
    st.stop()

map_tab, cnn_tab = st.tabs(["Embedding map", "What the small CNN sees"])

with map_tab:
    run = ui.run_picker("Run", "map_run", listing.runs, recipe="transfer")
    st.markdown(f"The {len(loaded.validation) + len(loaded.test)} held-out photos (validation and test) of "
                "your dataset. Left: MobileNetV2's features, learned on ImageNet. Right: the small CNN's last "
                "hidden layer for the same photos, when a model 1 run exists on this dataset. **A cross marks "
                "a photo that its own panel's model gets wrong**: on the left the run chosen above, on the "
                "right that small CNN run (named over it), so the two panels' crosses are not the same photos. "
                "For a fine-tuned run: the base before fine-tuning (no crosses) and after (the run's mistakes). "
                "Click a point to see its photo.")
    if run is not None and tuple(run.class_names) != tuple(loaded.class_names):
        st.info("This run was trained on other classes; pick a run of this dataset.")
    elif run is not None:
        with ui.refusal() as said, st.spinner("Computing the features and the projection…"):
            fig, seconds = (presenter_map if ui.presenter() else map_figure)(run.run_id, loaded.key,
                                                                             ui.data_source(), "pca")
        if not said.error:
            event = st.plotly_chart(fig, key="embedding_map", on_select="rerun", selection_mode="points",
                                    config=charts.NO_TOOLBAR)  # a click picks a photo; no toolbar over the titles
            picked = (event or {}).get("selection", {}).get("points", []) if event else []
            if picked:
                point = picked[0]
                data = point.get("customdata") or []
                if len(data) == 2 and str(data[1]).startswith("data:image/jpeg;base64,"):
                    where = html.unescape(str(data[0]))
                    photo, named = st.columns([1, 4], vertical_alignment="center")
                    photo.image(str(data[1]), width=160)  # its name beside it: under it, "cat.2064.jp / g"
                    named.markdown(f"**{ui.plain(where.rsplit('/', 1)[-1])}**  \n{ui.plain(where)}")
            st.caption(f"Built in {seconds:.1f} s. The same map as a page of its own: "
                       f"`python -m catdog_core map {run.run_id} --out map.html`.")
    with st.expander("Show the code", icon=":material/code:"):
        st.code('''from sklearn.decomposition import PCA  # or numpy: np.linalg.svd of the centred features

base = keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, weights="imagenet")
features = keras.Sequential([layers.Rescaling(1 / 127.5, offset=-1), base, layers.GlobalMaxPooling2D()])
vectors = features.predict(val_ds.map(lambda x, y: x))      # 1280 numbers a photo
points = PCA(n_components=2).fit_transform(vectors)          # two, for the map''', language="python", wrap_lines=True)

with cnn_tab:
    small = [r for r in listing.runs if r.recipe in ("baseline", "augmented", "normalized")]
    if not small:
        st.info("Train model 1, 2 or 3 on the Training page: the transfer model's convolutions are inside "
                "MobileNetV2.")
    else:
        run = ui.run_picker("Small CNN run", "cnn_run", small)
        part = loaded.validation
        st.session_state["cnn_index"] = min(st.session_state.get("cnn_index", 0), len(part) - 1)
        index = st.number_input(f"Validation image (0 to {len(part) - 1})", 0, len(part) - 1, key="cnn_index")
        settings = ui.current_settings()
        augmented = st.toggle(f"Augmented as on the Augmentation page ({augment.describe(settings)})",
                              key="cnn_augmented")
        left, right = st.columns([1, 3])
        with ui.refusal(show=right.error) as said, st.spinner("Running the photo through the model…"):
            shown, layers_seen = ui.service.activations(run.run_id, part.images[index],
                                                        settings.to_dict() if augmented else None)
        if not said.error:
            left.image(shown, caption=ui.plain(f"{loaded.class_names[part.labels[index]]} · "
                                               f"{part.files[index].rsplit('/', 1)[-1]}"), width="stretch")
            for act in layers_seen:
                right.markdown(f"**{ui.plain(act.layer)}** · {act.filters} filters · each map "
                               f"{act.size[1]}×{act.size[0]} pixels")
                quiet = (f"; pale blue: {act.silent} of {act.filters} filters that respond nowhere in this photo"
                         if act.silent else "")
                right.image(act.grid, width="stretch",
                            caption="one tile per filter, each scaled to its own range (black 0, white its "
                                    f"strongest 1 %, square-root contrast): bright where it responds after ReLU{quiet}")
        st.caption("The first convolution responds to edges and colours; deeper ones to larger patterns, on "
                   "smaller maps (each max pooling halves them). Flip or rotate the photo and the same filters "
                   "light up in other places: a small CNN has to learn every variant anew.")
    with st.expander("Show the code", icon=":material/code:"):
        st.code('''convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
probe = keras.Model(model.inputs, [layer.output for layer in convs])
maps = probe(image[None])          # one (height, width, filters) array per convolution
for layer, out in zip(convs, maps):
    print(layer.name, out.shape)''', language="python", wrap_lines=True)
