"""A workshop on a real JupyterHub: one server per learner, grade on submit, a live dashboard.

Its own package (not under :mod:`proximal.instructor`) because it serves both roles: the hub's
configuration, the users and the grading service are the instructor's, the in-notebook
"submit and grade" (:mod:`proximal.workshop.notebook`) is the learner's.

* :mod:`proximal.workshop.layout`: the hub's state folder and its settings;
* :mod:`proximal.workshop.deploy`: Unix users, folders, per-user Jupyter settings, releasing a module;
* :mod:`proximal.workshop.jupyterhub_config`: the file ``jupyterhub -f`` reads;
* :mod:`proximal.workshop.auth` and :mod:`proximal.workshop.spawner`: who may log in, how a server starts;
* :mod:`proximal.workshop.inbox` and :mod:`proximal.workshop.gradejob`: what to grade, grading one submission;
* :mod:`proximal.workshop.service`: the hub-managed grading service and its dashboard.

Importing this package has no side effects.
"""
