"""Who may act on what. Every job, run, upload and exclusion list belongs to the session that made
it (its owner string, e.g. "session 3f…", kept by the browser's pass); the teacher (the terminal
that runs the server, a user alone on their machine, or whoever gave the teacher password) may act
on everyone's. The checks run where the action is carried out, never only by hiding a button,
and each refusal is one sentence. A student's share of the machine is bounded here too."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CatdogError
from .words import count


class NotYours(CatdogError):
    """An action on another student's work."""


@dataclass(frozen=True)
class Actor:
    """Who asks: a session's owner string ("" for the command line) and whether it is the teacher."""

    owner: str
    teacher: bool = False

    def may(self, owner: str) -> bool:
        """Whether this actor may change what `owner` made ("" is the command line's: teacher only)."""
        return self.teacher or (bool(self.owner) and owner == self.owner)

    def may_copy(self, owner: str) -> bool:
        """Whether this actor may take a copy of what `owner` made (export a run's model): their own,
        and what the command line made for the class; a classmate's trained model stays theirs."""
        return self.may(owner) or not owner

    def check(self, owner: str, what: str) -> None:
        """Raise NotYours unless this actor may act on `what` (e.g. "stop this job"), made by `owner`."""
        if not self.may(owner):
            whose = "the teacher's" if not owner else "another student's"
            raise NotYours(f"You cannot {what}: it is {whose}, and only its owner or the teacher may.")


TERMINAL = Actor("", teacher=True)


def shown(owner: str) -> str:
    """An owner as a list shows it when they have no board name: "session 3f2a" (their pass's id
    is long and private), or "command line" for what the terminal queued."""
    if not owner:
        return "command line"
    return owner[:12] if owner.startswith("session ") else owner[:40]  # the command line and the notebook API: whoever runs the server


@dataclass(frozen=True)
class Budget:
    """What one student may have waiting or running at once."""

    active_jobs: int = 4  # the post's four models together
    queued_epochs: int = 120  # the post's four (80) and a quick transfer or two


STUDENT_BUDGET = Budget()


def job_epochs(epochs: int, fine_tune_epochs: int, points: int) -> int:
    """What a job costs in epochs: each point of a learning curve is a training of its own."""
    return (epochs + fine_tune_epochs) * max(1, points)


def check_budget(budget: Budget, active_jobs: int, active_epochs: int, new_jobs: int, new_epochs: int) -> None:
    """Refuse, with the limit in one sentence, what would take a student past `budget`."""
    if active_jobs + new_jobs > budget.active_jobs:
        raise CatdogError(f"You already have {count(active_jobs, 'job')} waiting or training; a student may have "
                          f"{budget.active_jobs} at once, so let one finish or stop one first.")
    if active_epochs + new_epochs > budget.queued_epochs:
        raise CatdogError(f"That would give you {active_epochs + new_epochs} epochs waiting or training; a student "
                          f"may have {budget.queued_epochs} at once, so train fewer epochs or wait for a job to end.")
