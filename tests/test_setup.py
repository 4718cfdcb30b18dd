"""The project's set-up files agree with each other."""

from __future__ import annotations

import re

from conftest import ROOT


def test_environment_yml_takes_its_packages_from_requirements():
    """Does environment.yml install requirements.txt rather than a list of its own that could drift?"""
    text = (ROOT / "environment.yml").read_text()
    assert "-r requirements.txt" in text
    assert not re.search(r"^\s*-\s*(torch|nbgrader|jupyterlab)\b", text, re.M)


def test_torch_is_pinned_exactly():
    """Is torch pinned to the CPU build on disk (a loose pin downloads a multi-GB CUDA build)?"""
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()


def test_readme_commands_are_makefile_targets():
    """Are the README's two commands real Makefile targets, and is `make test` what CI runs?"""
    readme, makefile = (ROOT / "README.md").read_text(), (ROOT / "Makefile").read_text()
    for target in ("lab", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_notebook_is_committed_with_outputs():
    """Are all notebooks free of outputs and execution counts?"""
    import nbformat

    dirty = []
    for path in sorted(ROOT.glob("*/**/*.ipynb")):
        if ".venv" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
            dirty.append(str(path.relative_to(ROOT)))
    assert dirty == []


def test_code_and_notebooks_pass_ruff():
    """Is every Python file and notebook clean under the project's ruff rules?"""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_code_and_notebooks_are_ruff_formatted():
    """Is every Python file and notebook formatted as `ruff format` would write it?"""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout[-3000:]


def test_packages_pass_mypy():
    """Does mypy find no type error in the packages ([tool.mypy] in pyproject.toml)?"""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
