#!/usr/bin/env python3
"""Execute notebooks headlessly on the Rust (evcxr) kernel, timing each cell.

    dvent-run-notebook NOTEBOOK.ipynb...      run notebooks, outputs discarded
    dvent-run-notebook --dep-only CRATE_DIR   run a one-cell `:dep` notebook

The image build uses --dep-only to compile the crate's dependencies once, so
that evcxr's cache already holds them when a user opens a notebook; the CI
check uses it to report how long the first `:dep` cell takes.
Exits non-zero when a cell fails.
"""

import argparse
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

KERNEL = "rust"


def dep_notebook(crate_dir):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        # The sample notebooks' first cell: without the default sqlite
        # feature, so no C library is compiled at each kernel start.
        nbformat.v4.new_code_cell(
            f':dep dvent = {{ path = "{crate_dir}", default-features = false }}'),
        # 03-projections.ipynb's chart: plotters, drawn to SVG (its
        # second cell), so that it too is a cache hit in a new container.
        nbformat.v4.new_code_cell(
            ':dep plotters = { version = "0.3", default-features = false, '
            'features = ["svg_backend", "line_series"] }'),
        nbformat.v4.new_code_cell('println!("kernel ready");'),
    ]
    return nb


def run(nb, workdir, label, timeout):
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        resources={"metadata": {"path": workdir}},
    )
    started = time.monotonic()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.monotonic()
            client.execute_cell(cell, index)
            first_line = cell.source.splitlines()[0] if cell.source else ""
            print(f"{label}: cell {index} {time.monotonic() - t0:6.1f}s  {first_line[:60]}",
                  flush=True)
    print(f"{label}: total {time.monotonic() - started:.1f}s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dep-only", metavar="CRATE_DIR")
    parser.add_argument("--timeout", type=int, default=1800,
                        help="seconds allowed per cell (a cold :dep compiles every dependency)")
    parser.add_argument("notebooks", nargs="*")
    args = parser.parse_args()

    jobs = []
    if args.dep_only:
        jobs.append((dep_notebook(os.path.abspath(args.dep_only)), os.getcwd(), ":dep"))
    for path in args.notebooks:
        jobs.append((nbformat.read(path, as_version=4),
                     os.path.dirname(os.path.abspath(path)), path))
    if not jobs:
        parser.error("nothing to run")

    for nb, workdir, label in jobs:
        try:
            run(nb, workdir, label, args.timeout)
        except CellExecutionError as err:
            print(f"{label}: FAILED\n{err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
