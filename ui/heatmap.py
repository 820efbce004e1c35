"""Where the model looked, as the Classify page shows it: the switch and choice of view (Grad-CAM
or occlusion) with what its colours mean, and one photo's heatmap, from its classify() answer or
asked of the model service."""

import streamlit as st

from catdog_core import explain

from .model import service
from .text import plain, refusal


# What each view's colours mean and when they mislead, shown under the view picker.
VIEW_NOTES = {
    "gradcam": "**Grad-CAM**: red where MobileNetV2's last feature map holds the evidence for the predicted "
               "class (its gradients say so), blue where it holds none. That map has only 5x5 cells of 32 "
               "pixels, blurred up to the photo: red spills off the animal onto the table or the wall, and "
               "the warmest cell can be background. Red means *the features there raised the score*, not "
               "*the model needs this part*. For a sharper answer choose Occlusion (about a second a photo).",
    "occlusion": f"**Occlusion**: the photo is classified {explain.OCCLUSION_GRID ** 2} more times, each time "
                 "with a grey square (a quarter of its side) over another part. Red is where covering the "
                 "photo lowered the model's score for the predicted class the most; blue where covering "
                 "changed nothing or raised it. The score is the log-odds, log(p / (1 − p)): at 99.99 % a "
                 "probability hardly moves when a part is covered, the log-odds still do. It misleads when "
                 "the animal is much bigger than the square (the rest of it still says cat), when grey looks "
                 "like the class (a grey cat), and when the background goes with the class in the training "
                 "photos (a sofa, grass): red there is real, the model uses it. About a second a photo.",
}
COLOURS_ARE_RELATIVE = ("Colours are relative to each photo: its warmest spot is red even when nothing in it "
                        "mattered much.")
# Grad-CAM by default: ~50 ms a photo, where occlusion costs ~1 CPU-s, and a class of thirty shares
# one model service. Occlusion (on the cat for each of the post's first six validation cats, where
# Grad-CAM chose the background for two) is one click away, and the caption says why to use it.
DEFAULT_VIEW = "gradcam"


def view_picker(explains: bool) -> str | None:
    """The 'where it looked' switch and the choice of view (a key of explain.VIEWS), with what its
    colours mean; None when switched off. Without MobileNetV2 (a small CNN) only occlusion works."""
    if not st.toggle("Show where the model looked", value=True, key="classify_gradcam",
                     help="A heatmap over each photo: red where the model found the most evidence for its "
                          "answer, blue where it found none."):
        return None
    choices = list(explain.VIEWS) if explains else ["occlusion"]
    view = st.radio("How", choices, index=choices.index(DEFAULT_VIEW) if DEFAULT_VIEW in choices else 0,
                    format_func=explain.VIEWS.get,
                    horizontal=True, key="classify_view",
                    help="Grad-CAM is instant but coarse; occlusion runs the model dozens of times per photo.")
    st.caption(f"{VIEW_NOTES[view]} {COLOURS_ARE_RELATIVE}")
    if not explains:
        st.caption("Grad-CAM needs the transfer model's MobileNetV2 features; occlusion works for any model.")
    return view


def _percent(p: float) -> str:
    """A probability with the digits that show a change near 0 or 100 % (99.996%, not 100.0%)."""
    if p > 0.999995 or p < 0.000005:
        return "> 99.999%" if p > 0.5 else "< 0.001%"
    digits = 1 if 0.0005 <= p <= 0.9995 else 2 if 0.00005 <= p <= 0.99995 else 3
    return f"{p:.{digits}%}"


def where_it_looked(run, data: bytes, view: str, answer) -> None:
    """One photo's heatmap in the current column: `answer` is its classify() answer (which carries
    the Grad-CAM overlay when asked for view 'gradcam'); other views are asked of the service here."""
    label = plain(answer.prediction.label)
    if view == "gradcam" and answer.looked is not None:
        st.image(answer.looked, caption=f"where it looked for {label}", width="stretch")
        return
    with refusal(show=st.caption) as said, st.spinner("Covering the photo, square by square…"):
        found = service.explain_photo(run.run_id, data, view)
    if said.error:
        return
    st.image(found.looked, caption=f"where it looked for {label}", width="stretch")
    if found.lowest is not None:
        st.caption(f"Covering its reddest square took {label} from {_percent(found.probability)} "
                   f"to {_percent(found.lowest)} (log-odds down {found.largest_drop:.1f}).")

