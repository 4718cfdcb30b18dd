"""An nbgrader preprocessor for feedback: hidden tests must not show through tracebacks.

nbgrader's ``ClearHiddenTests`` removes the hidden test *code* from a cell, but the traceback of
a failing hidden assertion still quotes the lines around it. This preprocessor, run before it,
cuts such tracebacks down to the error's name and message (the message is written for the learner).
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode


class RedactHiddenTests(Preprocessor):
    """Replace the traceback of every cell that holds hidden tests with its last line."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled
    begin_marker = Unicode("BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.begin_marker in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
