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
- prints how long its first `:dep` cell took, and fails it when that is
  above --max-first-cell; --warm-up first runs that cell alone, so the limit
  applies to a warm evcxr cache (as a user's second kernel start).

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
    """Collects the tables of an HTML fragment: each a dict with the class of
    the dvent block (div) it is in, its caption's text, and its rows, each row
    a list of cells (headers included). A cell is a `Tables.Cell`: its text
    (it compares as a str), the tables nested in it, and the title of an
    element in it. A nested table (a state's key/value table inside a
    summary cell) is kept in its cell's `tables`, not in `self.tables`, and
    its text is not part of the cell's text, so it never adds rows or text to
    the table around it."""

    # The one timestamp format of dvent's displays: RFC 3339 UTC, milliseconds.
    TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

    class Cell(str):
        """A table cell's text, with the tables nested in the cell (`tables`)
        and the `title` attribute of an element in it ("" if none)."""

        def __new__(cls, text: str, tables=(), title: str = ""):
            cell = super().__new__(cls, text)
            cell.tables, cell.title = list(tables), title
            return cell

    def __init__(self):
        super().__init__()
        self.tables, self.block = [], None
        self._open = []  # the tables being read, innermost last

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "dvent" in (attrs.get("class") or "").split():
            self.block = attrs["class"]
        elif tag == "table":
            table = {"block": self.block, "caption": "", "rows": []}
            if self._open and self._open[-1]["cell"] is not None:
                self._open[-1]["nested"].append(table)
            else:
                self.tables.append(table)
            self._open.append(
                {"table": table, "row": None, "cell": None, "nested": [], "title": "", "caption": None}
            )
        elif self._open:
            frame = self._open[-1]
            if tag == "caption":
                frame["caption"] = []
            elif tag == "tr":
                self._end_row(frame)
                frame["row"] = []
            elif tag in ("td", "th"):
                self._end_cell(frame)
                if frame["row"] is None:
                    frame["row"] = []
                frame["cell"], frame["nested"], frame["title"] = [], [], ""
            elif frame["cell"] is not None and attrs.get("title"):
                frame["title"] = frame["title"] or attrs["title"]

    def handle_endtag(self, tag):
        if not self._open:
            return
        frame = self._open[-1]
        if tag in ("td", "th"):
            self._end_cell(frame)
        elif tag == "tr":
            self._end_row(frame)
        elif tag == "caption" and frame["caption"] is not None:
            frame["table"]["caption"] = "".join(frame["caption"]).strip()
            frame["caption"] = None
        elif tag == "table":
            self._end_row(frame)
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            frame = self._open[-1]
            if frame["cell"] is not None:
                frame["cell"].append(data)
            elif frame["caption"] is not None:
                frame["caption"].append(data)

    @staticmethod
    def _end_cell(frame):
        if frame["cell"] is not None:
            text = "".join(frame["cell"]).strip()
            frame["row"].append(Tables.Cell(text, frame["nested"], frame["title"]))
            frame["cell"], frame["nested"], frame["title"] = None, [], ""

    @classmethod
    def _end_row(cls, frame):
        cls._end_cell(frame)
        if frame["row"] is not None:
            frame["table"]["rows"].append(frame["row"])
            frame["row"] = None


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
    """The top-level tables of every HTML output, in order (tables nested in
    a cell are in that cell's `tables`)."""
    found = []
    for html in texts(nb, "text/html"):
        parser = Tables()
        parser.feed(html)
        found.extend(parser.tables)
    return found


def fields(table) -> dict[str, str]:
    """A two-column table (key, value) as a dict: an aggregate's or event's
    fields, or a state's key/value table (values as compact JSON)."""
    return {row[0]: row[1] for row in table["rows"] if len(row) == 2}


def records(table) -> list[dict[str, str]]:
    """A table with a header row as a list of dicts."""
    if not table["rows"]:
        return []
    head, *rows = table["rows"]
    return [dict(zip(head, row)) for row in rows]


def has_text(needle: str) -> Callable:
    return lambda nb: any(needle in t for t in texts(nb, "text/plain"))


def has_svg_chart(*labels: str) -> Callable:
    """An image/svg+xml output (a chart drawn to SVG) with at least one line
    (a polyline) and every one of `labels` as text."""
    def check(nb) -> bool:
        for svg in texts(nb, "image/svg+xml"):
            if "<svg" in svg and "<polyline" in svg and all(
                    re.search(rf">\s*{re.escape(label)}\s*<", svg) for label in labels):
                return True
        return False
    return check


def has_html(*needles: str) -> Callable:
    """An HTML output holding every one of `needles`."""
    return lambda nb: any(all(n in html for n in needles) for html in texts(nb, "text/html"))


def has_block(kind: str, caption: str | None = None, columns: str | None = None) -> Callable:
    """An HTML output of a dvent display block of this kind with a table
    whose timestamps (the cells of a `timestamp` or `first event at` column
    or field) are all in the one format, RFC 3339 UTC to the millisecond;
    with `caption`, a regular expression the table's caption must match in
    full; with `columns`, its header row exactly (space-separated)."""

    def timestamps_ok(t):
        rows = t["rows"]
        head = rows[0] if rows else []
        cells = [r[1] for r in rows if len(r) == 2 and r[0] == "timestamp"]
        for i, name in enumerate(head):
            if name in ("timestamp", "first event at"):
                cells += [r[i] for r in rows[1:] if len(r) > i]
        return all(Tables.TIMESTAMP.fullmatch(c) for c in cells)

    def check(nb):
        return any(
            t["block"] == f"dvent dvent-{kind}"
            and timestamps_ok(t)
            and (caption is None or re.fullmatch(caption, t["caption"]))
            and (columns is None or (t["rows"] and t["rows"][0] == columns.split()))
            for t in tables(nb)
        )

    return check


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
    have these values; as in `aggregate_shown`, a key `state` lists keys the
    row's state must have, and `status` the status it must hold. The state
    is read from the key/value table in the row's state cell, and its id
    cell must give the full id (a UUID) in its title."""
    state_keys = want.pop("state", "").split()
    status = want.pop("status", None)
    full_id = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")

    def short_id_ok(cell) -> bool:
        # A time-ordered (v7) id shows its random last 8 digits, others
        # their first 8.
        title = getattr(cell, "title", "")
        if not full_id.fullmatch(title):
            return False
        return cell == ("\u2026" + title[-8:] if title[14] == "7" else title[:8] + "\u2026")

    def state_of(cell) -> dict[str, str]:
        return fields(cell.tables[0]) if getattr(cell, "tables", None) else {}

    def check(nb):
        for t in tables(nb):
            if t["block"] != "dvent dvent-aggregates":
                continue
            rows = [
                r for r in records(t)
                if all(r.get(k) == v for k, v in want.items())
                and all(k in state_of(r.get("state")) for k in state_keys)
                and (status is None or state_of(r.get("state")).get("status") == f'"{status}"')
            ]
            if len(rows) >= count and all(short_id_ok(r.get("id", "")) for r in rows):
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
    types are exactly these, in order, with versions 1, 2, ..., and
    timestamps in the one format (RFC 3339 UTC, milliseconds)."""

    def check(nb):
        for t in tables(nb):
            rows = records(t)
            if rows and "type" in rows[0] and "version" in rows[0]:
                if (
                    [r["type"] for r in rows] == list(types)
                    and [r["version"] for r in rows] == [str(v) for v in range(1, len(types) + 1)]
                    and all(Tables.TIMESTAMP.fullmatch(r.get("timestamp", "")) for r in rows)
                ):
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
        ("events of two streams, with a stream column", has_block("events", columns="version type timestamp data stream")),
        ("the conflict as a typed StoreError::VersionConflict", has_text("StoreError::VersionConflict")),
        ("the conflict's message", has_text("version conflict on stream")),
    ],
    "03-projections.ipynb": [
        ("the board followed the store live to its last position", has_text("store at position 12; board at position 12 (caught up: true)")),
        ("the board as an HTML table: 3 queued, 1 started, 1 finished", has_html(
            "<caption>Todos by status</caption>",
            "<td>Finished</td><td>1</td>", "<td>Queued</td><td>3</td>", "<td>Started</td><td>1</td>",
            "<caption>Open todos</caption>")),
        ("a chart of todos per status, as SVG", has_svg_chart("Todos per status", "Queued", "Started", "Finished")),
        ("the rebuilt board equals the live one", has_text("the rebuilt board equals the live one: true")),
    ],
    "02-todo-aggregate.ipynb": [
        ("six todos added, each at version 1", summary_rows(6, version="1", status="Queued", state="description added_ts")),
        ("three todos started at version 2, with changed_ts", summary_rows(3, version="2", status="Started", state="changed_ts")),
        ("all six read back: three at version 1, three at 2", summary_versions("1", "1", "1", "2", "2", "2")),
        ("the first todo removed at version 2", aggregate_shown(version="2", state="removed_ts")),
        ("an unknown status rejected", has_text("command rejected")),
        ("the last todo at version 6, finished and removed", aggregate_shown(version="6", status="Finished", state="added_ts changed_ts removed_ts")),
        ("the typed domain: started at version 2 through execute", has_text('typed: version 2, state Todo { description: "Typed", status: "Started", removed: false }')),
        ("the typed domain: the domain's own error, untouched", has_text('typed: refused with Some(UnknownStatus("Paused"))')),
        ("the last todo's six events in order", timeline("TodoAdded", *["TodoStatusChanged"] * 4, "TodoRemoved")),
        ("an events table of one stream, named once above it", has_block("events", caption=r"stream [0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", columns="version type timestamp data")),
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


def warm_up(path: Path, timeout: int, kernel: str) -> float | None:
    """Runs the first `:dep` cell of the notebook at `path` alone, in a
    throwaway kernel in the notebook's directory, so that evcxr's cache holds
    what that cell builds; returns how long it took (None: no such cell)."""
    nb = nbformat.read(path, as_version=4)
    first = next((c for c in code_cells(nb) if re.search(r"(?m)^\s*:dep ", c.source)), None)
    if first is None:
        return None
    one = nbformat.v4.new_notebook()
    one.cells = [nbformat.v4.new_code_cell(first.source)]
    client = NotebookClient(
        one,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=True,
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return seconds(one.cells[0])


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
    parser.add_argument(
        "--max-first-cell",
        type=float,
        metavar="SECONDS",
        help="fail a notebook whose first :dep cell takes longer than this",
    )
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="first run the first notebook's :dep cell alone (its time is printed, not limited), "
        "so that the limit applies to a warm evcxr cache",
    )
    args = parser.parse_args()

    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        print("notebooks: 0 passed, 1 failed")
        return 1
    out_dir = args.out.resolve()
    passed, failed, executed = [], [], {}
    if args.warm_up:
        took = warm_up(notebooks[0].resolve(), args.timeout, args.kernel)
        shown = f"{took:.1f} s" if took is not None else "n/a (no :dep cell)"
        print(f"warm-up: the first :dep cell of {notebooks[0].name} alone: {shown}", flush=True)
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
        if args.max_first_cell is not None and first_time is not None and first_time > args.max_first_cell:
            problems.append(f"the first :dep cell took {first_time:.1f} s, above the limit of {args.max_first_cell:g} s")
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
