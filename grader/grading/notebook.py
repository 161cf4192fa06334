"""A submitted notebook as a topic module: its code cells in order, IPython-only lines dropped.

Conversion happens on the trusted side while staging and only reads the notebook's JSON (with
nbformat): nothing in it is executed here. The generated module keeps one line per cell line, so
a line of the module maps back to "cell N, line M" for the student's messages. Cells are counted
from 1 at the top of the notebook, Markdown cells included.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.results.model import SubmissionResult

# A one-line future import (the only kind a cell opens with in practice), names only.
_FUTURE = re.compile(r"from __future__ import ([A-Za-z_][\w ,]*?)\s*(?:#.*)?$")
# Cell magics whose body is Python that Jupyter runs in the notebook's own namespace, so that
# what it defines stays defined (%%timeit runs it inside a function, %%python in another
# process, %%writefile and the rest do not run it as Python here at all).
PYTHON_CELL_MAGICS = ("time", "capture", "prun")
_MAGIC = re.compile(r"%%(\S*)")
_TIME = re.compile(r"%time\s+(\S.*)")  # a line magic that runs its statement in place


def _parses(statement: str) -> bool:
    """Whether ``statement`` is one line of Python (compiled, never run)."""
    try:
        compile(statement, "<cell>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True
MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024  # outputs (plots) make notebooks much larger than modules


@dataclass(frozen=True)
class NotebookModule:
    """A notebook turned into a module: where each cell's lines are, and what was dropped."""

    notebook: str  # the notebook's file name, e.g. "linear_regression.ipynb"
    source: str
    cells: tuple[tuple[int, int, int], ...]  # (first module line, cell number, lines), in order
    dropped: tuple[tuple[int, int, str], ...] = ()  # (cell, line in cell, text)
    syntax_error: str = ""  # "cell 3, line 2: invalid syntax", where a cell does not parse
    notes: list[str] = field(default_factory=list)
    # Why the notebook could not be read ("not valid JSON: ..."); then nothing of it is staged.
    unreadable: str = ""

    def locate(self, line: int) -> tuple[int, int] | None:
        """(cell, line in cell) of a line of the generated module, or None (a marker line)."""
        for first, cell, count in self.cells:
            if first <= line < first + count:
                return cell, line - first + 1
        return None


