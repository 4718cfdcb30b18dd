"""Procedurally drawn faces that smile or frown: a small image data set made in code.

Each image is a grey-scale face (an outline, two eyes and a mouth) drawn with a random position,
size, line thickness, tilt, contrast and noise. The label says whether the mouth smiles (1) or
frowns (0). Nothing is downloaded: the same ``seed`` always gives the same tensors.

>>> images, labels = make_faces(8, seed=0)
>>> tuple(images.shape), images.dtype, labels.dtype
((8, 1, 32, 32), torch.float32, torch.int64)
"""

from __future__ import annotations

import math

import torch

__all__ = ["CLASS_NAMES", "FROWN", "SMILE", "make_faces"]

#: Label of a frowning face.
FROWN: int = 0
#: Label of a smiling face.
SMILE: int = 1
#: Class names in label order: ``CLASS_NAMES[label]``.
CLASS_NAMES: tuple[str, str] = ("frown", "smile")


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """``n`` draws from U(low, high) as a float32 tensor of shape ``[n, 1, 1]``."""
    return (low + (high - low) * torch.rand(n, generator=gen)).view(n, 1, 1)


def _ink(distance: torch.Tensor, half_width: torch.Tensor | float) -> torch.Tensor:
    """Anti-aliased stroke: 1 inside ``half_width`` of a curve, 0 beyond, a 1-pixel ramp between."""
    return (half_width + 0.5 - distance).clamp(0.0, 1.0)


def make_faces(
    n: int,
    seed: int,
    size: int = 32,
    *,
    noise: tuple[float, float] = (0.03, 0.15),
    max_tilt_degrees: float = 15.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` random faces, half smiling and half frowning, in a shuffled order.

    Args:
        n: number of images (>= 0).
        seed: seed of the private random generator; the same arguments give the same tensors,
            whatever the global random state (which this function leaves untouched).
        size: height and width in pixels (>= 16).
        noise: range of the standard deviation of the Gaussian pixel noise, drawn per image.
        max_tilt_degrees: each face is tilted by an angle drawn from +-this value.

    Returns:
        ``(images, labels)``: ``images`` is a float32 tensor ``[n, 1, size, size]`` with ink
        brighter than the background (values roughly in 0..1, noise may go a little beyond);
        ``labels`` is an int64 tensor ``[n]`` with :data:`SMILE` (1) or :data:`FROWN` (0).
        With an even ``n`` exactly half of the labels are 1.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    gen = torch.Generator().manual_seed(int(seed))

    labels = (torch.arange(n) % 2)[torch.randperm(n, generator=gen)].to(torch.int64)
    sign = (2.0 * labels.to(torch.float32) - 1.0).view(n, 1, 1)  # +1 smile, -1 frown

    # Geometry, in pixels; every parameter has shape [n, 1, 1] so it broadcasts over the grid.
    radius = _uniform(gen, n, 0.22 * size, 0.36 * size)
    margin = radius + 1.0
    cx = margin + torch.rand(n, generator=gen).view(n, 1, 1) * (size - 1 - 2 * margin)
    cy = margin + torch.rand(n, generator=gen).view(n, 1, 1) * (size - 1 - 2 * margin)
    half_line = _uniform(gen, n, 0.25, 0.05 * size)  # half the stroke thickness
    tilt = _uniform(gen, n, -max_tilt_degrees, max_tilt_degrees) * (math.pi / 180.0)

    # Pixel grid, then coordinates in the face's own frame (origin at its centre, untilted).
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    dx, dy = xx - cx, yy - cy
    cos, sin = torch.cos(tilt), torch.sin(tilt)
    u = cos * dx + sin * dy  # along the face's horizontal axis
    v = -sin * dx + cos * dy  # along its vertical axis (down is positive, as in images)

    outline = _ink((torch.sqrt(u**2 + v**2) - radius).abs(), half_line)

    eye_x = 0.38 * radius
    eye_y = -0.28 * radius
    eye_r = _uniform(gen, n, 0.08, 0.14) * radius
    eyes = torch.maximum(
        _ink(torch.sqrt((u - eye_x) ** 2 + (v - eye_y) ** 2) - eye_r, 0.0),
        _ink(torch.sqrt((u + eye_x) ** 2 + (v - eye_y) ** 2) - eye_r, 0.0),
    )

    # Mouth: a parabola y = mid + sign * depth * (0.5 - t^2), t = u / half_width in [-1, 1].
    # A smile (sign +1) has its middle lower than its corners (image y grows downwards).
    mouth_half_width = _uniform(gen, n, 0.40, 0.60) * radius
    depth = _uniform(gen, n, 0.18, 0.36) * radius
    mouth_mid = _uniform(gen, n, 0.30, 0.42) * radius
    t = u / mouth_half_width
    curve = mouth_mid + sign * depth * (0.5 - t**2)
    slope = -2.0 * sign * depth * t / mouth_half_width
    mouth_dist = (v - curve).abs() / torch.sqrt(1.0 + slope**2)
    beyond = ((t.abs() - 1.0) * mouth_half_width).clamp(min=0.0)  # pixels past a mouth corner
    mouth = _ink(torch.sqrt(mouth_dist**2 + beyond**2), half_line)

    drawing = torch.maximum(torch.maximum(outline, eyes), mouth)
    background = _uniform(gen, n, 0.0, 0.2)
    ink = _uniform(gen, n, 0.6, 1.0)
    sigma = _uniform(gen, n, noise[0], noise[1])
    images = background + (ink - background) * drawing
    images = images + sigma * torch.randn(n, size, size, generator=gen)
    return images.unsqueeze(1).to(torch.float32).contiguous(), labels
