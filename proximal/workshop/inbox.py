"""What the grading service has to do: submissions in nbgrader's inbound folder against its ledger.

The exchange's inbound folder holds every submission ever made (``student+assignment+timestamp+random``);
the service's ledger (``hub/ledger.jsonl``, one JSON object per line, appended and flushed) says
which of them were graded. Nothing else is needed to resume after a crash: a submission that is
not in the ledger is graded again, unless the gradebook already holds it (the service died between
the gradebook's commit and the ledger line), in which case its feedback is released again and
the ledger completed, without a second grading.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

GRADE, RELEASE = "grade", "release"


@dataclass(frozen=True)
class Entry:
    name: str  # the folder's name in inbound/
    student: str
    assignment: str
    timestamp: str  # as nbgrader wrote it (timestamp.txt)
    path: Path

    @property
    def when(self) -> datetime:
        from nbgrader.utils import parse_utc

        return parse_utc(self.timestamp)

    def secret(self) -> str:
        path = self.path / "submission_secret.txt"
        return path.read_text().strip() if path.is_file() else ""


def scan(inbound: Path) -> list[Entry]:
    """Every complete submission in ``inbound`` (it has its timestamp.txt), oldest first."""
    found: list[Entry] = []
    if not inbound.is_dir():
        return found
    for folder in inbound.iterdir():
        parts = folder.name.split("+")
        if len(parts) < 3 or not folder.is_dir():
            continue
        stamp = folder / "timestamp.txt"
        if not stamp.is_file():  # nbgrader writes it after the notebooks: a submission still being copied
            continue
        found.append(Entry(folder.name, parts[0], parts[1], stamp.read_text().strip(), folder))
    return sorted(found, key=lambda e: (e.when, e.name))


def latest(entries: list[Entry]) -> dict[tuple[str, str], Entry]:
    """The newest submission per (student, assignment): the one that counts."""
    newest: dict[tuple[str, str], Entry] = {}
    for entry in entries:  # oldest first, so later ones win
        newest[(entry.student, entry.assignment)] = entry
    return newest


class Ledger:
    """Append-only record of the service's work: ``started``, ``graded``, ``released``, ``superseded``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line cut short by a crash mid-write: that event did not happen
                continue
        return out

    def append(self, event: str, entry: Entry, **data) -> dict:
        record = {
            "event": event,
            "entry": entry.name,
            "student": entry.student,
            "assignment": entry.assignment,
            "timestamp": entry.timestamp,
            "at": time.time(),
            **data,
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record

    def done(self) -> set[str]:
        """Entries whose grading is complete (graded and feedback released) or that a newer one replaced."""
        return {e["entry"] for e in self.events() if e["event"] in ("graded", "superseded")}


def plan(
    entries: list[Entry], ledger: Ledger, in_gradebook: dict[tuple[str, str], tuple[datetime | None, str]]
) -> list[tuple[str, Entry]]:
    """The work to do, oldest submission first: ``(GRADE | RELEASE, entry)``.

    Only each learner's newest submission is graded; older ones not yet graded are superseded
    (returned as nothing here; :func:`superseded` lists them). ``in_gradebook`` maps
    (student, assignment) to the gradebook's submission timestamp and the secret of the
    submission copied into ``submitted/``: both equal to the entry's means it was already graded.
    """
    done = ledger.done()
    work = []
    for key, entry in latest(entries).items():
        if entry.name in done:
            continue
        stamp, secret = in_gradebook.get(key, (None, ""))
        if stamp is not None and stamp == entry.when.replace(tzinfo=None) and secret == entry.secret():
            work.append((RELEASE, entry))
        else:
            work.append((GRADE, entry))
    return sorted(work, key=lambda item: (item[1].when, item[1].name))


def superseded(entries: list[Entry], ledger: Ledger) -> list[Entry]:
    """Submissions never graded because the same learner submitted again before their turn."""
    done, newest = ledger.done(), latest(entries)
    return [e for e in entries if e.name not in done and newest[(e.student, e.assignment)] is not e]


def attempts(ledger_events: list[dict], assignment: str) -> dict[str, int]:
    """Graded submissions per learner for ``assignment``."""
    counts: dict[str, int] = {}
    for event in ledger_events:
        if event["event"] == "graded" and event["assignment"] == assignment:
            counts[event["student"]] = counts.get(event["student"], 0) + 1
    return counts
