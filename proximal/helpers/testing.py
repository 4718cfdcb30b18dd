"""Code that several exercise test cells share: probes that see *how* a learner's code ran.

Each module has its own section below, under a comment header naming it. Hidden-test logic stays in
the notebooks; what is here is only the measuring equipment. Importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from proximal.helpers.timeline import count_primes

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# --- module 01/02 ---
# A probe for CPU-bound work sent to a process pool. `loop_ticker()` runs a tick task on the test's
# event loop that writes the time of its latest tick to a file; `cpu_probe(n)` is ordinary CPU work
# (count_primes) that, before it returns, waits until it has seen the loop tick after it started. It
# lives in an importable module, so a `ProcessPoolExecutor` worker can import it. Run in the loop's own
# thread, it sees no tick (the loop is frozen while it runs) and says so in its report.

TICK_FILE_ENV = "PROXIMAL_TICK_FILE"


class CpuReport(NamedTuple):
    """What `cpu_probe` saw: its answer and where and how it ran."""

    value: int  # count_primes(n)
    pid: int  # the process that did the work
    thread: int  # the thread (threading.get_ident()) in that process
    loop_ticked: bool  # did the event loop tick while the work was running?
    start: float  # time.monotonic() when the work started (one clock for all processes here)
    end: float  # time.monotonic() when it ended


def _last_tick(path: str | None) -> float:
    if not path:
        return float("-inf")
    try:
        return float(Path(path).read_text() or "-inf")
    except (OSError, ValueError):
        return float("-inf")


def cpu_probe(n: int, patience: float = 1.5) -> CpuReport:
    """Count the primes below `n` (CPU-bound work), then wait up to `patience` s for two loop ticks.

    The ticks must come from `loop_ticker()` after the work started; they show that the event loop
    stayed free while this function ran. Returns a :class:`CpuReport`.
    """
    path = os.environ.get(TICK_FILE_ENV)
    start = time.monotonic()
    value = count_primes(int(n))
    deadline = start + patience
    seen: set[float] = set()
    while time.monotonic() < deadline:
        tick = _last_tick(path)
        if tick > start:
            seen.add(tick)
            if len(seen) >= 2:
                break
        time.sleep(0.002)
    return CpuReport(value, os.getpid(), threading.get_ident(), len(seen) >= 2, start, time.monotonic())


class TickLog:
    """The ticks `loop_ticker()` made: their count, and the loop's thread and process."""

    def __init__(self) -> None:
        self.count = 0
        self.pid = os.getpid()
        self.thread = threading.get_ident()


@contextlib.asynccontextmanager
async def loop_ticker(interval: float = 0.005) -> AsyncIterator[TickLog]:
    """While the block runs, tick on the running event loop every `interval` s (see `cpu_probe`).

    The tick file is named in ``os.environ[TICK_FILE_ENV]``, which worker processes and threads
    started inside the block inherit.
    """
    log = TickLog()
    with tempfile.TemporaryDirectory(prefix="proximal-ticks-") as folder:
        path = Path(folder) / "tick"
        scratch = Path(folder) / "tick.tmp"
        stop = asyncio.Event()

        async def tick() -> None:
            while not stop.is_set():
                scratch.write_text(repr(time.monotonic()))
                os.replace(scratch, path)
                log.count += 1
                await asyncio.sleep(interval)

        old = os.environ.get(TICK_FILE_ENV)
        os.environ[TICK_FILE_ENV] = str(path)
        task = asyncio.create_task(tick())
        try:
            yield log
        finally:
            stop.set()
            await task
            if old is None:
                os.environ.pop(TICK_FILE_ENV, None)
            else:
                os.environ[TICK_FILE_ENV] = old


# --- module 03: the quick flaky command of the run_with_retry tests ---
# `proximal.helpers.flaky.FlakyCommand` starts a Python for every run (about 0.06 s here, much more on a
# loaded machine). The tests run the same plans with a POSIX shell that uses only its builtins for a
# run that fails or succeeds (a few ms), so that a test may cut a hung run short at a timeout far
# shorter than the notebook's COMMAND_TIMEOUT and still far longer than a run that must not time out.

