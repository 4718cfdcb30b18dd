"""``proximal release``: regenerate ``exercises/`` from ``solutions/`` with nbgrader's generate_assignment.

nbgrader does the work (solution regions become stubs, hidden tests go, checksums are recorded);
this module only runs it in a scratch course folder, so the real gradebook is never touched, and
copies the result into place. Running it twice changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder.nbgrader_env import course_config, nbgrader_api
from autograder.notebooks import CourseError, modules, write_notebook


def generate(root: Path, module: str, dest: Path) -> list[Path]:
    """Generate the student version of ``module`` into ``dest`` (a folder, replaced whole)."""
    source = root / "solutions" / module
    if not source.is_dir():
        raise CourseError(f"No module '{module}' under {root / 'solutions'}.")
    with tempfile.TemporaryDirectory(prefix="proximal-release-") as scratch:
        scratch_root = Path(scratch)
        shutil.copytree(
            source,
            scratch_root / "solutions" / module,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        shutil.copy(root / "nbgrader_config.py", scratch_root / "nbgrader_config.py")
        config = course_config(
            scratch_root,
            CourseDirectory={
                "db_url": f"sqlite:///{scratch_root / 'gradebook.db'}",
                "release_directory": "release",
            },
        )
        result = nbgrader_api(config).generate_assignment(module, force=True, create=True)
        if not result["success"]:
            raise CourseError(
                f"nbgrader could not generate {module}:\n{result.get('error') or result.get('log')}"
            )
        built = scratch_root / "release" / module
        staged = dest.with_name(f".{dest.name}.new")
        if staged.exists():
            shutil.rmtree(staged)
        shutil.copytree(built, staged)
    for path in staged.glob("*.ipynb"):
        write_notebook(normalise(nbformat.read(path, as_version=4)), path)
    if dest.exists():
        shutil.rmtree(dest)
    staged.rename(dest)
    return sorted(dest.rglob("*"))


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip what would differ between runs or leak state: outputs, execution counts and the authors'
    mistake catalogue (``metadata.proximal.mistakes``: wrong answers and the messages that name them)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        meta = cell.get("metadata", {}).get("proximal")
        if isinstance(meta, dict):
            meta.pop("mistakes", None)
    return nb


def release(root: Path, only: list[str] | None = None, out: Path | None = None) -> list[str]:
    """Regenerate ``exercises/<module>`` for every module (or ``only`` these) into ``out`` or the course."""
    targets = only or modules(root)
    out = out or root / "exercises"
    out.mkdir(parents=True, exist_ok=True)
    for module in targets:
        generate(root, module, out / module)
    if not only:  # a module removed from solutions/ must not linger in exercises/
        for stale in out.iterdir():
            if stale.is_dir() and stale.name not in targets:
                shutil.rmtree(stale)
    return targets
