"""Shared fixtures; keeps Jupyter, IPython and matplotlib state out of the user's home."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = Path(__file__).resolve().parent / "fixtures" / "demo-course"
_STATE = tempfile.mkdtemp(prefix="proximal-test-state-")
DEMO_NB = "demo-exercises.ipynb"
# A correct answer to each exercise of the demo course (6 points: 1 + 2 + 3).
DEMO_CORRECT = {
    "double": "def double(x):\n    return x * 2\n",
    "add_all": "def add_all(xs):\n    return sum(xs)\n",
    "fib": "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/fixtures/golden/ from what the engine makes now",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "MPLCONFIGDIR",
    ):
        os.environ[name] = os.path.join(_STATE, name.lower())
    os.environ["MPLBACKEND"] = "Agg"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_STATE, ignore_errors=True)


def make_course(dest: Path, solutions: Path, cell_timeout: int | None = None) -> Path:
    """A scratch course folder: the given solutions/ and the real nbgrader_config.py."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(solutions, dest / "solutions")
    config = (ROOT / "nbgrader_config.py").read_text()
    if cell_timeout is not None:
        config += f"\nc.Execute.timeout = {cell_timeout}\n"
    (dest / "nbgrader_config.py").write_text(config)
    return dest


@pytest.fixture(scope="session")
def demo_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo course with its exercises generated once per session."""
    from proximal.authoring.release import release

    course = make_course(tmp_path_factory.mktemp("demo-release"), DEMO / "solutions", cell_timeout=5)
    release(course)
    return course


@pytest.fixture
def demo_course(demo_release: Path, tmp_path: Path) -> Path:
    """A private copy of the released demo course (tests may write into it)."""
    course = tmp_path / "course"
    shutil.copytree(demo_release, course)
    return course


def write_variant(
    source: Path,
    dest: Path,
    answers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    edit: dict[str, str] | None = None,
) -> Path:
    """Write a copy of notebook ``source`` to ``dest`` with some cells' code replaced or removed.

    ``answers`` and ``edit`` map grade ids to new source; ``drop`` lists grade ids to delete.
    """
    import nbformat

    nb = nbformat.read(source, as_version=4)
    changes = {**(answers or {}), **(edit or {})}
    kept = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in drop:
            continue
        if gid in changes:
            cell.source = changes[gid]
        kept.append(cell)
    nb.cells = kept
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


@pytest.fixture
def variant():
    """``variant(source, dest, answers=..., drop=..., edit=...)``: see :func:`write_variant`."""
    return write_variant


def submit_demo(course: Path, student: str, variant, **changes) -> Path:
    """Hand in a variant of the released demo notebook as ``submitted/<student>/00-demo/``."""
    released = course / "exercises" / "00-demo" / DEMO_NB
    return variant(released, course / "submitted" / student / "00-demo" / DEMO_NB, **changes)
