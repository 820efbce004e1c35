"""One photo's answer as the Classify page shows it, a card: the photo, where the model looked, the
predicted class with how sure it is (or "none of the above?"), whether the photo is one of the
dataset's own, and a bar per class."""

import streamlit as st

from catdog_core import calibration, charts, images, predict
from catdog_core.errors import CatdogError

from .figures import figure
from .heatmap import where_it_looked
from .model import service
from .state import presenter
from .text import plain

NONE_OF_THE_ABOVE = "none of the above"  # a batch's tally counts these apart from the classes


def card_columns(with_heatmap: bool):
    """(photo, heatmap or None, answer) places of one photo's card. On a projector the photos take half
    the page each and the answer goes under them: in a quarter of it they stayed 180 pixels wide."""
    if presenter():
        top = st.columns(2, vertical_alignment="center")
        if with_heatmap:
            return top[0], top[1], st.container()
        return top[0], None, top[1]
    if with_heatmap:
        return tuple(st.columns([1, 1, 2], vertical_alignment="center"))
    left, right = st.columns([1, 2], vertical_alignment="center")
    return left, None, right


def show_prediction(run, name: str, data: bytes, view: str | None, key: str,
                    temperature: float | None = None) -> str | None:
    """One file: its image (and where the model looked, `view` one of explain.VIEWS or None), the
    predicted class and a bar per class, or a one-sentence error; with a temperature, the
    probabilities calibrated by it (marked). Returns the predicted label (None for a refused file)."""
    shown_name = images.safe_display_name(name)
    with st.container(border=True):
        try:
            answer = service.classify(run.run_id, data, view == "gradcam")
            prediction = _calibrated(answer.prediction, temperature)
        except CatdogError as exc:
            st.markdown(f"**{plain(shown_name)}**")
            st.error(plain(str(exc)))
            return None
        left, middle, right = card_columns(view is not None)
        if middle is not None:
            with middle:
                where_it_looked(run, data, view, answer)
        left.image(answer.picture, caption=plain(shown_name), width="stretch")
        unlike = _say_answer(right, run, answer, prediction, temperature)
        right.plotly_chart(figure(charts.probabilities, prediction.probabilities, large=presenter()),
                           key=f"probabilities_{key}", config=charts.NO_TOOLBAR)
    return NONE_OF_THE_ABOVE if unlike else prediction.label


def _calibrated(prediction: predict.Prediction, temperature: float | None) -> predict.Prediction:
    """The prediction with its probabilities rescaled by the temperature (as it is without one)."""
    if temperature is None:
        return prediction
    scaled = calibration.rescale(prediction.probabilities, temperature)
    return predict.Prediction(prediction.label, scaled[prediction.label], scaled)


def _say_answer(place, run, answer, prediction: predict.Prediction, temperature: float | None) -> bool:
    """The card's words in `place`: the class and how sure, or "none of the above?" with the forced
    answer greyed; how like the training photos it is; whether it is a dataset photo. Returns
    whether the photo is unlike the training photos."""
    unlike = answer.novelty is not None and answer.novelty.out_of_distribution
    if unlike:  # the forced answer stays, greyed: the model cannot say "none of these"
        place.markdown("### None of the above?")
        place.info(plain(answer.novelty.sentence(f"the {' and '.join(run.class_names)}")))
        place.markdown(f":grey[Forced to choose, the model says {plain(prediction.label)}, "
                       f"{prediction.confidence:.1%} sure.]")
    else:
        place.markdown(f"### {plain(prediction.label)}  \n{prediction.confidence:.1%} sure"
                       + (f" (calibrated, T = {temperature:.2f})" if temperature is not None else ""))
    if answer.novelty is not None and not unlike:
        place.caption(plain(answer.novelty.sentence(f"the {' and '.join(run.class_names)}")))
    if answer.seen is not None:
        place.warning(seen_sentence(answer.seen))
    return unlike


def seen_sentence(seen) -> str:
    """What a student should know about a photo that is one of the dataset's own (a dataset.SeenPhoto)."""
    if seen.split == "train":
        return (f"This photo is in the training set ({plain(seen.name)}): the model has seen it, so its "
                "answer says little about new photos.")
    return (f"This photo is in the {seen.split} set ({plain(seen.name)}): the model never trained on it, "
            "but its accuracy was already measured on it.")
