"""The ``proximal`` command: check, grade, release, lint, lab."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.notebooks import CourseError, find_course_root


def _cmd_check(args: argparse.Namespace) -> int:
    from autograder.check import render, run_check

    report = run_check(args.notebook, timeout=args.timeout)
    print(render(report))
    return 0 if report.all_passed else 1


def _cmd_release(args: argparse.Namespace) -> int:
    from autograder.release import release

    root = find_course_root(Path.cwd())
    done = release(root, args.modules or None)
    print(f"Regenerated exercises/ for {', '.join(done)}.")
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from autograder.lint import lint_course

    problems = lint_course(find_course_root(Path.cwd()))
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) found." if problems else "All notebooks follow the course conventions.")
    return 1 if problems else 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from autograder.grade import grade, render_report

    root = Path(args.course_dir).resolve() if args.course_dir else find_course_root(Path.cwd())
    report = grade(root, args.assignment, jobs=args.jobs, students=args.student or None,
                   csv_path=Path(args.csv) if args.csv else None, feedback=not args.no_feedback)
    print(render_report(report))
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    root = find_course_root(Path.cwd())
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses to run as root without it
    command += args.jupyter_args
    os.execv(sys.executable, command)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proximal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check your saved exercise notebook against the full tests")
    check.add_argument("notebook", help="path to your exercise notebook, e.g. exercises/01-asyncio/asyncio-exercises.ipynb")
    check.add_argument("--timeout", type=int, default=60, help="seconds a cell may run (default 60)")
    check.set_defaults(func=_cmd_check)

    grade = sub.add_parser("grade", help="autograde submitted/<student>/<assignment>/, write feedback and a CSV of grades")
    grade.add_argument("assignment", help="assignment id, e.g. 01-asyncio")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: number of cores)")
    grade.add_argument("--csv", help="where to write the grades (default: grades.csv in the course folder)")
    grade.add_argument("--course-dir", help="the course folder (default: found from the current folder)")
    grade.add_argument("--no-feedback", action="store_true", help="skip generating HTML feedback")
    grade.set_defaults(func=_cmd_grade)

    release = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    release.add_argument("modules", nargs="*", help="only these modules (default: all)")
    release.set_defaults(func=_cmd_release)

    lint = sub.add_parser("lint", help="check every notebook follows the course conventions")
    lint.set_defaults(func=_cmd_lint)

    lab = sub.add_parser("lab", help="open the course in JupyterLab")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    lab.set_defaults(func=_cmd_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"proximal {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
