"""The hub's state folder: where everything a running workshop keeps lives, and its settings.

``STATE/`` (root, 0755)
  ``hub/`` (root, 0700): ``settings.json``, ``roster.json``, the workshop and instructor codes,
  JupyterHub's database and cookie secret, the grading service's ledger;
  ``exchange/`` (root, 1777): nbgrader's exchange (``c.Exchange.root``);
  ``course/`` (the instructor, 0700): the instructor's course folder: ``solutions/``,
  ``exercises/``, ``nbgrader_config.py``, ``gradebook.db``, ``submitted/``, ``autograded/``, ``feedback/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

COURSE_ID = "proximal"
SERVICE_NAME = "grader"
# The custom scope only instructors hold: it opens the dashboard and every learner's results.
INSTRUCTOR_SCOPE = "custom:proximal:instructor"
STATE_ENV = "PROXIMAL_HUB_STATE"


@dataclass
class Settings:
    course_repo: str  # the checkout the course is installed from (its .venv serves every learner)
    python: str  # the venv's interpreter (the hub and the grading service run it, as root)
    learner_python: str  # what learners' servers run (see deploy.learner_python)
    proxy: str  # configurable-http-proxy
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 0  # 0: chosen free when the hub starts
    proxy_api_port: int = 0
    grader_port: int = 0
    instructors: list[str] = field(default_factory=list)
    stuck_after: int = 2  # a learner with this many graded attempts and no pass is "stuck"
    poll_seconds: float = 1.0
    extra_config: str = ""  # a JupyterHub config file loaded last (TLS, a public address, ...)


@dataclass
class Layout:
    state: Path

    @property
    def private(self) -> Path:
        return self.state / "hub"

    @property
    def exchange(self) -> Path:
        return self.state / "exchange"

    @property
    def course(self) -> Path:
        return self.state / "course"

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    @property
    def outbound(self) -> Path:
        return self.exchange / COURSE_ID / "outbound"

    def jupyter_state(self) -> dict[str, str]:
        """Where Jupyter, IPython and matplotlib keep their own files for the hub and its service: inside ``hub/``."""
        home = self.private / "home"
        names = (
            "JUPYTER_CONFIG_DIR",
            "JUPYTER_DATA_DIR",
            "JUPYTER_RUNTIME_DIR",
            "IPYTHONDIR",
            "MPLCONFIGDIR",
        )
        return {name: str(home / name.lower()) for name in names}

    @property
    def settings_path(self) -> Path:
        return self.private / "settings.json"

    @property
    def roster_path(self) -> Path:
        return self.private / "roster.json"

    @property
    def ledger(self) -> Path:
        return self.private / "ledger.jsonl"

    @property
    def workshop_code(self) -> Path:
        return self.private / "workshop-code"

    @property
    def instructor_code(self) -> Path:
        return self.private / "instructor-code"

    def settings(self) -> Settings:
        return Settings(**json.loads(self.settings_path.read_text()))

    def save_settings(self, settings: Settings) -> None:
        _write_json(self.settings_path, asdict(settings))

    def roster(self) -> dict[str, list[str]]:
        """``{"learners": [...], "instructors": [...], "created": [Unix users the set-up created]}``."""
        if not self.roster_path.is_file():
            return {"learners": [], "instructors": [], "created": []}
        return json.loads(self.roster_path.read_text())

    def save_roster(self, roster: dict[str, list[str]]) -> None:
        _write_json(self.roster_path, roster)


def from_env() -> Layout:
    """The layout of the hub this process belongs to (``$PROXIMAL_HUB_STATE``)."""
    return Layout(Path(os.environ[STATE_ENV]))


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
