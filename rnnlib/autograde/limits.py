"""Resource limits for grading, and the output size limit in bytes.

The limits themselves are configured on the classes that enforce them:

- time: ``Execute.timeout`` (seconds per cell; also the budget of each judged test cell) and
  ``JudgedExecute.max_restarts``;
- memory, file size, processes: ``SandboxedKernelManager.memory_limit`` / ``file_size_limit`` /
  ``process_limit`` (``prlimit`` on the kernel);
- output: ``JudgedExecute.max_output_bytes`` cuts each cell's output while it arrives, and
  :class:`LimitOutputBytes` (below) is the backstop after execution, for any executor: nbgrader's
  own ``LimitOutput`` counts lines only, so one 50 MB line passes it untouched.
"""

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from .record import add_flag, record_for


def _size(output):
    size = len(output.get("text", "") or "")
    for value in (output.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    size += sum(len(line) for line in output.get("traceback", []) or [])
    return size


class LimitOutputBytes(NbGraderPreprocessor):
    """Cut each cell's outputs to ``max_bytes`` (text and data) and flag the notebook."""

    max_bytes = Integer(1_000_000, help="Output kept per cell, in bytes.").tag(config=True)
    max_notebook_bytes = Integer(
        20_000_000, help="Output kept in the whole notebook, in bytes."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._record = record_for(resources)
        self._total = 0
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.get("outputs"):
            return cell, resources
        budget = min(self.max_bytes, max(0, self.max_notebook_bytes - self._total))
        kept, used, cut = [], 0, 0
        for output in cell.outputs:
            size = _size(output)
            if used + size <= budget:
                kept.append(output)
                used += size
                continue
            cut += size
            if output.get("output_type") == "stream" and used < budget:
                room = budget - used
                kept.append(NotebookNode(output_type="stream", name=output["name"],
                                         text=output["text"][:room]))
                used += room
            elif output.get("output_type") == "error":
                kept.append(NotebookNode(output_type="error", ename=output["ename"][:200],
                                         evalue=output["evalue"][:1000],
                                         traceback=[line[:1000] for line in
                                                    output["traceback"][-20:]]))
        if cut:
            already = any(f["kind"] == "output" and f["cell"] == index
                          for f in self._record["flags"])
            kept.append(NotebookNode(
                output_type="stream", name="stdout",
                text=f"\n... output cut by the grader: {cut} bytes over the limit ...\n"))
            if not already:
                add_flag(self._record, "output",
                         f"cell {index} output over {self.max_bytes} bytes; cut", cell=index)
            cell.outputs = kept
        self._total += used
        return cell, resources