_QUICK_FLAKY = r"""
state=$1; hang=$2; shift 2
runs=0
if [ -f "$state" ]; then read -r runs < "$state"; fi
runs=$((runs + 1))
echo "$runs" > "$state"
step=ok
if [ "$runs" -le "$#" ]; then eval "step=\${$runs}"; fi
case "$step" in
  fail) echo "flaky: run $runs failed (service not ready)" >&2; exit 1 ;;
  fail:*) echo "flaky: run $runs failed (service not ready)" >&2; exit "${step#fail:}" ;;
  hang) exec sleep "$hang" ;;
esac
echo "ok: run $runs"
"""


class QuickFlakyCommand:
    """:class:`proximal.helpers.flaky.FlakyCommand`'s plans, run by ``sh`` (its script is written in ``folder``).

    Run ``k`` follows the plan's ``k``-th step, then every run succeeds: ``fail`` (``fail:N``) writes
    ``flaky: run k failed (service not ready)`` on stderr and exits with 1 (N); ``ok`` prints
    ``ok: run k``; ``hang`` becomes ``sleep hang_seconds`` (killed with the run on a timeout) and exits
    with 0 without printing.
    """

    def __init__(self, folder: str | Path, plan: Sequence[str], hang_seconds: float = 5.0) -> None:
        from proximal.helpers.flaky import parse_plan

        self.plan = parse_plan(plan)
        self.state = Path(folder) / f"flaky-{id(self):x}.runs"
        self.script = Path(folder) / "flaky.sh"
        self.script.write_text(_QUICK_FLAKY)
        self.hang_seconds = float(hang_seconds)

    @property
    def args(self) -> list[str]:
        """The argument list for :func:`subprocess.run`: ``sh flaky.sh STATE HANG_SECONDS STEP...``."""
        shell = shutil.which("sh") or "/bin/sh"
        return [shell, str(self.script), str(self.state), f"{self.hang_seconds:g}", *self.plan]

    @property
    def runs(self) -> int:
        """How many times the command has been started so far."""
        return int(self.state.read_text()) if self.state.exists() else 0


# --- module 03/04 ---


