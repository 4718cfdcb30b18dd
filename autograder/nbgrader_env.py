"""Running nbgrader's own apps in-process with the course's ``nbgrader_config.py``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


def course_config(root: Path, **overrides: dict) -> Config:
    """The course's nbgrader config, rooted at ``root``, with per-section overrides merged on top.

    ``course_config(root, CourseDirectory={"db_url": ...})`` is how callers point nbgrader elsewhere.
    """
    loader = PyFileConfigLoader("nbgrader_config.py", path=str(root))
    config = loader.load_config()
    config.CourseDirectory.root = str(root)
    for section, values in overrides.items():
        for key, value in values.items():
            setattr(config[section], key, value)
    return config


def nbgrader_api(config: Config):
    """An :class:`nbgrader.apps.NbGraderAPI` for ``config``, logging only warnings and worse."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    # nbgrader's gradebook shells out to the `alembic` script, which lives beside this interpreter;
    # when the venv was not activated that folder is not on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log_level = logging.WARNING
    return api
