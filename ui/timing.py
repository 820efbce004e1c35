"""How long a training takes, as the pages say it: only what this machine measured (the runs saved
here, the jobs its queue remembers), or nothing; never a guess made on another computer."""

from __future__ import annotations

from catdog_core import jobs, models, runs

from .data import cached_data
from .jobs import duration_text
from .state import data_source


def quick_time_note(listing) -> str:
    """' The last one on this data took 4 s here.' (a sentence to append), or '' when none was trained."""
    loaded = cached_data()
    seconds = runs.latest_seconds(listing, loaded.key, jobs.quick_spec().label) if loaded is not None else None
    return "" if seconds is None else f" The last one on this data took {duration_text(seconds)} here."


def reproduce_time_text(listing, epochs: int) -> str:
    """What the four models of the post would take here, each from its latest run on this data (per
    epoch, augmented as the post's are, times `epochs`); '' when none of them was trained here."""
    loaded = cached_data()
    if loaded is None:
        return ""
    known, unknown = [], []
    for name, recipe in models.RECIPES.items():
        per_epoch = runs.seconds_per_epoch(listing, loaded.key, name, recipe.uses_augmentation)
        if per_epoch is None:
            unknown.append(recipe.title.split(":")[0].lower())
        else:
            known.append(f"{recipe.title.split(':')[0].lower()} about {duration_text(per_epoch * epochs)}")
    if not known:
        return ""
    rest = f"; {', '.join(unknown)} not trained here yet" if unknown else ""
    return f"From the runs trained on this data here: {', '.join(known)}{rest}."


def curve_time_note(recipe: str) -> str:
    """', 4 min 50 s here last time' for a learning curve of `recipe` on the data in use, from the latest
    such job this machine's queue remembers; '' when none finished here."""
    here = jobs.resolved(jobs.curve_spec(recipe, data_source())).data
    for job in jobs.get_queue().jobs():
        if (job.spec.kind == jobs.CURVE_KIND and job.spec.recipe == recipe and job.spec.data == here
                and job.state == jobs.DONE and job.started and job.finished):
            return f", {duration_text(job.finished - job.started)} here last time"
    return ""
