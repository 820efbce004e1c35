"""Label check's "Plant a shortcut" (catdog_core.lessons.shortcut): a coloured square on one class's training
photos, the quick head trained on them, and three accuracies that show what it learned."""

from __future__ import annotations

import inspect
import streamlit as st

from catdog_core import jobs
from catdog_core.lessons import shortcut

from . import augcheck as augcheck_ui
from .jobs import PANEL_SECONDS
from .state import budget, data_source, owner, presenter
from .text import plain, refusal

JOBS_KEY = "_shortcut_jobs"
MEANING = ("A model learns whatever separates the classes in its training photos, the animal or anything "
           "that comes with it: a watermark, a background, a square. Its score on photos like the training "
           "ones cannot tell which; photos where the clue and the class disagree can. Real cases: a pneumonia "
           "model that read the hospital's mark on X-rays, a \"horse\" model that read a photographer's caption.")


def _result(job) -> shortcut.ShortcutResult | None:
    answers = [h for h in job.history if "stamp" in h] if job is not None else []
    return shortcut.ShortcutResult.from_dict(answers[-1]) if answers else None


def _live(job_id: int, loaded) -> None:
    job = jobs.get_queue().get(job_id)
    if job is None:
        return
    result = _result(job)
    if result is not None:
        show(result, loaded)
    else:
        augcheck_ui.progress(job, "Plant a shortcut")
    augcheck_ui.rerun_when_ended(job)


def section(loaded) -> None:
    st.markdown("Stamp a small square on some of **one class's** training photos only, train the quick model "
                "on them, and see what it learned: the usual validation accuracy, and the same model on photos "
                "where the square and the class disagree.")
    names = list(loaded.class_names)
    a, b, c = st.columns(3)
    target = a.selectbox("Stamp the photos of", names, key="shortcut_target")
    share = a.slider("Share of them stamped", 0, 100, 100, step=10, format="%d%%", key="shortcut_share")
    size = b.slider("Square (pixels a side of 160)", shortcut.MIN_SIZE, shortcut.MAX_SIZE, 16, key="shortcut_size")
    corner = b.selectbox("Corner", shortcut.CORNERS, index=3, key="shortcut_corner")
    colour = c.selectbox("Colour", list(shortcut.COLOURS), key="shortcut_colour")
    stamp = shortcut.Stamp(target, share / 100, size, corner, colour)
    c.image(shortcut.stamped(loaded.train.images[:1], stamp)[0], caption="a training photo, stamped", width=160)
    store = st.session_state.setdefault(JOBS_KEY, {})  # {(dataset key, stamp): the job that answers it}
    asked = (loaded.key, stamp)
    job = jobs.get_queue().get(store[asked]) if asked in store else None
    if job is None or job.state in (jobs.FAILED, jobs.STOPPED):
        if job is not None and job.state == jobs.FAILED:
            st.error(plain(job.error or "The shortcut's job failed."))
        if st.button("Plant it and train the quick model", type="primary", icon=":material/science:",
                     key="shortcut_run", help="A job of the training queue: features of the stamped photos through "
                                              "the frozen MobileNetV2, then two quick heads, with the stamp and "
                                              "without (seconds once the features are kept)."):
            with refusal() as said:
                store[asked] = jobs.submit(jobs.shortcut_spec(stamp, data_source()), owner=owner(), budget=budget())
            if not said.error:
                st.rerun()
        st.caption(MEANING)
        return
    if job.active:
        st.fragment(_live, run_every=PANEL_SECONDS)(job.job_id, loaded)
    else:
        _live(job.job_id, loaded)


def show(result, loaded) -> None:
    others = " and ".join(n for n in result.class_names if n != result.stamp["target"])
    cols = st.columns(3)
    cols[0].metric("Clean validation photos", f"{result.clean:.1%}",
                   help=f"{result.counts['clean']} photos as they are; without the stamp in training: "
                        f"{result.without['clean']:.1%}")
    cols[1].metric(f"{plain(others)}, stamped", f"{result.others_stamped:.1%}",
                   delta=f"{-result.fall * 100:.0f} points", delta_color="off" if result.fall < 0.1 else "normal",
                   help=f"{result.counts['others_stamped']} validation photos of the other classes with the square; "
                        f"the control (trained without it): {result.without['others_stamped']:.1%}")
    cols[2].metric(f"{plain(result.stamp['target'])}, no stamp", f"{result.target_clean:.1%}",
                   help=f"{result.counts['target_clean']} validation photos of the stamped class, as they are; "
                        f"the control: {result.without['target_clean']:.1%}")
    st.markdown(f"**{plain(result.sentence())}**")
    ex = result.example
    if ex:
        left, right = st.columns([1, 3] if not presenter() else [1, 1])
        photo = loaded.validation.images[ex["index"]][None]
        left.image(shortcut.stamped(photo, shortcut.Stamp(**result.stamp))[0], width="stretch",
                   caption=f"a validation photo of {plain(ex['true'])}, stamped")
        right.markdown(f"With the square the model says **{plain(ex['with_stamp'])}** "
                       f"({ex['with_stamp_probability']:.1%}); the same photo without it: **{plain(ex['as_is'])}** "
                       f"({ex['as_is_probability']:.1%}). Covering just the square is the occlusion test: "
                       "when the answer flips, the square was the evidence.")
    st.caption(f"{result.stamped_photos} training photos stamped ({plain(shortcut.Stamp(**result.stamp).describe())}); "
               f"{result.seconds:.1f} s. The control is the same head trained on the photos without any square. "
               + MEANING)
    with st.expander("Show the code", icon=":material/code:"):
        st.code(inspect.getsource(shortcut.stamped) + "\n\n" + _recipe(result), language="python", wrap_lines=True)


def _recipe(result) -> str:
    st_ = result.stamp
    return (f"# Stamp {st_['share']:.0%} of the {st_['target']!r} training photos, then train as usual:\n"
            f"stamp = Stamp({st_['target']!r}, share={st_['share']}, size={st_['size']}, corner={st_['corner']!r}, "
            f"colour={st_['colour']!r})\n"
            "train_images[chosen] = stamped(train_images[chosen], stamp)\n"
            "model.fit(train_images, train_labels, ...)\n"
            "model.evaluate(stamped(other_class_validation_images, stamp), other_class_labels)")

