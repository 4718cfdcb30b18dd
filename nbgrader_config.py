"""nbgrader settings for the Proximal course (read by every nbgrader app run from this folder)."""

from autograder.config import autograde_preprocessors, feedback_preprocessors

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "proximal"
# Our folder names for nbgrader's source and release steps.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# Lessons and helper files are not part of an assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".hypothesis", "*.wav"]

# A submission that deletes a test cell gets it back instead of silently scoring 0 on it.
c.OverwriteCells.add_missing_cells = True
# Per-cell limit; a cell that runs past it is interrupted and grading moves on.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# On a loaded machine output can trail the execute reply by seconds; waiting longer and not
# failing the whole submission over it keeps grades independent of machine load.
c.Execute.iopub_timeout = 30
c.Execute.raise_on_iopub_timeout = False
# Keep feedback and the gradebook small whatever a submission prints.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 50

# Where `proximal grade` grades: "" is this machine; a Dask scheduler's address (tcp://HOST:8786) is
# that cluster's workers (docs/instructor.md, "Grading on a Dask cluster"); --scheduler overrides it.
c.GradeBatch.scheduler = ""
# Submissions graded at once on this machine (0: one per core); --jobs overrides it.
c.GradeBatch.jobs = 0

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader's own preprocessor lists, extended (not copied: a step a newer nbgrader adds is kept).
# Feedback shows no hidden test: neither its code nor the traceback lines that quote it.
# A kernel that dies mid-notebook costs the cells from there on, not the points already earned.
c.GenerateFeedback.preprocessors = feedback_preprocessors()
c.Autograde.autograde_preprocessors = autograde_preprocessors()
