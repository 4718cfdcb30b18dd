"""Who may log in to a workshop hub: the names on the roster, with the workshop's codes.

Accounts are created in advance by the instructor (``proximal hub add ada bo ...``: a Unix user
each, see :mod:`proximal.workshop.deploy`); learners log in with their name and the **workshop
code**, one code for the room that the instructor writes on the board, and the instructor with the
separate **instructor code**. Why not per-learner passwords: a two-hour workshop has no time for
password resets, and the roster already limits who gets in; why not a sign-up page
(NativeAuthenticator): strangers on the same network could create accounts. The codes never leave
the machine (no network but loopback is needed) and a new code is one file away.
"""

from __future__ import annotations

import hmac

from jupyterhub.auth import Authenticator

from proximal.workshop.layout import from_env


class WorkshopAuthenticator(Authenticator):
    """Roster names only; learners' password is the workshop code, instructors' the instructor code."""

    async def authenticate(self, handler, data: dict) -> dict | None:
        layout = from_env()
        name = self.normalize_username(str(data.get("username", "")))
        password = str(data.get("password", "")).strip()
        roster = layout.roster()
        if name in roster["instructors"]:
            expected = layout.instructor_code.read_text().strip()
        elif name in roster["learners"]:
            expected = layout.workshop_code.read_text().strip()
        else:
            self.log.warning("Login refused for %r: not on the workshop's roster", name)
            return None
        if not hmac.compare_digest(password.encode(), expected.encode()):
            self.log.warning("Login refused for %r: wrong code", name)
            return None
        return {"name": name, "admin": name in roster["instructors"]}

    def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        """The roster is read at every login: learners added while the hub runs can log in at once."""
        roster = from_env().roster()
        return username in roster["learners"] or username in roster["instructors"]
