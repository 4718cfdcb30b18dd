"""What the instructor's live dashboard shows, and a learner's own result, read from the gradebook.

The per-exercise numbers and the peer pairs are :func:`proximal.instructor.report.build`'s (the
same as ``proximal report``); the attempts come from the grading service's ledger. A learner is
**stuck** on their first unsolved exercise once they have ``stuck_after`` graded attempts.
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path

from autograder.notebooks import CourseError, read_notebook
from proximal.workshop.inbox import Ledger, attempts
from proximal.workshop.layout import Layout


def module_in_progress(layout: Layout) -> str | None:
    """The module released last (the newest folder in the exchange's outbound)."""
    if not layout.outbound.is_dir():
        return None
    released = sorted(layout.outbound.iterdir(), key=lambda p: p.stat().st_mtime)
    return released[-1].name if released else None


def board(layout: Layout, module: str, stuck_after: int) -> dict:
    """The dashboard's data for ``module``: exercises, stuck learners with a peer each, the queue."""
    from proximal.instructor.report import build

    events = Ledger(layout.ledger).events()
    tries = attempts(events, module)
    data: dict = {"module": module, "exercises": [], "stuck": [], "pairs": [], "learners": 0}
    data["recent"] = [
        {k: e.get(k) for k in ("student", "event", "score", "max_score", "at")}
        for e in events
        if e["assignment"] == module and e["event"] in ("graded", "failed")
    ][-8:][::-1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = build(layout.course, module, chart=False)
    except CourseError:  # nothing graded yet
        return data
    data["learners"] = len(report.students)
    for row in report.exercises:
        data["exercises"].append(
            {
                "name": row.name,
                "level": row.level,
                "submitted": row.students,
                "passed": row.passed,
                "pass_rate": row.pass_rate,
                "not_attempted": row.not_attempted,
                "failures": [{"count": n, "message": m} for n, m in row.failures],
            }
        )
    peer = {p.learner: p for p in report.pairs}
    data["pairs"] = [
        {"helper": p.helper, "learner": p.learner, "exercise": p.exercise, "reason": p.reason}
        for p in report.pairs
    ]
    first_unsolved = [(p.learner, p.exercise) for p in report.pairs] + list(report.unpaired)
    for learner, exercise in sorted(first_unsolved):
        count = tries.get(learner, 0)
        if count >= stuck_after:
            pair = peer.get(learner)
            data["stuck"].append(
                {
                    "learner": learner,
                    "exercise": exercise,
                    "attempts": count,
                    "peer": pair.helper if pair else None,
                    "reason": pair.reason if pair else "no classmate has solved it yet",
                }
            )
    return data


def learner_result(layout: Layout, student: str, module: str) -> dict | None:
    """A learner's latest graded submission: total and, per exercise, points and failure messages.

    Messages are the test cells' assertion messages (written for the learner); hidden tests'
    code and tracebacks are never included.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.pipeline import score
    from proximal.learner.check import cell_results, summarise

    db = layout.course / "gradebook.db"
    if not db.is_file():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(f"sqlite:///{db}") as gb:
            try:
                submission = gb.find_submission(module, student)
            except MissingEntry:
                return None
            total, top = float(submission.score), float(submission.max_score)
            stamp = submission.timestamp.isoformat() if submission.timestamp else None
    graded = [
        e
        for e in Ledger(layout.ledger).events()
        if e["event"] == "graded" and e["student"] == student and e["assignment"] == module
    ]
    out: dict = {
        "student": student,
        "module": module,
        "score": total,
        "max_score": top,
        # the ledger's line comes last (after the feedback's release): until then this grade is not announced
        "timestamp": graded[-1]["timestamp"] if graded else None,
        "gradebook_timestamp": stamp,
        "attempts": len(graded),
        "notebooks": [],
    }
    for source_path in sorted((layout.course / "solutions" / module).glob("*.ipynb")):
        autograded = layout.course / "autograded" / student / module / source_path.name
        if not autograded.is_file():
            continue
        nb, source = read_notebook(autograded), read_notebook(source_path)
        rows = summarise(cell_results(score(nb)), source)
        out["notebooks"].append(
            {
                "name": source_path.name,
                "exercises": [
                    {
                        "name": r.name,
                        "level": r.level,
                        "points": r.points,
                        "max_points": r.max_points,
                        "messages": r.messages,
                        "attempted": r.attempted,
                        "hints": r.hints,
                    }
                    for r in rows
                ],
            }
        )
    return out


def feedback_html(layout: Layout, student: str, module: str) -> str | None:
    """The learner's feedback pages (nbgrader's, hidden tests removed), one after another."""
    folder = layout.course / "feedback" / student / module
    pages = sorted(Path(folder).glob("*.html")) if folder.is_dir() else []
    return "\n".join(p.read_text(encoding="utf-8") for p in pages) if pages else None


# ---------------------------------------------------------------- HTML


def _bar(rate: float) -> str:
    width = round(200 * rate)
    colour = "#2e7d32" if rate >= 0.75 else "#f9a825" if rate >= 0.4 else "#c62828"
    return (
        f'<svg width="210" height="16" role="img" aria-label="{100 * rate:.0f}% passed">'
        f'<rect width="200" height="14" fill="#eee"/><rect width="{width}" height="14" fill="{colour}"/></svg>'
    )


def render_fragment(data: dict) -> str:
    """The part of the dashboard that refreshes: tables and bars, escaped."""
    e = html.escape
    parts = [f"<h2>{e(data['module'])}: {data['learners']} learner(s) graded</h2>"]
    if not data["exercises"]:
        parts.append("<p>No submission graded yet. Submissions are graded as they arrive.</p>")
    else:
        parts.append(
            '<table class="ex"><tr><th>exercise</th><th>level</th><th>submitted</th>'
            "<th>passed</th><th>pass rate</th><th>most frequent failures</th></tr>"
        )
        for ex in data["exercises"]:
            fails = "".join(f"<li>{f['count']}× {e(f['message'][:160])}</li>" for f in ex["failures"])
            parts.append(
                f"<tr><td>{e(ex['name'])}</td><td>{e(ex['level'])}</td><td>{ex['submitted']}</td>"
                f'<td class="passed">{ex["passed"]}</td><td style="white-space: nowrap">{_bar(ex["pass_rate"])} {100 * ex["pass_rate"]:.0f}%</td>'
                f"<td><ul>{fails}</ul></td></tr>"
            )
        parts.append("</table>")
    parts.append("<h3>Stuck (no pass after several attempts) and a peer who solved it</h3>")
    if data["stuck"]:
        parts.append(
            '<table class="stuck"><tr><th>learner</th><th>stuck on</th><th>attempts</th><th>peer</th></tr>'
        )
        for s in data["stuck"]:
            peer = e(s["peer"]) if s["peer"] else "<i>nobody yet: a job for you</i>"
            parts.append(
                f'<tr><td class="learner">{e(s["learner"])}</td><td>{e(s["exercise"])}</td>'
                f'<td>{s["attempts"]}</td><td class="peer">{peer}</td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append("<p>Nobody is stuck.</p>")
    if data["pairs"]:
        parts.append("<h3>Suggested pairs (helper → learner)</h3><ul class=pairs>")
        parts += [f"<li>{e(p['helper'])} → {e(p['learner'])}: {e(p['reason'])}</li>" for p in data["pairs"]]
        parts.append("</ul>")
    if data["recent"]:
        parts.append("<h3>Latest gradings</h3><ul>")
        for r in data["recent"]:
            score = f"{r['score']:g}/{r['max_score']:g}" if r.get("max_score") else r["event"]
            parts.append(f"<li>{e(r['student'])}: {score}</li>")
        parts.append("</ul>")
    return "\n".join(parts)


def render_page(data: dict, fragment_url: str, xsrf: str, seconds: float = 2.0) -> str:
    """The whole page; it re-fetches its fragment every ``seconds``.

    The hub's login cookie only counts for a script's request that carries the XSRF token.
    """
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Workshop dashboard: {html.escape(data["module"])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }}
ul {{ margin: 0; padding-left: 1.2em; }} #updated {{ color: #777; font-size: 80%; }}
</style></head>
<body><h1>Where is the class stuck?</h1><div id="updated"></div>
<div id="board">{render_fragment(data)}</div>
<script>
async function refresh() {{
  try {{
    const r = await fetch({fragment_url!r}, {{credentials: "same-origin", headers: {{"X-XSRFToken": {xsrf!r}}}}});
    if (r.ok) {{
      document.getElementById("board").innerHTML = await r.text();
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    }}
  }} catch (e) {{}}
}}
setInterval(refresh, {int(seconds * 1000)});
</script></body></html>"""
