"""The learner's side: the check's table, hints, progress, the workspace copy of the exercises."""
