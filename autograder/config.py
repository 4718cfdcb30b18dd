"""How the course's ``nbgrader_config.py`` plugs the engine into nbgrader: its lists, extended.

nbgrader's default preprocessor lists are read from nbgrader itself and changed in place, so a
step that a newer nbgrader adds to its defaults is kept (``tests/test_adapters.py`` checks it).
"""

from __future__ import annotations


def _named(step: object) -> str:
    return step.rsplit(".", 1)[-1] if isinstance(step, str) else getattr(step, "__name__", str(step))


def _insert_after(steps: list, anchor: str, new: str) -> list:
    names = [_named(s) for s in steps]
    at = names.index(anchor) + 1 if anchor in names else len(steps)
    return steps[:at] + [new] + steps[at:]


def autograde_preprocessors() -> list:
    """nbgrader's autograde steps with Execute surviving a dead kernel, and every output capped."""
    from nbgrader.converters import Autograde

    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    steps = ["autograder.execute.SurvivingExecute" if _named(s) == "Execute" else s for s in steps]
    return _insert_after(steps, "LimitOutput", "autograder.feedback.CapOutputs")


def feedback_preprocessors() -> list:
    """nbgrader's feedback steps, with the guard cells dropped and hidden tests redacted and cleared first."""
    from nbgrader.converters import GenerateFeedback

    steps = list(GenerateFeedback.class_traits()["preprocessors"].default())
    for new in (
        "nbgrader.preprocessors.ClearHiddenTests",
        "autograder.feedback.RedactHiddenTests",
        "autograder.feedback.DropGuardCells",
    ):
        steps = _insert_after(steps, "GetGrades", new)
    return steps