def run_counting_hashes(
    script: str | Path, args: Sequence[str | Path], cwd: str | Path | None = None, timeout: float = 60
) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    """Run ``python SCRIPT ARGS...``; return the finished process and its SHA-256 digests by kind.

    The counts (``{"leaf": ..., "node": ..., "other": ...}``) come from
    :mod:`proximal.helpers.hashcount`: a digest of bytes that start with ``0x00`` is a ``leaf``, with
    ``0x01`` a ``node`` (RFC 6962's prefixes). Raises ``subprocess.TimeoutExpired`` after ``timeout``.
    """
    from proximal.helpers import hashcount
    from proximal.helpers.commands import python_executable

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        done = subprocess.run(
            [python_executable(), hashcount.__file__, str(out), str(script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
        counts = json.loads(out.read_text()) if out.exists() else {"leaf": 0, "node": 0, "other": 0}
    return done, counts


def run_counting_hashes_here(
    script: str | Path, args: Sequence[str | Path], cwd: str | Path | None = None
) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    """:func:`run_counting_hashes`, but in this process: no Python start-up, for a test's quick cases.

    The script runs as ``__main__`` (:func:`proximal.helpers.hashcount.run_script`, the command's own
    runner), with the working folder and stdout/stderr swapped for the run and put back.
    """
    from proximal.helpers import hashcount

    argv = [str(script), *map(str, args)]
    counts = {"leaf": 0, "node": 0, "other": 0}
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(cwd or os.getcwd()),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        status = hashcount.run_script(argv[0], argv[1:], counts)
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue()), counts


async def finish_within(coro: Any, seconds: float = 10) -> asyncio.Task:
    """Run learner code with a time limit; the finished task (its result or its exception).

    A retry that sleeps for real instead of awaiting the ``sleep`` it was given, or never stops,
    fails here with that said, rather than holding the test cell until its timeout.
    """
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        raise AssertionError(
            f"your code did not finish within {seconds} s: does it sleep for real instead of awaiting the "
            "`sleep` it was given, or retry forever (no stop condition)? (see Hint 2)"
        )
    return task


def sleep_recorder() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    """``(waits, sleep)``: an async ``sleep`` that returns at once and records each wait it was asked for."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(float(seconds))

    return waits, sleep


class CountingReplica:
    """A replica for the tests: answers ``node(lo, hi)`` for real RFC 6962 tree nodes only, and counts requests."""

    def __init__(self, leaves: Iterable[bytes]) -> None:
        self._leaves = list(leaves)
        self.requests = 0
        self._ok = {(0, len(self._leaves))}
        todo = [(0, len(self._leaves))]
        while todo:
            lo, hi = todo.pop()
            if hi - lo > 1:
                k = 1
                while 2 * k < hi - lo:
                    k *= 2
                for child in ((lo, lo + k), (lo + k, hi)):
                    self._ok.add(child)
                    todo.append(child)

    def __len__(self) -> int:
        return len(self._leaves)

    def node(self, lo: int, hi: int) -> bytes:
        lo, hi = int(lo), int(hi)
        assert (lo, hi) in self._ok, (
            f"diff_leaves asked for node({lo}, {hi}), which is not a node of a tree of {len(self)} leaves: the "
            f"children of (lo, hi) are (lo, lo + split_point(hi - lo)) and (lo + split_point(hi - lo), hi) (see Hint 2)."
        )
        self.requests += 1
        return hashlib.sha256(repr(self._leaves[lo:hi]).encode()).digest()


def replica_pair(n: int, changed: Iterable[int]) -> tuple[CountingReplica, CountingReplica]:
    """Two replicas of ``n`` CSV-like rows that differ in the rows ``changed``."""
    left = [f"{i},Cork,{(7 * i) % 13}.5".encode() for i in range(n)]
    right = list(left)
    for i in changed:
        right[i] = right[i] + b"!"
    return CountingReplica(left), CountingReplica(right)


def diff_budget(n: int, k: int) -> int:
    """Most node hashes (both replicas together) a root-first walk needs for ``k`` changes among ``n`` leaves."""
    depth = max(1, math.ceil(math.log2(n))) if n > 1 else 0
    return 2 * (1 + 2 * k * depth)


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


# --- module 06 ---


def tensors_close(actual: object, expected: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when `actual` is a tensor of `expected`'s shape whose entries are all within `atol` of it."""
    import torch  # here, not at the top: module 01's process-pool workers import this module too

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


# --- module 07 ---


def closest_variant(actual: Tensor, variants: Mapping[str, Tensor], *, atol: float = 1e-5) -> str | None:
    """The first name in ``variants`` whose tensor ``actual`` equals (same shape, within ``atol``), or None.

    ``variants`` maps a description of a mistake (in the learner's terms) to what that mistake
    computes on the test's input, so a failed comparison can say which mistake the answer matches.
    """
    import torch  # here, not at the top: modules 01-04 import this module too

    if not isinstance(actual, torch.Tensor):
        return None
    got = actual.detach().float()
    for name, wrong in variants.items():
        wrong = wrong.detach().float()
        if got.shape == wrong.shape and bool(torch.isfinite(got).all()):
            if torch.allclose(got, wrong, atol=atol, rtol=0.0):
                return name
    return None


def assert_close_named(
    actual: Tensor,
    expected: Tensor,
    variants: Mapping[str, Tensor],
    *,
    what: str,
    hint: str,
    atol: float = 1e-5,
) -> None:
    """Pass when ``actual`` is within ``atol`` of ``expected``; else name the mistake it matches.

    Raises AssertionError with ``"{what} is wrong: {variant}"`` when ``actual`` matches one of
    ``variants`` (a description of that mistake), otherwise with the largest difference and
    ``hint`` (e.g. ``"see Hint 2"``).
    """
    import torch  # here, not at the top: modules 01-04 import this module too

    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what} must be a torch.Tensor, got {type(actual).__name__} ({hint}).")
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{what} has shape {tuple(actual.shape)}; expected {tuple(expected.shape)} ({hint})."
        )
    got, want = actual.detach().float(), expected.detach().float()
    if not bool(torch.isfinite(got).all()):
        raise AssertionError(f"{what} contains nan or inf ({hint}).")
    if torch.allclose(got, want, atol=atol, rtol=0.0):
        return
    name = closest_variant(got, variants, atol=atol)
    if name is not None:
        raise AssertionError(f"{what} is wrong: {name}")
    worst = float((got - want).abs().max())
    raise AssertionError(
        f"{what} is wrong: it differs from the expected values by up to {worst:.3g} ({hint})."
    )


