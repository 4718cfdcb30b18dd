"""Probes that several test cells of the course's exercise notebooks share.

Learners can read this module: it holds tools (probes, fakes, comparisons), never the hidden
tests' logic or expected answers. Each module adds its functions under its own header.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

# --- module 05 ---
# torch is imported only when a module-05 probe is first used (PEP 562 module __getattr__), so that
# the other modules' test cells do not pay for importing it.

_MODULE_05 = ("CountingSGD", "RecordingLinear", "shifted", "switched_off")


def _module_05_probes() -> dict[str, Any]:
    import torch
    from torch import nn

    class RecordingLinear(nn.Module):
        """A linear classifier that records, at each call, its train/eval mode and whether autograd is on."""

        def __init__(self, n_in: int = 2, n_out: int = 2) -> None:
            super().__init__()
            self.linear = nn.Linear(n_in, n_out)
            self.modes: list[bool] = []
            self.grad_modes: list[bool] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.modes.append(self.training)
            self.grad_modes.append(torch.is_grad_enabled())
            return self.linear(x)

    class CountingSGD(torch.optim.SGD):
        """SGD that counts its steps and notices gradients left over from the step before.

        After each step it fills every gradient with a large mark; a training loop that resets the
        gradients (``zero_grad``) before the next ``backward()`` wipes the mark, one that does not
        leaves it in, and the next step counts that as ``stale`` (and removes the mark again, so the
        update itself stays ordinary SGD).
        """

        MARK = 1e6

        def __init__(self, params: Iterable[Any], lr: float) -> None:
            super().__init__(params, lr=lr)
            self.steps = 0
            self.stale = 0

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            self.steps += 1
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None and float(p.grad.abs().max()) > self.MARK / 2:
                        self.stale += 1
                        p.grad.sub_(self.MARK)
            result = super().step(closure)
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.fill_(self.MARK)
            return result

    def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        """``image`` ``[..., H, W]`` moved down by ``dy`` and right by ``dx`` pixels, zeros where nothing moved in."""
        out = torch.zeros_like(image)
        h, w = image.shape[-2:]
        if abs(dy) >= h or abs(dx) >= w:
            return out
        out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
            ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
        return out

    return {"CountingSGD": CountingSGD, "RecordingLinear": RecordingLinear, "shifted": shifted}


@contextlib.contextmanager
def switched_off(places: Iterable[tuple[Any, str]], message: str) -> Iterator[None]:
    """Replace each ``owner.name`` by a function that raises ``AssertionError(message)``; restore on exit."""
    missing = object()
    saved = []

    def blocked(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(message)

    try:
        for owner, name in places:
            saved.append((owner, name, vars(owner).get(name, missing)))
            setattr(owner, name, blocked)
        yield
    finally:
        for owner, name, old in reversed(saved):
            if old is missing:
                delattr(owner, name)
            else:
                setattr(owner, name, old)


def __getattr__(name: str) -> Any:
    if name in _MODULE_05 and name != "switched_off":
        probes = _module_05_probes()
        globals().update(probes)
        return probes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
