"""Many photos at once on the Classify page: rows of small cards (a square thumbnail, the label, how
sure, right or wrong when the file's name gives its class), what the batch holds, and one photo's
full card when it is picked. Each photo is asked of the model service once per run and content."""

from dataclasses import dataclass

import numpy as np
import streamlit as st

from catdog_core import evaluate, images, predict
from catdog_core.words import count

from .model import shared
from .photocard import NONE_OF_THE_ABOVE, show_prediction
from .state import presenter
from .text import plain, refusal

CARDS_UP_TO = 4  # photos shown as full cards; more become a grid of small ones, details on demand
THUMB = 128  # pixels a side of a small card's picture


@st.cache_data(max_entries=512, show_spinner=False)
def quick_answer(run_id: str, created: str, data: bytes):
    """(prediction, square thumbnail, the dataset photo it is or None, whether it is unlike the training
    photos) of one photo, asked of the model service once per run and photo content: rerunning a page of
    forty photos (to open one) asks nothing again."""
    answer = shared().classify(run_id, data, False)
    unlike = answer.novelty is not None and bool(answer.novelty.out_of_distribution)
    return answer.prediction, images.square_thumbnail(answer.picture, THUMB), answer.seen, unlike


def sure(p: float) -> str:
    """A confidence in whole percent that never rounds up to a certainty: 99.7 % reads >99%."""
    return ">99%" if 0.99 < p < 1 else f"{p:.0%}"


@dataclass(frozen=True)
class SmallCard:
    """One photo of the grid, as classified."""
    number: int  # shown on the card and in the detail picker, from 1
    upload: object  # the uploaded file, for its full card
    name: str  # its name, shortened for the card
    prediction: predict.Prediction
    thumbnail: np.ndarray  # THUMB x THUMB pixels, cut from the middle
    true: str | None  # the class its file name gives, if any
    seen: object | None  # the dataset photo it is (a dataset.SeenPhoto)
    unlike: bool  # unlike the training photos: "none of the above?"

    @property
    def label(self) -> str:
        """What the batch's tally counts it as."""
        return NONE_OF_THE_ABOVE if self.unlike else self.prediction.label


def photo_grid(run, uploads, view: str | None) -> list[str]:
    """Many photos as rows of small cards (a square thumbnail, the label, how sure, and right or
    wrong when the file's name gives its class), and one photo's full card when it is picked.
    Returns the predicted labels."""
    with st.spinner(f"Classifying {len(uploads)} photos…"):
        cards = _classified(run, uploads)
    _batch_notes(run, cards)
    _detail(run, cards, view)
    per_row = 4 if presenter() else 6
    for start in range(0, len(cards), per_row):
        for column, card in zip(st.columns(per_row), cards[start:start + per_row]):
            column.image(card.thumbnail, width="stretch", caption=_caption(card))
    return [card.label for card in cards]


def _classified(run, uploads) -> list[SmallCard]:
    """A card for each upload the model answered; a refused one is named in a sentence instead."""
    cards = []
    for upload in uploads:
        name = images.safe_display_name(upload.name, 28)
        with refusal(f"{name}: ") as said:
            prediction, thumbnail, seen, unlike = quick_answer(run.run_id, run.created, upload.getvalue())
        if said.error:
            continue
        true = evaluate.label_from_name(upload.name, run.class_names)
        cards.append(SmallCard(len(cards) + 1, upload, name, prediction, thumbnail, true, seen, unlike))
    return cards


def _batch_notes(run, cards: list[SmallCard]) -> None:
    """How many named by class are right, and how many are training photos or unlike them."""
    known = [card for card in cards if card.true is not None]
    if known:
        right = sum(card.prediction.label == card.true for card in known)
        st.markdown(f"**Named by class:** {right} of {len(known)} right (a file called `cat.12.jpg` or "
                    f"`dogs_3.png` says what it shows).")
    trained_on = sum(card.seen is not None and card.seen.split == "train" for card in cards)
    if trained_on:
        st.warning(f"{count(trained_on, 'photo')} of these {'is' if trained_on == 1 else 'are'} in the training set "
                   "(marked): the model has seen them, so its answers there say little about new photos.")
    strangers = sum(card.unlike for card in cards)
    if strangers:
        st.info(f"{count(strangers, 'photo')} of these {'does' if strangers == 1 else 'do'} not look like the "
                f"{plain(' and '.join(run.class_names))} the model learned from (marked *none of the above?*): "
                "the model still had to pick one of its classes.")


def _detail(run, cards: list[SmallCard], view: str | None) -> None:
    """The picker of one photo, and its full card (bars, where it looked) once picked."""
    by_number = {card.number: card for card in cards}
    picked = st.selectbox("Details for one photo", list(by_number), index=None, key="classify_detail",
                          format_func=lambda n: f"{n} · {by_number[n].name}",
                          placeholder="Pick a photo: its bars and where the model looked")
    if picked is not None:
        upload = by_number[picked].upload
        show_prediction(run, upload.name, upload.getvalue(), view, "detail")


def _caption(card: SmallCard) -> str:
    """A small card's words: the label and how sure, right or wrong, its number and name, its split."""
    prediction, true = card.prediction, card.true
    verdict = "" if true is None else (" :green[✓ right]" if prediction.label == true
                                       else f" :red[✗ is {plain(true)}]")
    known = f"  \n:orange[in the {card.seen.split} set]" if card.seen is not None else ""
    said = (f"**none of the above?** :grey[{plain(prediction.label)} {sure(prediction.confidence)}]"
            if card.unlike else f"**{plain(prediction.label)}** {sure(prediction.confidence)}")
    return f"{said}{verdict}  \n{card.number} · {plain(card.name)}{known}"
