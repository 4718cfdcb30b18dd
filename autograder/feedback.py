"""nbgrader preprocessors for what a student sees: no hidden tests in feedback, bounded outputs.

nbgrader's ``ClearHiddenTests`` removes the hidden test *code* from a cell, but the traceback of
a failing hidden assertion still quotes the lines around it. This preprocessor, run before it,
cuts such tracebacks down to the error's name and message (the message is written for the learner).
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer, Unicode


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


class DropGuardCells(Preprocessor):
    """Remove the grader's guard cells (:mod:`autograder.guard`) from the feedback."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        from autograder.guard import remove_guards

        return remove_guards(nb), resources


class CapOutputs(Preprocessor):
    """Bound every output: long text is cut, large images are replaced by a note.

    nbgrader's LimitOutput counts lines; one enormous line or a huge image would still bloat the
    autograded notebook and the feedback.
    """

    enabled = Bool(True)
    max_chars = Integer(20_000).tag(config=True)
    max_image_bytes = Integer(2_000_000).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = self._cut("".join(output.get("text", "")))
            for mime, value in list(output.get("data", {}).items()):
                text = (
                    value
                    if isinstance(value, str)
                    else "".join(value)
                    if isinstance(value, list)
                    else str(value)
                )
                if mime.startswith("image/") and len(text) > self.max_image_bytes:
                    del output["data"][mime]
                    output["data"]["text/plain"] = (
                        f"[image of {len(text)} bytes removed: larger than the grader keeps]"
                    )
                elif mime.startswith("text/") or mime == "application/json":
                    output["data"][mime] = self._cut(text)
            if output.get("output_type") == "error":
                output["evalue"] = self._cut(str(output.get("evalue", "")))
                output["traceback"] = [self._cut(line) for line in output.get("traceback", [])[:50]]
        return cell, resources

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return (
            text[: self.max_chars] + f"\n[... {len(text) - self.max_chars} more characters cut by the grader]"
        )
