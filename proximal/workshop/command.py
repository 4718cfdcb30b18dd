"""``proximal hub``: start a workshop hub, add people, release a module, export grades, tear it down."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

ACTIONS = ("start", "add", "release", "export", "teardown")
DEFAULT_STATE = "/srv/proximal-hub"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        default="start",
        help="start (default): set up and run the hub; add NAME...: create learners (or --instructor); "
        "release MODULE: put a module in the exchange; export: write the grades CSV; "
        "teardown: delete the users it created and its state folder",
    )
    parser.add_argument("names", nargs="*", help="user names (add, start) or the module (release)")
    parser.add_argument(
        "--state", default=DEFAULT_STATE, help=f"the hub's state folder (default {DEFAULT_STATE})"
    )
    parser.add_argument(
        "--ip", default="127.0.0.1", help="address the hub listens on (default: loopback only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="the hub's port (default 8000)")
    parser.add_argument(
        "--instructor", action="append", default=[], help="an instructor's user name (repeatable)"
    )
    parser.add_argument(
        "--stuck-after",
        type=int,
        default=2,
        help="graded attempts without a pass before a learner counts as stuck",
    )
    parser.add_argument("--extra-config", default="", help="a JupyterHub config file loaded last (TLS, ...)")
    parser.add_argument(
        "--csv", help="export: where to write the grades (default: grades.csv in the course folder)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: argparse.Namespace) -> int:
    from autograder.notebooks import CourseError, find_course_root
    from proximal.workshop import deploy
    from proximal.workshop.layout import Layout

    layout = Layout(Path(args.state).resolve())
    if args.action not in ACTIONS:  # `proximal hub ada bo`: start, with these learners
        args.names, args.action = [args.action, *args.names], "start"
    if args.action == "teardown":
        removed = deploy.teardown(layout)
        print(f"Removed {layout.state} and {len(removed)} user(s): {', '.join(removed) or 'none'}.")
        return 0
    if args.action == "add":
        if not layout.settings_path.is_file():
            raise CourseError(
                f"No hub set up in {layout.state}: run `proximal hub --state {layout.state}` first."
            )
        learners = [] if args.instructor else args.names
        created = deploy.add_users(layout, learners=learners, instructors=args.instructor)
        print(f"Added {', '.join(learners + args.instructor)} ({len(created)} new Unix user(s)).")
        return 0
    if args.action == "release":
        if len(args.names) != 1:
            raise CourseError("Usage: proximal hub release MODULE")
        deploy.release_module(layout, args.names[0])
        print(f"Released {args.names[0]}: learners can fetch it in the Assignments tab.")
        return 0
    if args.action == "export":
        from autograder.grade import export_csv

        path = Path(args.csv) if args.csv else layout.course / "grades.csv"
        export_csv(deploy.exchange_config(layout), path)
        print(f"Grades: {path}")
        return 0

    root = find_course_root(Path.cwd())
    instructors = args.instructor or ["instructor"]
    settings = deploy.init_state(
        layout, root, ip=args.ip, port=args.port, instructors=instructors, stuck_after=args.stuck_after
    )
    deploy.add_users(layout, learners=args.names, instructors=instructors)
    settings = layout.settings()
    settings.hub_port, settings.proxy_api_port, settings.grader_port = (
        _free_port(),
        _free_port(),
        _free_port(),
    )
    settings.extra_config = str(Path(args.extra_config).resolve()) if args.extra_config else ""
    layout.save_settings(settings)
    print(
        f"Workshop hub on http://{args.ip}:{args.port}/\n"
        f"  learners ({', '.join(layout.roster()['learners']) or 'none yet: proximal hub add NAME'}): "
        f"password = workshop code {layout.workshop_code.read_text().strip()}\n"
        f"  instructor ({', '.join(instructors)}): password = instructor code "
        f"{layout.instructor_code.read_text().strip()}\n"
        f"  dashboard: http://{args.ip}:{args.port}/services/grader/dashboard",
        flush=True,
    )
    exec_hub(layout)
    return 0  # not reached


def hub_environment(layout) -> dict[str, str]:
    """The hub's environment: its state folder, and Jupyter's own files kept inside it."""
    from proximal.workshop.layout import STATE_ENV

    return {**os.environ, STATE_ENV: str(layout.state), **layout.jupyter_state()}


def hub_command() -> list[str]:
    config = Path(__file__).with_name("jupyterhub_config.py")
    return [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(config)]


def exec_hub(layout) -> None:
    os.chdir(layout.private)
    command = hub_command()
    os.execve(command[0], command, hub_environment(layout))
