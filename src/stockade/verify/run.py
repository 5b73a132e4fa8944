"""Running the steps of ``stockade verify`` over its targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stockade.verify.interface import Check, Target, VerifyError

__all__ = ["Outcome", "verify"]


@dataclass(frozen=True)
class Outcome:
    target: Target
    ok: bool
    message: str


def verify(
    checks: Sequence[Check],
    targets: Sequence[Target],
    *,
    report: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Every check on every target. A step that cannot open fails the whole run; a step's
    state is saved only when every target passed. Returns one outcome per target."""
    outcomes = []
    for check in checks:
        check.open()
    for target in targets:
        notes: list[str] = []
        try:
            for check in checks:
                notes.append(check.check(target))
        except VerifyError as exc:
            outcome = Outcome(target, False, f"{check.name}: {exc}")
        else:
            outcome = Outcome(target, True, ", ".join(notes))
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
    if all(o.ok for o in outcomes):
        for check in checks:
            check.close()
    return outcomes
