"""nbgrader preprocessors for what a student sees: no hidden tests in feedback, bounded outputs.

nbgrader's ``ClearHiddenTests`` removes the hidden test *code* from a cell, but the traceback of
a failing hidden assertion still quotes the lines around it, and code in the notebook can print
a test's source. :class:`RedactHiddenTests`, run before it, keeps only the errors of hidden-test
cells (name and message: the message is written for the learner) and removes any output that
quotes a hidden test.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer, Unicode


class RedactHiddenTests(Preprocessor):
    """Keep hidden tests out of the feedback, whatever the notebook printed.

    * a cell that holds hidden tests keeps only its errors, each cut to its name and message
      (the message is written for the learner); what it printed or displayed is dropped (code in
      the notebook, called by the test, could print the test);
    * any output of any cell that quotes a line of a hidden test (code in an answer cell that
      read a test's source) is replaced by a note.
    """

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled
    begin_marker = Unicode(
        "BEGIN HIDDEN TESTS", help="The comment that opens a hidden-test block (nbgrader's marker)."
    ).tag(config=True)
    end_marker = Unicode(
        "END HIDDEN TESTS", help="The comment that closes a hidden-test block (nbgrader's marker)."
    ).tag(config=True)
    min_line = Integer(
        12,
        help="Shortest hidden-test line whose appearance in an output counts as a leak "
        "(shorter ones, such as `)` or `else:`, prove nothing).",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        lines: set[str] = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and self.begin_marker in cell.source:
                lines |= self._hidden_lines(cell.source)
        self._lines = lines
        return super().preprocess(nb, resources)

    def _hidden_lines(self, source: str) -> set[str]:
        found, hidden = set(), False
        for line in source.splitlines():
            if self.begin_marker in line:
                hidden = True
            elif self.end_marker in line:
                hidden = False
            elif hidden and len(line.strip()) >= self.min_line:
                found.add(line.strip())
        return found

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        outputs = cell.get("outputs", [])
        if self.begin_marker in cell.source:
            outputs = [o for o in outputs if o.get("output_type") == "error"]
            for output in outputs:
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        cell["outputs"] = [self._redacted(o) if self._quotes_hidden(o) else o for o in outputs]
        return cell, resources

    def _quotes_hidden(self, output) -> bool:
        if not getattr(self, "_lines", None):
            return False
        parts = [output.get("text", ""), str(output.get("evalue", "")), *output.get("traceback", [])]
        parts += [
            v if isinstance(v, str) else "".join(v)
            for v in output.get("data", {}).values()
            if isinstance(v, (str, list))
        ]
        text = "".join(p if isinstance(p, str) else "".join(p) for p in parts)
        return any(line in text for line in self._lines)

    @staticmethod
    def _redacted(output):
        from nbformat.v4 import new_output

        note = "[output removed by the grader: it quoted hidden tests]\n"
        if output.get("output_type") == "error":
            return new_output(
                "error", ename=output.get("ename", "Error"), evalue=note.strip(), traceback=[note.strip()]
            )
        return new_output("stream", name="stdout", text=note)


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
    max_chars = Integer(
        20_000, help="Characters kept of one text output (nbgrader's LimitOutput counts lines only)."
    ).tag(config=True)
    max_image_bytes = Integer(
        2_000_000, help="Largest image output kept in the autograded notebook and the feedback, in bytes."
    ).tag(config=True)

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
