"""The configuration ``jupyterhub -f`` reads for a workshop (``proximal hub`` passes this file).

Every value comes from the state folder's ``hub/settings.json`` (``$PROXIMAL_HUB_STATE``), written
by ``proximal hub``; a file named in ``extra_config`` is loaded last and may override anything
(TLS, a public address, limits: see docs/instructor.md).
"""

from pathlib import Path

from proximal.workshop.layout import INSTRUCTOR_SCOPE, SERVICE_NAME, STATE_ENV, from_env

c = get_config()  # noqa: F821  (injected by traitlets)
layout = from_env()
settings = layout.settings()
roster = layout.roster()
venv_bin = Path(settings.python).parent

c.JupyterHub.ip = settings.ip
c.JupyterHub.port = settings.port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings.hub_port
c.JupyterHub.db_url = f"sqlite:///{layout.private / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(layout.private / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(layout.private / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [settings.proxy]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(layout.private / "proxy.pid")

c.JupyterHub.authenticator_class = "proximal.workshop.auth.WorkshopAuthenticator"
c.Authenticator.admin_users = set(roster["instructors"])
c.Authenticator.any_allow_config = True  # WorkshopAuthenticator.check_allowed reads the roster

c.JupyterHub.spawner_class = "proximal.workshop.spawner.WorkshopSpawner"
c.Spawner.cmd = [settings.learner_python, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
c.Spawner.environment = {"JUPYTERHUB_SINGLEUSER_APP": "jupyter_server.serverapp.ServerApp"}
# A server's own token may call the grading service (the notebook's "submit and grade").
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!user",
    f"access:services!service={SERVICE_NAME}",
]

c.JupyterHub.custom_scopes = {
    INSTRUCTOR_SCOPE: {"description": "See the workshop's dashboard and every learner's results."}
}
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", f"access:services!service={SERVICE_NAME}"]},
    {"name": "instructor", "scopes": [INSTRUCTOR_SCOPE], "users": sorted(roster["instructors"])},
]
c.JupyterHub.services = [
    {
        "name": SERVICE_NAME,
        "display": True,
        "url": f"http://127.0.0.1:{settings.grader_port}",
        "command": [settings.python, "-m", "proximal.workshop.service"],
        "environment": {
            STATE_ENV: str(layout.state),
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(layout.private / "home"),
            **layout.jupyter_state(),
        },
        "oauth_no_confirm": True,
        # an instructor's login to the service carries the instructor scope; a learner's cannot
        "oauth_client_allowed_scopes": [INSTRUCTOR_SCOPE],
    }
]
if settings.extra_config:
    load_subconfig(settings.extra_config)  # noqa: F821
