"""The `>>>` examples in the packages' docstrings: do they still do what they say?"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import autograder
import proximal


def module_names() -> list[str]:
    names = []
    for package in (autograder, proximal):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if info.name not in ("proximal.__main__",):
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize(
    "name", [n for n in module_names() if ">>>" in (importlib.util.find_spec(n).loader.get_source(n) or "")]
)
def test_docstring_examples_run(name):
    """Does every example in this module's docstrings give the output it shows?"""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples in {name} failed (see the output above)"
    )