def propagation_matrix(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """The dense matrix an edge list describes: the weight of edge ``j -> i`` at row ``i``, column ``j``.

    Repeated edges add up. ``matrix @ x`` is then the weighted sum of the messages each node receives.
    """
    import torch  # here, not at the top: modules 01-04 import this module too

    out = torch.zeros(num_nodes, num_nodes)
    return out.index_put_((edge_index[1], edge_index[0]), edge_weight.detach().float(), accumulate=True)


def gcn_matrix_variants(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, dict[str, Tensor]]:
    """GCN's matrix D~^-1/2 (A + I) D~^-1/2 and what the usual mistakes compute instead.

    Returns ``(expected, variants)``; each variant is keyed by a description of the mistake (it
    names the hint that helps: the hints of ``gcn_norm`` in module 07's exercises).
    """
    import torch  # here, not at the top: modules 01-04 import this module too

    adj = torch.zeros(num_nodes, num_nodes)
    adj[edge_index[1], edge_index[0]] = 1.0  # row = target, column = source
    loops = adj + torch.eye(num_nodes)
    deg_loops = loops.sum(dim=1)
    deg = adj.sum(dim=1).clamp(min=1.0)
    col, row = deg_loops.unsqueeze(0), deg_loops.unsqueeze(1)
    expected = loops / torch.sqrt(row * col)
    variants = {
        "missing self-loops: the weights are those of D^-1/2 A D^-1/2, without A + I; add one edge "
        "i -> i per node before computing the degrees (see Hint 2).": adj
        / torch.sqrt(deg.unsqueeze(1) * deg.unsqueeze(0)),
        "the degrees leave out the self-loop: count it (neighbours + 1) when you compute the degrees "
        "(see Hint 2).": loops / torch.sqrt(deg.unsqueeze(1) * deg.unsqueeze(0)),
        "row normalisation: each weight is 1/deg~(target), i.e. D~^-1 (A + I), a mean; GCN divides by "
        "the square roots of both ends' degrees (see Hint 2).": loops / row,
        "each weight is 1/deg~(source), i.e. (A + I) D~^-1; GCN divides by the square roots of both "
        "ends' degrees (see Hint 2).": loops / col,
        "the square root is missing: the weights are 1/(deg~_i deg~_j) instead of "
        "1/sqrt(deg~_i deg~_j) (see Hint 2).": loops / (row * col),
        "no normalisation: every edge has weight 1 (see Hint 2).": loops,
    }
    return expected, variants


def _dense_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    import torch  # here, not at the top: modules 01-04 import this module too

    adj = torch.zeros(num_nodes, num_nodes)
    adj[edge_index[1], edge_index[0]] = 1.0  # row = target, column = source
    return adj


def cheb_variants(
    lins: list[torch.nn.Module], bias: Tensor, x: Tensor, edge_index: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """A Chebyshev filter of L^ = L_sym - I (lambda_max = 2) with the given weights, and the usual mistakes.

    ``lins[k]`` maps ``T_k(L^) x``; the output is ``sum_k lins[k](T_k(L^) x) + bias``. Returns
    ``(expected, variants)`` keyed by a description of each mistake (naming the hint of
    ``cheb_filter`` in module 07's exercises that helps).
    """
    import torch  # here, not at the top: modules 01-04 import this module too

    n = x.size(0)
    keep = edge_index[0] != edge_index[1]
    adj = _dense_adjacency(edge_index[:, keep], n)
    deg = adj.sum(dim=1)
    inv_sqrt = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    sym = inv_sqrt.unsqueeze(1) * adj * inv_sqrt.unsqueeze(0)  # D^-1/2 A D^-1/2
    loops = adj + torch.eye(n)
    d_loops = loops.sum(dim=1).pow(-0.5)
    row = adj / deg.clamp(min=1.0).unsqueeze(1)

    def filtered(scaled: Tensor, chebyshev: bool = True) -> Tensor:
        with torch.no_grad():
            t_prev, t_cur = x, scaled @ x
            out = lins[0](x)
            for k, lin in enumerate(lins[1:], start=1):
                if k > 1:
                    t_prev, t_cur = t_cur, (2 * scaled @ t_cur - t_prev) if chebyshev else scaled @ t_cur
                out = out + lin(t_cur)
            return out + bias

    expected = filtered(-sym)
    variants = {
        "not rescaled: it filters with L_sym = I - D^-1/2 A D^-1/2 itself; with lambda_max = 2 the "
        "Chebyshev polynomials take L^ = 2 L_sym / lambda_max - I = -D^-1/2 A D^-1/2 (see Hint 1).": filtered(
            torch.eye(n) - sym
        ),
        "the sign of L^ is flipped: L^ = L_sym - I = -D^-1/2 A D^-1/2, with a minus (see Hint 1).": filtered(
            sym
        ),
        "row normalisation: the edge weights are 1/deg(target), D^-1 A; the normalised Laplacian "
        "uses 1/sqrt(deg_i deg_j) (see Hint 2).": filtered(-row),
        "self-loops added as in GCN (A + I): the Laplacian of ChebConv uses the graph as it is, without "
        "self-loops (see Hint 2).": filtered(-(d_loops.unsqueeze(1) * loops * d_loops.unsqueeze(0))),
        "powers instead of Chebyshev polynomials: T_k = L^ T_(k-1) is the monomial L^k; the "
        "recurrence is T_k = 2 L^ T_(k-1) - T_(k-2) (see Hint 3).": filtered(-sym, chebyshev=False),
    }
    return expected, variants


def gat_variants(
    h: Tensor, att_src: Tensor, att_dst: Tensor, bias: Tensor, edge_index: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """Single-head GAT on transformed features ``h`` (dense, for small graphs), and the usual mistakes.

    Returns ``(expected, variants)`` keyed by a description of each mistake (naming the hint of
    ``gat_layer`` in module 07's exercises that helps).
    """
    import torch  # here, not at the top: modules 01-04 import this module too

    n = h.size(0)
    with torch.no_grad():
        adj = _dense_adjacency(edge_index[:, edge_index[0] != edge_index[1]], n).bool()
        mask = adj | torch.eye(n, dtype=torch.bool)
        raw = (h @ att_dst).unsqueeze(1) + (h @ att_src).unsqueeze(0)  # [target i, source j]
        scores = torch.nn.functional.leaky_relu(raw, 0.2)

        def weighted(alpha: Tensor) -> Tensor:
            return alpha @ h + bias

        def masked(m: Tensor, dim: int | None) -> Tensor:
            s = scores.masked_fill(~m, float("-inf"))
            if dim is None:
                return torch.softmax(s.view(-1), dim=0).view(n, n)
            return torch.softmax(s, dim=dim).nan_to_num(0.0)

        expected = weighted(masked(mask, 1))
        variants = {
            "softmax over all edges of the graph: the attention weights must sum to 1 over the edges "
            "into each target node i, one softmax per target (see Hint 1).": weighted(masked(mask, None)),
            "softmax grouped by the source node (edge_index[0]): the weights must sum to 1 over the "
            "edges into each target edge_index[1] (see Hint 1).": weighted(masked(mask, 0)),
            "missing self-loops: node i must also attend to itself; add one edge i -> i per node "
            "(see Hint 2).": weighted(masked(adj, 1)),
            "att_src and att_dst are swapped: att_src scores the source h_j, att_dst the target h_i "
            "(see Hint 2).": weighted(
                torch.softmax(
                    torch.nn.functional.leaky_relu(
                        (h @ att_src).unsqueeze(1) + (h @ att_dst).unsqueeze(0), 0.2
                    ).masked_fill(~mask, float("-inf")),
                    dim=1,
                )
            ),
            "the LeakyReLU is missing: e_ij = LeakyReLU_0.2(a_src . h_j + a_dst . h_i) (see Hint 2).": weighted(
                torch.softmax(raw.masked_fill(~mask, float("-inf")), dim=1)
            ),
        }
    return expected, variants


# --- module 05's lazy probes (see its section) ---


def __getattr__(name: str) -> Any:
    if name in _MODULE_05 and name != "switched_off":
        probes = _module_05_probes()
        globals().update(probes)
        return probes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
