"""Tests for module 06's section of proximal.helpers.testing: tensor comparisons that name a mistake."""

from __future__ import annotations

import torch

from proximal.helpers.testing import tensors_close, which_mistake


def test_tensors_close_needs_a_tensor_of_the_same_shape():
    """Does a list, a float or a tensor of another shape never count as close?"""
    expected = torch.zeros(2, 3)
    assert tensors_close(torch.zeros(2, 3), expected)
    assert not tensors_close([[0.0] * 3] * 2, expected)
    assert not tensors_close(0.0, expected)
    assert not tensors_close(torch.zeros(3, 2), expected)


def test_tensors_close_respects_the_tolerance_and_infinities():
    """Is a gap just over the tolerance refused, and must -inf entries sit in the same places?"""
    expected = torch.tensor([0.0, float("-inf"), 1.0])
    assert tensors_close(torch.tensor([1e-6, float("-inf"), 1.0]), expected, atol=1e-5)
    assert not tensors_close(torch.tensor([1e-4, float("-inf"), 1.0]), expected, atol=1e-5)
    assert not tensors_close(torch.tensor([0.0, 0.0, 1.0]), expected)
    assert not tensors_close(torch.tensor([0.0, float("-inf"), float("nan")]), expected)


def test_tensors_close_ignores_autograd():
    """Can a tensor that requires grad be compared without a warning or an error?"""
    x = torch.ones(3, requires_grad=True)
    assert tensors_close(x * 2, torch.full((3,), 2.0))


def test_which_mistake_names_the_first_match_or_none():
    """Does which_mistake return the name of the wrong answer that matches, and None for an unknown one?"""
    wrong = {"triu": torch.triu(torch.ones(3, 3)), "no diagonal": torch.tril(torch.ones(3, 3), -1)}
    assert which_mistake(torch.triu(torch.ones(3, 3)), wrong) == "triu"
    assert which_mistake(torch.tril(torch.ones(3, 3), -1), wrong) == "no diagonal"
    assert which_mistake(torch.eye(3), wrong) is None
    assert which_mistake("not a tensor", wrong) is None