def _ipython_lines(lines: list[str]) -> set[int]:
    """Indexes of lines that are IPython syntax (%magic, !shell) rather than Python."""
    candidates = {i for i, text in enumerate(lines) if text.lstrip().startswith(("%", "!"))}
    if not candidates:
        return candidates
    # A "%" or "!" at the start of a line inside a multi-line string is text, not a magic: find
    # the strings with the candidates blanked out, and give back the lines they hold.
    blanked = "".join("\n" if i in candidates else t for i, t in enumerate(lines))
    try:
        for tok in tokenize.generate_tokens(io.StringIO(blanked).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                candidates -= set(range(tok.start[0], tok.end[0]))  # rows are 1-based
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a cell that does not tokenize is reported by the syntax check
    return candidates


def convert(path: Path) -> NotebookModule:
    """Read the notebook at `path` (never run it) and build the module from its code cells.

    Raises ValueError with a one-line reason when the file is not a readable notebook.
    """
    nb = read_notebook(path)
    # One piece per line, so that a piece's index + 1 is its line number in the module.
    out = [f"# Generated from {path.name} by the grader: its code cells, in order.\n", "\n"]
    futures: list[str] = []  # a cell may open with one; a module only at its top
    cells: list[tuple[int, int, int]] = []
    dropped: list[tuple[int, int, str]] = []
    syntax_error = ""
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        # Only \n, \r\n and \r end a line for Python (str.splitlines knows more).
        lines = [t + "\n" for t in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
        if lines[-1] == "\n":
            lines.pop()  # the text's own last newline
        if not "".join(lines).strip():
            continue
        magic = _MAGIC.match(lines[0].strip())
        if magic and magic[1] in PYTHON_CELL_MAGICS:
            # Jupyter runs the cell's code in the notebook's namespace: it is kept, its first
            # line dropped as any magic line is (below).
            dropped.append((number, 1, f"{lines[0].strip()} (the cell's code was kept)"))
            lines[0] = "pass  # IPython line dropped by the grader\n"
        if magic and lines[0].lstrip().startswith("%%"):  # the whole cell is IPython's
            dropped.append((number, 1, lines[0].strip()))
            lines = ["\n" for _ in lines]
        else:
            for i in sorted(_ipython_lines(lines)):
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                timed = _TIME.match(lines[i].strip())
                if timed and _parses(timed[1]):  # Jupyter runs it where it stands: so do we
                    dropped.append((number, i + 1, f"{lines[i].strip()} (its code was kept)"))
                    lines[i] = f"{indent}{timed[1]}\n"
                    continue
                dropped.append((number, i + 1, lines[i].strip()))
                lines[i] = f"{indent}pass  # IPython line dropped by the grader\n"
        for i, line in enumerate(lines):
            m = _FUTURE.match(line)
            if m:
                futures += [name.strip() for name in m.group(1).split(",")]
                lines[i] = "pass  # moved to the top of the module by the grader\n"
        if not syntax_error:
            syntax_error = _syntax_error("".join(lines), number)
        out.append(f"# %% cell {number}\n")
        cells.append((len(out) + 1, number, len(lines)))
        out.extend(lines)
        out.append("\n")
    if futures:  # on the header's blank line, so that no other line moves
        out[1] = f"from __future__ import {', '.join(dict.fromkeys(futures))}\n"
    module = NotebookModule(path.name, "".join(out), tuple(cells), tuple(dropped), syntax_error)
    module.notes.extend(_notes(module))
    return module


def read_notebook(path: Path) -> dict[str, Any]:
    """The notebook at ``path`` as nbformat 4 (read, never run).

    Raises ValueError with the reason in a few words ("not valid JSON: Expecting value at line
    1, column 1") when it is not a notebook this grader can read.
    """
    try:
        import nbformat
    except ImportError:
        raise ValueError("this grader cannot read notebooks: install nbformat") from None
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    if size == 0:
        raise ValueError("the file is empty")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if not text.strip():
        raise ValueError("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise ValueError("JSON, but not a notebook: it has no nbformat version")
    version = data.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 4:
        raise ValueError(f"nbformat version {str(version)[:20]} is not one this grader reads "
                         "(1 to 4)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds for a file that is not a notebook
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ValueError(f"nbformat cannot read it ({type(exc).__name__}"
                         + (f": {detail}" if detail else "") + ")") from None
    cells = nb.get("cells", [])
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise ValueError("its cells are not a list of cells")
    return dict(nb)


def unreadable(reason: str) -> str:
    """How every page and line names a notebook that could not be read."""
    return f"unreadable notebook ({reason})"


def _syntax_error(text: str, cell: int) -> str:
    try:
        # Compiled, never run: compiling finds what parsing alone lets through (a misplaced
        # future import, return outside a function).
        compile(text, f"cell {cell}", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"cell {cell}, line {exc.lineno or 1}: {exc.msg}"
    except (ValueError, MemoryError, RecursionError) as exc:
        return f"cell {cell}: {type(exc).__name__}"
    return ""


def _notes(module: NotebookModule) -> list[str]:
    code = [str(cell) for _, cell, _ in module.cells]
    notes = [f"graded the code cells of {module.notebook} (cells "
             f"{', '.join(code) if code else 'none'}; counted from 1 at the top, Markdown "
             "included)"]
    if module.dropped:
        shown = "; ".join(f"cell {c}, line {n}: {text[:60]}" for c, n, text in module.dropped[:8])
        more = f" and {len(module.dropped) - 8} more" if len(module.dropped) > 8 else ""
        notes.append(f"dropped IPython magics and shell escapes, which a module cannot run "
                     f"({shown}{more}); install packages and set options outside your code")
    return notes  # a syntax error is told by the import failure's message, placed in its cell


def stage_notebook(path: Path, target: Path) -> NotebookModule:
    """Convert the notebook at `path` and write its module to `target` (the staged topic module)."""
    module = convert(path)
    target.write_text(module.source, encoding="utf-8")
    return module


# ---------------------------------------------------------------------------- the messages


def relocate(text: str, topic: str, module: NotebookModule) -> str:
    """Line numbers of the generated module in `text` as cells and lines of the notebook."""

    def where(line: int) -> str:
        spot = module.locate(line)
        return f"cell {spot[0]}, line {spot[1]}" if spot else f"line {line}"

    # The generated module in grading, the notebook itself on the student's machine.
    name = f"(?:{re.escape(f'{topic}.py')}|{re.escape(module.notebook)})"
    original = text
    text = re.sub(rf'File "[^"\n]*?{name}", line (\d+)',
                  lambda m: f'File "{module.notebook}", {where(int(m.group(1)))}', text)
    text = re.sub(r"not allowed in this exercise \(line (\d+)",
                  lambda m: f"not allowed in this exercise ({where(int(m.group(1)))}", text)
    # A place the grader's words give as "(line N)": where a missing function stands instead
    # (grader.results.definitions), where run-time code was made (the plugin's notes).
    text = re.sub(r"\(line (\d+)\)", lambda m: f"({where(int(m.group(1)))})", text)
    if f"{topic}.py has a syntax error" in text:
        # Where staging found the error, its words; else where the worker's traceback puts it.
        at = re.search(rf'File "[^"\n]*?{name}", line (\d+)', original)
        spot = module.syntax_error or (where(int(at.group(1))) if at else "")
        text = text.replace(f"{topic}.py has a syntax error",
                            f"{module.notebook} has a syntax error" + (f" in {spot}" if spot else ""))
    # Any other mention of the module is of the file the student never wrote: their notebook.
    return re.sub(rf"(?<![\w.-]){re.escape(topic)}\.py\b", module.notebook, text)


def annotate(result: SubmissionResult, notebooks: dict[str, NotebookModule],
             notes: dict[str, list[str]]) -> SubmissionResult:
    """The result with notebook topics' messages pointing at cells, and the staging notes added.

    `notes`: per topic, what staging has to say (a notebook read, or a notebook left aside for
    the .py of the same topic).
    """
    if not notebooks and not notes:
        return result
    broken = {topic: m for topic, m in notebooks.items() if m.unreadable}
    if broken:
        result = _unreadable(result, broken)
        notebooks = {topic: m for topic, m in notebooks.items() if topic not in broken}
    tests = tuple(
        dataclasses.replace(t, message=relocate(t.message, t.topic, notebooks[t.topic]))
        if t.topic in notebooks else t
        for t in result.tests)
    topics = tuple(
        dataclasses.replace(t, note=relocate(t.note, t.topic, notebooks[t.topic]))
        if t.topic in notebooks and t.note else t
        for t in result.topics)
    extra = tuple(f"{topic}: {n}" for topic, items in notes.items() for n in items
                  if f"{topic}: {n}" not in result.notes)
    kept = tuple(relocate(n, n.split(":", 1)[0], notebooks[n.split(":", 1)[0]])
                 if n.split(":", 1)[0] in notebooks else n for n in result.notes)
    return dataclasses.replace(result, tests=tests, topics=topics, notes=extra + kept)


def _unreadable(result: SubmissionResult, broken: dict[str, NotebookModule]) -> SubmissionResult:
    """A topic whose only file is a notebook that cannot be read was handed in, not missing:
    its tests, its note and the submission's notes say "unreadable notebook (why)"."""
    from grader.results.model import Flag

    def flags(old: tuple[str, ...]) -> tuple[str, ...]:
        kept = [f for f in old if f != Flag.NOT_SUBMITTED]
        return tuple(dict.fromkeys([*kept, Flag.IMPORT_FAILED, Flag.IMPORT_ERROR]))

    tests = tuple(
        dataclasses.replace(
            t, flags=flags(t.flags),
            message=f"{unreadable(broken[t.topic].unreadable)}: {broken[t.topic].notebook} "
                    "could not be read, so none of its code ran; open it in Jupyter and save "
                    "it again (or hand in the topic's .py)")
        if t.topic in broken and Flag.NOT_SUBMITTED in t.flags else t
        for t in result.tests)
    topics = tuple(
        dataclasses.replace(t, submitted=True, flags=flags(t.flags),
                            note=unreadable(broken[t.topic].unreadable))
        if t.topic in broken else t
        for t in result.topics)
    notes = tuple(f"{topic}: {unreadable(broken[topic].unreadable)}"
                  if (topic := n.split(": ", 1)[0]) in broken and n == f"{topic}: not submitted"
                  else n for n in result.notes)
    return dataclasses.replace(result, tests=tests, topics=topics, notes=notes)
