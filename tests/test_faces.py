"""Tests for proximal.helpers.faces: shapes, determinism, balance, and that the labels can be learned."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from proximal.helpers.faces import CLASS_NAMES, FROWN, SMILE, make_faces


def test_shapes_dtypes_and_balance():
    images, labels = make_faces(50, seed=0)
    assert isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor)
    assert images.shape == (50, 1, 32, 32)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert images.is_contiguous()
    assert set(labels.tolist()) == {FROWN, SMILE}
    assert int(labels.sum()) == 25
    assert torch.isfinite(images).all()
    assert -1.5 < float(images.min()) and float(images.max()) < 2.5
    assert CLASS_NAMES[SMILE] == "smile" and CLASS_NAMES[FROWN] == "frown"


def test_labels_are_shuffled_not_alternating():
    _, labels = make_faces(40, seed=3)
    assert labels.tolist() != [0, 1] * 20
    assert labels.tolist() != [1, 0] * 20


@pytest.mark.parametrize("size", [16, 24, 40])
def test_other_sizes(size):
    images, labels = make_faces(6, seed=1, size=size)
    assert images.shape == (6, 1, size, size)
    assert labels.shape == (6,)


def test_same_seed_same_data_other_seed_other_data():
    a_img, a_lab = make_faces(20, seed=7)
    b_img, b_lab = make_faces(20, seed=7)
    c_img, _ = make_faces(20, seed=8)
    torch.testing.assert_close(a_img, b_img, rtol=0, atol=0)
    torch.testing.assert_close(a_lab, b_lab, rtol=0, atol=0)
    assert not torch.equal(a_img, c_img)


def test_global_random_state_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_faces(10, seed=0)
    torch.testing.assert_close(torch.rand(3), expected)


def test_images_vary():
    images, _ = make_faces(30, seed=2)
    flat = images.flatten(1)
    # no two images are the same (random position, size, noise)
    assert torch.cdist(flat, flat).add(torch.eye(30) * 1e9).min() > 1.0


def test_noise_free_faces_are_clean_and_ink_is_brighter_than_background():
    images, _ = make_faces(20, seed=4, noise=(0.0, 0.0))
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # each face has some ink (bright) pixels and mostly background
    bright = (images > 0.55).flatten(1).float().mean(1)
    assert (bright > 0.01).all() and (bright < 0.5).all()


def test_zero_images_and_bad_arguments():
    images, labels = make_faces(0, seed=0)
    assert images.shape == (0, 1, 32, 32) and labels.shape == (0,)
    with pytest.raises(ValueError):
        make_faces(-1, seed=0)
    with pytest.raises(ValueError):
        make_faces(4, seed=0, size=8)


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 2),
    )


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread; two threads thrash when the machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_are_learnable_by_a_small_cnn(seed, one_thread):
    """The task is learnable: a small CNN on 400 faces clears 80% on 400 others, for several seeds."""
    x_train, y_train = make_faces(400, seed=100 + seed)
    x_test, y_test = make_faces(400, seed=200 + seed)
    torch.manual_seed(seed)
    model = _tiny_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(8):
        perm = torch.randperm(400, generator=gen)
        for i in range(0, 400, 32):
            idx = perm[i : i + 32]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.8, f"seed {seed}: held-out accuracy {accuracy:.3f}"
