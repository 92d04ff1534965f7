"""Execute Dvent's notebooks headlessly with the real evcxr kernel and check them.

Used by scripts/test-notebooks, which runs it with the Python of the venv made
by scripts/notebook-setup. For each notebook it:

- starts the `rust` (evcxr) kernel in the notebook's own directory, as
  JupyterLab does, so `:dep dvent = { path = ".." }` finds the crate;
- runs every cell (a generous timeout per cell: the first `:dep` cell compiles
  the crate and all its dependencies);
- writes the executed copy to the output directory (target/notebooks/ by
  default), never over the notebook it read;
- fails it on any error output (how evcxr reports a compile error), on any
  stderr text (how evcxr reports a panic, or an error returned by `?` at the
  top of a cell; a cell tagged `allow-stderr` may write to stderr), on a code
  cell that was not run, on a kernel that died or a cell that timed out, and
  when the content expected of it (EXPECTATIONS below) is missing;
- prints how long its first `:dep` cell took.

With --update, after every notebook passed, the executed outputs are copied
back into the committed notebooks (timing metadata dropped), deliberately.

Ends with a line `notebooks: N passed, M failed` and exits 1 when M > 0.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent

# stderr text that reads like an error (for the report; any stderr fails).
ERRORISH = re.compile(r"(?m)(panicked at |^\s*error(\[E\d+\])?:|^\s*Error:)")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Tables(HTMLParser):
    """Collects the tables of an HTML fragment: each a list of rows, each row
    a list of cell texts (headers included), with the class of the dvent
    block (div) it is in."""

    def __init__(self):
        super().__init__()
        self.tables, self.block = [], None
        self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "dvent" in (attrs.get("class") or "").split():
            self.block = attrs["class"]
        elif tag == "table":
            self.tables.append({"block": self.block, "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def cell_texts(cell, mime: str) -> list[str]:
    """A code cell's outputs of one MIME type; for text/plain, its stdout
    joined into one text as well."""
    found, stdout = [], []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            stdout.append(out.get("text", ""))
        value = out.get("data", {}).get(mime)
        if value is not None:
            found.append("".join(value) if isinstance(value, list) else value)
    if mime == "text/plain" and stdout:
        found.append("".join(stdout))
    return found


def texts(nb, mime: str) -> list[str]:
    return [t for cell in code_cells(nb) for t in cell_texts(cell, mime)]


def tables(nb) -> list[dict]:
    found = []
    for html in texts(nb, "text/html"):
        parser = Tables()
        parser.feed(html)
        found.extend(parser.tables)
    return found


def fields(table) -> dict[str, str]:
    """A two-column table (key, value) as a dict."""
    return {row[0]: row[1] for row in table["rows"] if len(row) == 2}


def records(table) -> list[dict[str, str]]:
    """A table with a header row as a list of dicts."""
    if not table["rows"]:
        return []
    head, *rows = table["rows"]
    return [dict(zip(head, row)) for row in rows]


def has_text(needle: str) -> Callable:
    return lambda nb: any(needle in t for t in texts(nb, "text/plain"))


def has_block(kind: str) -> Callable:
    """An HTML output of a dvent display block of this kind with a table."""
    return lambda nb: any(t["block"] == f"dvent dvent-{kind}" for t in tables(nb))


def aggregate_shown(count: int = 1, **want: str) -> Callable:
    """At least `count` aggregate displays whose key-value table has these
    values (e.g. version="6"); a key `state` lists keys the state must have,
    and `status` the status the state must hold."""
    state_keys = want.pop("state", "").split()
    status = want.pop("status", None)

    def check(nb):
        found, tabs = 0, tables(nb)
        for i, t in enumerate(tabs):
            if t["block"] != "dvent dvent-aggregate" or "id" not in fields(t):
                continue
            if any(fields(t).get(k) != v for k, v in want.items()):
                continue
            state = fields(tabs[i + 1]) if i + 1 < len(tabs) else {}
            if any(k not in state for k in state_keys):
                continue
            if status is not None and state.get("status") != f'"{status}"':
                continue
            found += 1
        return found >= count

    return check


def summary_rows(count: int, **want: str) -> Callable:
    """An Aggregates summary table with `count` rows where the given columns
    have these values and, for `state_has`, whose state JSON contains it."""
    state_has = want.pop("state_has", None)

    def check(nb):
        for t in tables(nb):
            if t["block"] != "dvent dvent-aggregates":
                continue
            rows = [
                r for r in records(t)
                if all(r.get(k) == v for k, v in want.items())
                and (state_has is None or state_has in r.get("state", ""))
            ]
            if len(rows) >= count:
                return True
        return False

    return check


def summary_versions(*versions: str) -> Callable:
    """An Aggregates summary table whose rows have exactly these versions,
    in order."""

    def check(nb):
        return any(
            [r.get("version") for r in records(t)] == list(versions)
            for t in tables(nb)
            if t["block"] == "dvent dvent-aggregates"
        )

    return check


def timeline(*types: str) -> Callable:
    """An events table (an aggregate's timeline or an Events list) whose
    types are exactly these, in order, with versions 1, 2, ..."""

    def check(nb):
        for t in tables(nb):
            rows = records(t)
            if rows and "type" in rows[0] and "version" in rows[0]:
                if [r["type"] for r in rows] == list(types) and [r["version"] for r in rows] == [
                    str(v) for v in range(1, len(types) + 1)
                ]:
                    return True
        return False

    return check


# What each notebook's outputs must show, beyond "no errors".
EXPECTATIONS: dict[str, list[tuple[str, Callable]]] = {
    "01-simple.ipynb": [
        ("an event shown as an HTML table", has_block("event")),
        ("a command shown as an HTML table", has_block("command")),
        ("an aggregate at uncommitted version 2, committed 0", aggregate_shown(version="0", uncommitted_version="2")),
        ("the aggregate committed at version 2", aggregate_shown(version="2", uncommitted_version="2")),
        ("a store's streams shown as an HTML table", has_block("streams")),
        ("the conflict as a typed StoreError::VersionConflict", has_text("StoreError::VersionConflict")),
        ("the conflict's message", has_text("version conflict on stream")),
    ],
    "02-todo-aggregate.ipynb": [
        ("six todos added, each at version 1", summary_rows(6, version="1", state_has='"status":"Queued"')),
        ("three todos started at version 2, with changed_ts", summary_rows(3, version="2", state_has='"changed_ts"')),
        ("all six read back: three at version 1, three at 2", summary_versions("1", "1", "1", "2", "2", "2")),
        ("the first todo removed at version 2", aggregate_shown(version="2", state="removed_ts")),
        ("an unknown status rejected", has_text("command rejected")),
        ("the last todo at version 6, finished and removed", aggregate_shown(version="6", status="Finished", state="added_ts changed_ts removed_ts")),
        ("the last todo's six events in order", timeline("TodoAdded", *["TodoStatusChanged"] * 4, "TodoRemoved")),
        ("an events table", has_block("events")),
    ],
}


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def problems_of(nb, name: str) -> list[str]:
    problems = []
    for index, cell in enumerate(code_cells(nb), start=1):
        if cell.get("execution_count") is None and cell.source.strip():
            problems.append(f"code cell {index} was not executed")
        stderr = "".join(
            out.get("text", "")
            for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stderr"
        )
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                detail = out.get("evalue") or out.get("ename") or ""
                trace = ANSI.sub("", "\n".join(out.get("traceback", [])))
                problems.append(f"code cell {index} failed: {detail}\n{trace}".rstrip())
        # evcxr reports a panic, and an error returned by `?` at the top of a
        # cell, only as stderr text: any stderr fails the cell unless it is
        # tagged allow-stderr.
        if stderr.strip() and "allow-stderr" not in cell.get("metadata", {}).get("tags", []):
            what = "an error" if ERRORISH.search(stderr) else "to stderr"
            problems.append(f"code cell {index} wrote {what}:\n{ANSI.sub('', stderr)}".rstrip())
    expectations = EXPECTATIONS.get(name)
    if expectations is None:
        print(f"  note: no content expectations for {name}; only errors are checked")
    for description, check in expectations or []:
        if not check(nb):
            problems.append(f"expected in the outputs: {description}")
    return problems


def strip_timing(nb):
    clean = copy.deepcopy(nb)
    for cell in code_cells(clean):
        cell.metadata.pop("execution", None)
    return clean


def run(path: Path, out_dir: Path, timeout: int, kernel: str):
    """Executes one notebook; the kernel's own stderr (cargo's build lines)
    goes to a log file beside the executed copy."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=True,  # run every cell; errors are judged afterwards
        record_timing=True,
        coalesce_streams=True,  # one stdout output per cell, not one per line
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's cwd
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / (path.stem + ".kernel.log")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            client.execute(stdout=log, stderr=log)
            crash = None
        except Exception as e:  # a dead kernel or a timeout: still save what ran
            crash = f"execution stopped: {type(e).__name__}: {e}"
    wall = time.monotonic() - started
    nbformat.write(nb, out_dir / path.name)
    return nb, crash, wall, log_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=REPO / "target" / "notebooks", help="where executed copies go")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    parser.add_argument("--kernel", default="rust", help="kernel name (default rust, the evcxr kernel)")
    parser.add_argument("--update", action="store_true", help="when all pass, copy the outputs into the given notebooks")
    args = parser.parse_args()

    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        print("notebooks: 0 passed, 1 failed")
        return 1
    out_dir = args.out.resolve()
    passed, failed, executed = [], [], {}
    for path in notebooks:
        path = path.resolve()
        if path.parent == out_dir:
            print(f"refusing to run {path}: it is inside the output directory", file=sys.stderr)
            failed.append(path.name)
            continue
        print(f"== {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)
        nb, crash, wall, log_path = run(path, out_dir, args.timeout, args.kernel)
        first = next((c for c in code_cells(nb) if re.search(r"(?m)^\s*:dep ", c.source)), None)
        first_time = seconds(first) if first is not None else None
        shown = f"{first_time:.1f} s" if first_time is not None else "n/a"
        print(f"  first :dep cell: {shown}; whole notebook: {wall:.1f} s")
        problems = problems_of(nb, path.name)
        if crash:
            problems.insert(0, crash)
        print(f"  executed copy: {out_dir / path.name} (kernel log: {log_path.name})")
        if problems:
            failed.append(path.name)
            for problem in problems:
                print("  FAIL " + problem.replace("\n", "\n       "))
        else:
            passed.append(path.name)
            executed[path] = nb
            print("  ok")
    if args.update:
        if failed:
            print("not updating the committed notebooks: some failed", file=sys.stderr)
        else:
            for path, nb in executed.items():
                nbformat.write(strip_timing(nb), path)
                print(f"updated {path}")
    print(f"notebooks: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
