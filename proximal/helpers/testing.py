"""Code that several test cells of the exercise notebooks share (probes, comparisons with readable messages).

Each module's functions sit under a comment header naming the module. Hidden-test logic stays in the
notebooks: learners can read this package.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

# --- module 06 ---


def tensors_close(actual: object, expected: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when `actual` is a tensor of `expected`'s shape whose entries are all within `atol` of it."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return False
    actual, expected = actual.detach().double(), expected.detach().double()
    same_inf = torch.equal(torch.isinf(actual), torch.isinf(expected))
    finite = torch.isfinite(expected)
    return same_inf and bool(((actual - expected)[finite].abs() <= atol).all())


def which_mistake(
    actual: object, wrong_answers: Mapping[str, torch.Tensor], atol: float = 1e-5
) -> str | None:
    """The name of the first known wrong answer that `actual` matches, or None when it matches none of them.

    A test computes what a typical mistake would return (the gates in the wrong order, the wrong
    triangle of a mask, ...) and uses this to name the mistake in its assertion message.
    """
    for name, wrong in wrong_answers.items():
        if tensors_close(actual, wrong, atol):
            return name
    return None
