"""The ``proximal`` command: check, grade, release, lint, mistakes, lab, workspace, reset, progress, hint, report, hub."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from autograder.notebooks import CourseError, find_course_root


def _cmd_check(args: argparse.Namespace) -> int:
    from proximal.learner.check import render, render_html, run_check

    report = run_check(args.notebook, timeout=args.timeout)
    if args.format == "json":  # what the notebook's check() reads: the text and the HTML table
        import json

        print(json.dumps({"text": render(report), "html": render_html(report)}))
    else:
        print(render(report))
    _record_progress(report)
    return 0 if report.all_passed else 1


def _record_progress(report) -> None:
    """Keep the result in workspace/.progress.json; a failure here never fails the check."""
    try:
        from proximal.learner.progress import record_check
        from proximal.learner.workspace import in_learner_area

        root = find_course_root(report.notebook.parent)
        if in_learner_area(root, report.notebook):
            record_check(root, report)
    except Exception as exc:  # progress is a convenience: the check's result stands regardless
        print(
            f"proximal check: warning: could not record progress ({exc.__class__.__name__}: {exc})",
            file=sys.stderr,
        )


def _cmd_workspace(args: argparse.Namespace) -> int:
    from proximal.learner.workspace import populate

    root = find_course_root(Path.cwd())
    result = populate(root)
    for path in result.copied:
        print(f"copied  {path.relative_to(root)}")
    print(
        f"Your workspace: {result.workspace} ({len(result.copied)} new, {len(result.kept)} kept as they were)."
    )
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    from proximal.learner.workspace import reset

    root = find_course_root(Path.cwd())
    dest, backup = reset(root, args.notebook)
    print(f"Restored {dest.relative_to(root)} afresh.")
    if backup is not None:
        print(f"Your previous version is kept as {backup.relative_to(root)}.")
    return 0


def _cmd_progress(args: argparse.Namespace) -> int:
    from proximal.learner.progress import overview, plot_progress, render

    root = find_course_root(Path.cwd())
    rows = overview(root)
    print(render(rows))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = plot_progress(rows=rows)
        ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"Figure: {args.plot}")
    return 0


def _cmd_hint(args: argparse.Namespace) -> int:
    from proximal.learner.progress import next_hint

    root = find_course_root(Path.cwd())
    level, total, text = next_hint(root, args.notebook, args.exercise, args.level)
    print(text)
    if level < total:
        print(
            f"\n(Still stuck? `proximal hint {args.notebook} {args.exercise}` shows hint {level + 1} of {total}.)"
        )
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from proximal.authoring.release import release

    root = find_course_root(Path.cwd())
    done = release(root, args.modules or None)
    print(f"Regenerated exercises/ for {', '.join(done)}.")
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from proximal.authoring.lint import lint_course

    problems = lint_course(find_course_root(Path.cwd()), require_catalogue=not args.draft)
    for problem in problems:
        print(problem)
    print(
        f"{len(problems)} problem(s) found." if problems else "All notebooks follow the course conventions."
    )
    return 1 if problems else 0


def _cmd_mistakes(args: argparse.Namespace) -> int:
    from proximal.authoring.mistakes import failed, render, run

    root = find_course_root(Path.cwd())
    reports = run(root, args.module, timeout=args.timeout)
    print(render(reports))
    return 1 if failed(reports) else 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from autograder.grade import grade, render_report

    root = Path(args.course_dir).resolve() if args.course_dir else find_course_root(Path.cwd())
    report = grade(
        root,
        args.assignment,
        jobs=args.jobs,
        students=args.student or None,
        csv_path=Path(args.csv) if args.csv else None,
        feedback=not args.no_feedback,
        scheduler=args.scheduler,
        overrides=args.overrides,
    )
    print(render_report(report))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from proximal.instructor.report import build, render

    root = Path(args.course_dir).resolve() if args.course_dir else find_course_root(Path.cwd())
    report = build(root, args.assignment, csv_path=Path(args.csv) if args.csv else None)
    print(render(report, pairs=not args.no_pairs))
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from proximal.learner.workspace import populate

    root = find_course_root(Path.cwd())
    copied = populate(root).copied
    if copied:
        print(f"Copied {len(copied)} new exercise notebook(s) into workspace/: work there.")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses to run as root without it
    command += args.jupyter_args
    os.execv(sys.executable, command)
    return 0  # not reached


def _cmd_hub(args: argparse.Namespace) -> int:
    from proximal.workshop.command import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proximal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check your saved exercise notebook against the full tests")
    check.add_argument(
        "notebook", help="path to your exercise notebook, e.g. exercises/01-asyncio/asyncio-exercises.ipynb"
    )
    check.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds a cell may run (default: Execute.timeout in nbgrader_config.py)",
    )
    check.add_argument("--format", choices=("text", "json"), default="text", help=argparse.SUPPRESS)
    check.set_defaults(func=_cmd_check)

    grade = sub.add_parser(
        "grade",
        help="autograde submitted/<student>/<assignment>/, write feedback and a CSV of grades",
        epilog="Any setting of nbgrader_config.py can be given as nbgrader takes it, e.g. "
        "--SandboxLimits.resident_bytes=2147483648 --Execute.timeout=30 --GradeBatch.retries=3 "
        "(the limits and their help: docs/instructor.md, 'The sandbox').",
    )
    grade.add_argument("assignment", help="assignment id, e.g. 01-asyncio")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="submissions graded at once (default: GradeBatch.jobs in nbgrader_config.py, else the number of cores)",
    )
    grade.add_argument("--csv", help="where to write the grades (default: grades.csv in the course folder)")
    grade.add_argument("--course-dir", help="the course folder (default: found from the current folder)")
    grade.add_argument("--no-feedback", action="store_true", help="skip generating HTML feedback")
    grade.add_argument(
        "--scheduler",
        default=None,
        help="grade on the Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786; '' for this machine "
        "(default: GradeBatch.scheduler in nbgrader_config.py, else this machine)",
    )
    grade.set_defaults(func=_cmd_grade)

    release = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    release.add_argument("modules", nargs="*", help="only these modules (default: all)")
    release.set_defaults(func=_cmd_release)

    lint = sub.add_parser("lint", help="check every notebook follows the course conventions")
    lint.add_argument(
        "--draft",
        action="store_true",
        help="a module being written: do not require the minimum mistake catalogue yet "
        "(3 per core exercise, 1 per warm-up and stretch)",
    )
    lint.set_defaults(func=_cmd_lint)

    mistakes = sub.add_parser(
        "mistakes", help="run every catalogued mistake: does each cost points and get its own message?"
    )
    mistakes.add_argument("module", nargs="?", help="only this module, e.g. 01-asyncio (default: all)")
    mistakes.add_argument("--timeout", type=int, default=60, help="seconds a cell may run (default 60)")
    mistakes.set_defaults(func=_cmd_mistakes)

    report = sub.add_parser(
        "report",
        help="after grading: pass rate and most-failed assertions per exercise, a chart, and peer pairs",
    )
    report.add_argument("assignment", help="assignment id, e.g. 01-asyncio")
    report.add_argument(
        "--csv", help="the grades CSV the chart is written beside (default: grades.csv in the course folder)"
    )
    report.add_argument("--course-dir", help="the course folder (default: found from the current folder)")
    report.add_argument("--no-pairs", action="store_true", help="do not suggest peer pairs")
    report.set_defaults(func=_cmd_report)

    workspace = sub.add_parser(
        "workspace", help="copy exercises you do not have yet into workspace/ (never overwrites)"
    )
    workspace.set_defaults(func=_cmd_workspace)

    reset = sub.add_parser(
        "reset", help="restore one exercise notebook in workspace/ afresh (the old one is kept as a backup)"
    )
    reset.add_argument(
        "notebook",
        help="e.g. 01-asyncio/asyncio-exercises.ipynb or workspace/01-asyncio/asyncio-exercises.ipynb",
    )
    reset.set_defaults(func=_cmd_reset)

    progress = sub.add_parser(
        "progress", help="what you have solved, with or without hints, and what to do next"
    )
    progress.add_argument("--plot", help="also save the progress grid as an image (e.g. progress.png)")
    progress.set_defaults(func=_cmd_progress)

    hint = sub.add_parser("hint", help="print the next hint for an exercise (and remember that you used it)")
    hint.add_argument("notebook", help="e.g. workspace/01-asyncio/asyncio-exercises.ipynb")
    hint.add_argument("exercise", help="the exercise name, as in the check's table (e.g. fetch_all)")
    hint.add_argument("--level", type=int, help="print this hint level instead of the next one")
    hint.set_defaults(func=_cmd_hint)

    lab = sub.add_parser("lab", help="open the course in JupyterLab")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    lab.set_defaults(func=_cmd_lab)

    from proximal.workshop.command import add_arguments

    hub = sub.add_parser("hub", help="run a workshop on a JupyterHub: grade on submit, a live dashboard")
    add_arguments(hub)
    hub.set_defaults(func=_cmd_hub)
    return parser


# nbgrader's command-line form for any configurable: --SandboxLimits.resident_bytes=2147483648
CONFIG_ARG = re.compile(r"^--[A-Za-z_]\w*\.[A-Za-z_]\w*=")


def config_overrides(argv: list[str]) -> tuple[list[str], dict[str, dict]]:
    """``argv`` without its ``--Class.trait=value`` settings, and those settings by class."""
    from traitlets.config.loader import KVArgParseConfigLoader

    settings = [arg for arg in argv if CONFIG_ARG.match(arg)]
    rest = [arg for arg in argv if not CONFIG_ARG.match(arg)]
    loaded = KVArgParseConfigLoader(settings).load_config() if settings else {}
    return rest, {section: dict(values) for section, values in loaded.items()}


def main(argv: list[str] | None = None) -> int:
    argv, overrides = config_overrides(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    if overrides and args.command != "grade":
        print(
            f"proximal {args.command}: --Class.trait=value settings apply to `proximal grade` only",
            file=sys.stderr,
        )
        return 2
    args.overrides = overrides
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"proximal {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
