"""Tests for proximal.helpers.backoff: previewing tenacity wait strategies and simulating retry storms."""

from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from tenacity import (  # noqa: E402
    wait_exponential,
    wait_fixed,
    wait_random,
    wait_random_exponential,
)

from proximal.helpers.backoff import plot_schedules, plot_storm, storm_arrivals, wait_schedule  # noqa: E402


def test_fixed_and_exponential_schedules():
    assert wait_schedule(wait_fixed(2), 3) == [2.0, 2.0, 2.0]
    assert wait_schedule(wait_exponential(multiplier=0.1, max=1), 5) == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0]
    )
    assert wait_schedule(wait_exponential(multiplier=1, min=2, max=10), 4) == [2.0, 2.0, 4.0, 8.0]
    assert wait_schedule(wait_fixed(1), 0) == []
    with pytest.raises(ValueError):
        wait_schedule(wait_fixed(1), -1)


def test_combined_strategies_work():
    waits = wait_schedule(wait_fixed(1) + wait_random(0, 0.5), 20)
    assert all(1.0 <= w <= 1.5 for w in waits)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jitter_is_seeded_and_bounded_and_restores_global_random(seed):
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    wait = wait_random_exponential(multiplier=0.5, max=8)
    a = wait_schedule(wait, 10, seed=seed)
    assert random.random() == expected_next, "the global random state must be restored"
    assert a == wait_schedule(wait, 10, seed=seed)
    caps = wait_schedule(wait_exponential(multiplier=0.5, max=8), 10)
    assert all(0 <= w <= cap for w, cap in zip(a, caps, strict=True))
    assert a != wait_schedule(wait, 10, seed=seed + 100)


def test_storm_without_jitter_comes_in_waves():
    times = storm_arrivals(wait_exponential(multiplier=1, max=8), clients=50, attempts=4)
    assert len(times) == 200
    assert sorted(set(times)) == [0.0, 1.0, 3.0, 7.0]  # everyone retries at the same instants
    jittered = storm_arrivals(wait_random_exponential(multiplier=1, max=8), clients=50, attempts=4)
    assert len(set(jittered)) > 150, "jitter should spread the retries out"
    assert jittered == storm_arrivals(wait_random_exponential(multiplier=1, max=8), clients=50, attempts=4)


def test_storm_spread_and_duration():
    times = storm_arrivals(wait_fixed(1), clients=3, attempts=2, spread=0.0, duration=0.5)
    assert times == [0.0, 0.0, 0.0, 1.5, 1.5, 1.5]
    spread = storm_arrivals(wait_fixed(1), clients=10, attempts=1, spread=2.0, seed=3)
    assert all(0 <= t <= 2 for t in spread) and len(set(spread)) == 10
    with pytest.raises(ValueError):
        storm_arrivals(wait_fixed(1), clients=-1, attempts=1)
    retries = storm_arrivals(wait_fixed(1), clients=3, attempts=3, include_first=False)
    assert retries == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]


def test_plots_draw_something():
    ax = plot_schedules({"fixed": [1, 1, 1], "exp": [0.5, 1, 2]}, title="t")
    assert len(ax.lines) == 2 and ax.get_title() == "t"
    ax = plot_schedules({"exp": [0.5, 1, 2]}, cumulative=True)
    assert list(ax.lines[0].get_ydata()) == [0.5, 1.5, 3.5]
    axes = plot_storm({"a": [0, 0, 1], "b": [0.1, 0.6, 1.2]}, bin_width=0.5, capacity=2)
    assert len(axes) == 2 and "peak 2" in axes[0].get_title()
    with pytest.raises(ValueError):
        plot_storm({"a": [0]}, bin_width=0)
    plt.close("all")


def test_import_has_no_matplotlib_side_effect():
    import subprocess
    import sys

    code = "import sys, proximal.helpers.backoff; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
