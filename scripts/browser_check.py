"""Drive JupyterLab in headless Chromium, as a user would, and check Dvent's notebooks.

Used by scripts/test-browser, which installs what is needed, starts JupyterLab
(scripts/notebook) on 127.0.0.1 with a fresh token (handed over in the
environment as DVENT_JUPYTER_TOKEN, not on the command line) and stops it
afterwards. This script:

- opens /lab, screenshots the launcher and checks that its Notebook (and
  Console) section offers exactly one kernel, Rust, and nothing Python;
- for each notebook: opens it from the file browser, waits for the kernel to
  be idle, clears the committed outputs (Edit > Clear Outputs of All Cells)
  and runs "Run > Run All Cells" from the menu; waits (--timeout seconds)
  until every code cell has an execution count and the kernel is idle; fails
  on any error or stderr output (a cell tagged allow-stderr may write to
  stderr), on a cell left unrun, and when the notebook's committed outputs
  have HTML tables but none is rendered; screenshots it from top to bottom;
- waits --autosave-wait seconds (past JupyterLab's 120 s autosave interval)
  with the run, unsaved notebooks still open, then checks that `git status
  --porcelain -- notebooks` and each notebooks/*.ipynb's sha256 are as they
  were before (--status-before, --sha256-before, recorded by the caller before
  JupyterLab started); closes the browser without saving and checks again.

Ends with `browser: N passed, M failed` (N, M count checks) and exits 1 when
M > 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

REPO = Path(__file__).resolve().parent.parent
NAME = "browser_check"
WIDTH, HEIGHT = 1400, 1000
STDERR_MIME = "application/vnd.jupyter.stderr"


def log(message: str) -> None:
    print(f"[{NAME}] {message}", flush=True)


class Failed(Exception):
    """A check failed; the message says why."""


def wait_for(what: str, probe, timeout: float, interval: float = 0.5):
    """Calls probe() until it returns something truthy (returned); raises
    Failed after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except WebDriverException:
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failed(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# --- the browser -------------------------------------------------------------

def start_browser(args, profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        # Only 127.0.0.1 is reached: no host name resolves.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(flag)
    # The driver is given: Selenium Manager downloads nothing.
    service = Service(executable_path=args.chromedriver, log_output=str(args.logs / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(180)
    driver.set_script_timeout(60)
    return driver


def js(driver, script: str, *arguments):
    return driver.execute_script(script, *arguments)


def shot(driver, path: Path) -> None:
    driver.save_screenshot(str(path))


def click_menu(driver, top: str, item: str) -> None:
    """Clicks a menu bar entry, then one of its items, by their labels."""
    bar = wait_for(
        f"the menu '{top}'",
        lambda: js(
            driver,
            """return [...document.querySelectorAll('.lm-MenuBar-item')]
                 .find(e => e.textContent.trim() === arguments[0]) || null;""",
            top,
        ),
        30,
    )
    bar.click()
    entry = wait_for(
        f"the item '{item}' in the menu '{top}'",
        lambda: js(
            driver,
            """return [...document.querySelectorAll('.lm-Menu .lm-Menu-item:not(.lm-mod-disabled)')]
                 .find(e => (e.querySelector('.lm-Menu-itemLabel') || e).textContent.trim()
                            === arguments[0]) || null;""",
            item,
        ),
        30,
    )
    entry.click()
    wait_for(
        f"the menu '{top}' to close",
        lambda: not js(driver, "return !!document.querySelector('.lm-Menu');"),
        10,
    )


def left_sidebar(driver, shown: bool) -> None:
    """Shows (with the file browser) or collapses the left sidebar."""
    visible = js(
        driver,
        "const fb = document.querySelector('.jp-FileBrowser'); return !!(fb && fb.offsetParent);",
    )
    if visible == shown:
        return
    selector = (
        '.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]'
        if shown
        else ".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current"
    )
    tab = driver.find_elements(By.CSS_SELECTOR, selector)
    if tab:
        tab[0].click()
        wait_for(
            "the left sidebar to " + ("open" if shown else "close"),
            lambda: js(
                driver,
                "const fb = document.querySelector('.jp-FileBrowser'); return !!(fb && fb.offsetParent);",
            )
            == shown,
            10,
        )


# --- the launcher --------------------------------------------------------------

LAUNCHER_JS = """
return [...document.querySelectorAll('.jp-Launcher-section')].map(s => ({
  title: ((s.querySelector('.jp-Launcher-sectionTitle') || {}).textContent || '').trim(),
  cards: [...s.querySelectorAll('.jp-LauncherCard')].map(
    c => ((c.querySelector('.jp-LauncherCard-label') || c).textContent || '').trim()),
}));
"""


def check_launcher(driver, args) -> None:
    driver.get(f"{args.url}/lab?token={args.token}")
    sections = wait_for(
        "the launcher's Notebook cards",
        lambda: (
            lambda s: s if any(x["title"] == "Notebook" and x["cards"] for x in s) else None
        )(js(driver, LAUNCHER_JS)),
        180,
    )
    time.sleep(2)  # let the icons and the rest of the page settle
    sections = js(driver, LAUNCHER_JS)
    shot(driver, args.screenshots / "launcher.png")
    for section in sections:
        log(f"  launcher section {section['title']!r}: {', '.join(section['cards']) or '(empty)'}")
    by_title = {s["title"]: s["cards"] for s in sections}
    problems = []
    for title in ("Notebook", "Console"):
        cards = by_title.get(title)
        if title == "Notebook" and cards != ["Rust"]:
            problems.append(f"the launcher's Notebook section offers {cards}, not exactly ['Rust']")
        elif title == "Console" and cards is not None and cards != ["Rust"]:
            problems.append(f"the launcher's Console section offers {cards}, not exactly ['Rust']")
    python = [
        f"{s['title']}: {c}"
        for s in sections
        if s["title"] in ("Notebook", "Console")
        for c in s["cards"]
        if "python" in c.lower()
    ]
    if python:
        problems.append(f"the launcher offers a Python kernel: {python}")
    if problems:
        raise Failed("; ".join(problems))


# --- a notebook --------------------------------------------------------------------

PANEL_STATE_JS = """
const panel = document.getElementById(arguments[0]);
if (!panel) return null;
const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
return {
  status: indicator ? indicator.getAttribute('data-status') : null,
  cells: cells.length,
  prompts: cells.filter(c => c.classList.contains('jp-CodeCell')).map(c => {
    const p = c.querySelector('.jp-InputArea-prompt');
    return p ? p.textContent.trim() : '';
  }),
};
"""

OUTPUTS_JS = """
const panel = document.getElementById(arguments[0]);
const code = [...panel.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')];
return {
  stderr: code.flatMap((c, i) =>
    [...c.querySelectorAll('.jp-OutputArea-output[data-mime-type="%s"]')].map(
      o => [i + 1, (o.textContent || '').trim().slice(0, 800)])),
  errors: code.flatMap((c, i) =>
    [...c.querySelectorAll('.jp-OutputArea-child .jp-mod-error, .jp-OutputArea-output.jp-mod-error')]
      .map(o => [i + 1, (o.textContent || '').trim().slice(0, 800)])),
  tables: panel.querySelectorAll('.jp-OutputArea-output table').length,
  dvent: panel.querySelectorAll('.jp-OutputArea-output .dvent table').length,
};
""" % STDERR_MIME

SCROLLER_JS = """
const panel = document.getElementById(arguments[0]);
const cands = [panel.querySelector('.jp-WindowedPanel-outer'), panel.querySelector('.jp-Notebook')]
  .filter(Boolean);
return cands.find(c => c.scrollHeight > c.clientHeight + 1) || cands[0];
"""

CONTENT_END_JS = """
const [e, panel] = [arguments[0], document.getElementById(arguments[1])];
const cells = panel.querySelectorAll('.jp-Notebook .jp-Cell');
const last = cells[cells.length - 1];
const end = last
  ? last.getBoundingClientRect().bottom - e.getBoundingClientRect().top + e.scrollTop + 16
  : e.scrollHeight;
return [e.scrollTop, e.clientHeight, Math.min(end, e.scrollHeight)];
"""

EXECUTED = re.compile(r"^\[\d+\]:?$")


def open_notebook(driver, name: str) -> str:
    """Opens notebooks/NAME from the file browser; returns its panel's id."""
    left_sidebar(driver, True)
    item = wait_for(
        f"{name} in the file browser",
        lambda: js(
            driver,
            """return [...document.querySelectorAll('.jp-DirListing-item')]
                 .find(e => ((e.querySelector('.jp-DirListing-itemText') || e).textContent || '')
                            .trim() === arguments[0]) || null;""",
            name,
        ),
        60,
    )
    ActionChains(driver).double_click(item).perform()
    panel_id = wait_for(
        f"a tab for {name}",
        lambda: js(
            driver,
            """const tab = [...document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab')]
                 .find(t => (t.querySelector('.lm-TabBar-tabLabel') || t).textContent.trim()
                            === arguments[0]);
               return tab ? tab.getAttribute('data-id') : null;""",
            name,
        ),
        60,
    )
    return panel_id


def code_cells_of(path: Path) -> list[dict]:
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def committed_tables(cells: list[dict]) -> int:
    count = 0
    for cell in cells:
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html")
            if html:
                count += ("".join(html) if isinstance(html, list) else html).count("<table")
    return count


def run_notebook(driver, args, name: str) -> list[str]:
    """Opens, runs and screenshots one notebook; returns its problems."""
    path = REPO / "notebooks" / name
    cells = code_cells_of(path)
    started = time.monotonic()
    panel_id = open_notebook(driver, name)
    total_cells = len(json.loads(path.read_text())["cells"])
    state = wait_for(
        f"{name} to load with an idle kernel",
        lambda: (
            lambda s: s if s and s["status"] == "idle" and s["cells"] >= total_cells else None
        )(js(driver, PANEL_STATE_JS, panel_id)),
        180,
    )
    log(f"  opened {name}: {state['cells']} cells, {len(state['prompts'])} code, kernel idle "
        f"({time.monotonic() - started:.1f} s)")
    if len(state["prompts"]) != len(cells):
        return [f"the page shows {len(state['prompts'])} code cells, the file has {len(cells)}"]
    left_sidebar(driver, False)

    # Activate this notebook, clear the committed outputs, run everything.
    driver.find_element(By.CSS_SELECTOR, f'#jp-main-dock-panel .lm-TabBar-tab[data-id="{panel_id}"]').click()
    click_menu(driver, "Edit", "Clear Outputs of All Cells")
    wait_for(
        f"{name}'s execution counts to be cleared",
        lambda: not any(EXECUTED.match(p) for p in js(driver, PANEL_STATE_JS, panel_id)["prompts"]),
        30,
    )
    run_started = time.monotonic()
    click_menu(driver, "Run", "Run All Cells")
    log(f"  Run > Run All Cells on {name}; waiting up to {args.timeout} s")

    deadline = run_started + args.timeout
    seen_running, settled, last_report = False, 0, run_started
    while True:
        state = js(driver, PANEL_STATE_JS, panel_id)
        prompts, status = state["prompts"], state["status"]
        running = any("*" in p for p in prompts)
        done = sum(1 for p in prompts if EXECUTED.match(p))
        seen_running = seen_running or running or done > 0
        if not running and status == "idle":
            settled += 1
        else:
            settled = 0
        now = time.monotonic()
        if done == len(prompts) and settled >= 2:
            break
        if seen_running and settled >= 6:  # idle, nothing queued: a cell stopped the run
            break
        if not seen_running and now - run_started > 60:
            return ["Run All Cells did not start any cell in 60 s"]
        if now >= deadline:
            break
        if now - last_report >= 30:
            log(f"  ... {done}/{len(prompts)} code cells run, kernel {status} ({now - run_started:.0f} s)")
            last_report = now
        time.sleep(1)
    took = time.monotonic() - run_started
    problems = []
    unrun = [i for i, p in enumerate(prompts, start=1) if not EXECUTED.match(p)]
    if unrun:
        why = "timed out" if time.monotonic() >= deadline else "the run stopped"
        problems.append(f"{why} after {took:.0f} s with code cells {unrun} not run "
                        f"(prompts {[prompts[i - 1] for i in unrun]}; kernel {status})")
    log(f"  ran {len(prompts) - len(unrun)}/{len(prompts)} code cells in {took:.1f} s")

    outputs = js(driver, OUTPUTS_JS, panel_id)
    bad: dict[int, list[str]] = {}
    for index, text in outputs["errors"]:
        bad.setdefault(index, []).append(text)
    for index, text in outputs["stderr"]:
        tags = cells[index - 1].get("metadata", {}).get("tags", []) if index <= len(cells) else []
        if "allow-stderr" not in tags and text not in bad.get(index, []):
            bad.setdefault(index, []).append(text)
    if bad:
        # The first few in some detail (the first one usually explains the rest).
        for index in sorted(bad)[:3]:
            lines = "\n".join(bad[index]).splitlines()
            detail = "\n".join(lines[:8]) + (f"\n... ({len(lines) - 8} more lines)" if len(lines) > 8 else "")
            problems.append(f"code cell {index} shows an error or stderr output:\n{detail}")
        if len(bad) > 3:
            problems.append(f"code cells {sorted(bad)[3:]} show errors or stderr output too")
    committed = committed_tables(cells)
    log(f"  {outputs['tables']} HTML tables rendered ({outputs['dvent']} in dvent blocks; "
        f"the committed outputs have {committed})")
    if committed and not outputs["tables"]:
        problems.append("no HTML table is rendered, though the committed outputs have some")

    problems.extend(screenshots(driver, args, name, panel_id))
    return problems


def screenshots(driver, args, name: str, panel_id: str) -> list[str]:
    """Screenshots the notebook from top to bottom: NAME-1.png, NAME-2.png..."""
    stem = Path(name).stem
    for old in args.screenshots.glob(f"{stem}-*.png"):
        old.unlink()
    scroller = js(driver, SCROLLER_JS, panel_id)
    # No focus, and the mouse off the outputs (no hover highlight of a row).
    js(driver, "document.activeElement && document.activeElement.blur();")
    status_bar = driver.find_elements(By.CSS_SELECTOR, "#jp-main-statusbar, .jp-StatusBar-Widget")
    if status_bar:
        ActionChains(driver).move_to_element(status_bar[0]).perform()
    top, count, paths = 0, 0, []
    while count < args.max_shots:
        js(driver, "arguments[0].scrollTop = arguments[1];", scroller, top)
        time.sleep(1.0)  # content-visibility: let the cells in view render
        count += 1
        path = args.screenshots / f"{stem}-{count}.png"
        shot(driver, path)
        paths.append(path)
        pos, view, end = js(driver, CONTENT_END_JS, scroller, panel_id)
        if pos + view >= end - 2:
            break
        # The next view overlaps this one a little; the last one ends where
        # the last cell does (not in the empty space below it).
        top = min(pos + max(view - 80, 100), max(end - view, pos + 1))
    js(driver, "arguments[0].scrollTop = 0;", scroller)
    log(f"  {count} screenshots: {paths[0].relative_to(REPO) if paths else '-'}"
        f"{' .. ' + paths[-1].name if len(paths) > 1 else ''}")
    return []


# --- the committed notebooks are left alone --------------------------------------

def git_status() -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "notebooks"],
        check=True, capture_output=True, text=True,
    ).stdout


def sha256s() -> dict[str, str]:
    return {
        p.relative_to(REPO).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((REPO / "notebooks").glob("*.ipynb"))
    }


def check_unchanged(args, when: str) -> None:
    before_status = args.status_before.read_text()
    before = {}
    for line in args.sha256_before.read_text().splitlines():
        digest, _, file = line.partition("  ")
        before[file.lstrip("*")] = digest
    now, status = sha256s(), git_status()
    changed = sorted(f for f in before.keys() | now.keys() if before.get(f) != now.get(f))
    problems = []
    if changed:
        problems.append(f"changed since the start (sha256): {', '.join(changed)}")
    if status != before_status:
        lines_before, lines_now = set(before_status.splitlines()), set(status.splitlines())
        problems.append(
            f"`git status --porcelain -- notebooks` differs: was {sorted(lines_before - lines_now)}, "
            f"now {sorted(lines_now - lines_before)}"
        )
    if problems:
        # Who wrote them? The server logs each save through its API.
        saves = []
        if args.server_log and args.server_log.exists():
            saves = [line.strip() for line in args.server_log.read_text(errors="replace").splitlines()
                     if "Saving file at" in line]
        if saves:
            problems.append("JupyterLab saved: " + " | ".join(saves))
        else:
            stamps = ", ".join(
                f"{f} modified {time.strftime('%H:%M:%S', time.localtime((REPO / f).stat().st_mtime))}"
                for f in changed if (REPO / f).exists()
            )
            problems.append("JupyterLab's log shows no save, so another process changed them"
                            + (f" ({stamps})" if stamps else ""))
        raise Failed(f"{when}: " + "; ".join(problems))
    log(f"  {when}: git status and the sha256 of {len(now)} notebooks unchanged")


# --- main ---------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebook names in notebooks/ (default: all)")
    parser.add_argument("--url", required=True, help="JupyterLab's base URL, http://127.0.0.1:PORT")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--screenshots", type=Path, default=REPO / "target" / "screenshots")
    parser.add_argument("--logs", type=Path, default=REPO / "target" / "browser")
    parser.add_argument("--timeout", type=int, default=600, help="seconds to run one notebook (default 600)")
    parser.add_argument("--autosave-wait", type=int, default=130, metavar="SECONDS",
                        help="how long the run notebooks stay open before the files are checked (default 130)")
    parser.add_argument("--profile", type=Path,
                        help="an empty directory for Chromium's profile (default: a temporary one, removed after)")
    parser.add_argument("--server-log", type=Path, help="JupyterLab's log, to tell who changed a notebook")
    parser.add_argument("--max-shots", type=int, default=30, help="screenshots per notebook at most")
    parser.add_argument("--status-before", type=Path, required=True,
                        help="`git status --porcelain -- notebooks` before JupyterLab started")
    parser.add_argument("--sha256-before", type=Path, required=True,
                        help="`sha256sum notebooks/*.ipynb` (run in the repo) before JupyterLab started")
    args = parser.parse_args()
    args.token = os.environ.get("DVENT_JUPYTER_TOKEN", "")
    if not args.token:
        print(f"{NAME}: DVENT_JUPYTER_TOKEN is not set", file=sys.stderr)
        print("browser: 0 passed, 1 failed")
        return 1
    if not args.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        print(f"{NAME}: refusing a non-local URL {args.url}", file=sys.stderr)
        print("browser: 0 passed, 1 failed")
        return 1
    os.environ["SE_OFFLINE"] = "1"  # never let Selenium Manager download anything
    notebooks = args.notebooks or sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    args.screenshots.mkdir(parents=True, exist_ok=True)
    args.logs.mkdir(parents=True, exist_ok=True)
    # A SIGTERM (the caller's cleanup) still closes the browser.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    passed, failed = [], []

    def check(what: str, fn, *fn_args) -> bool:
        started = time.monotonic()
        log(f"== {what}")
        try:
            problems = fn(*fn_args) or []
        except Failed as e:
            problems = [str(e)]
        except WebDriverException as e:
            problems = [f"browser error: {type(e).__name__}: {e.msg or e}".strip()]
        took = time.monotonic() - started
        if problems:
            failed.append(what)
            for problem in problems:
                log("  FAIL " + problem.replace("\n", "\n       "))
        else:
            passed.append(what)
            log(f"  ok ({took:.1f} s)")
        return not problems

    own_profile = args.profile is None
    profile = Path(tempfile.mkdtemp(prefix="dvent-chromium-")) if own_profile else args.profile
    driver = None
    try:
        log(f"starting headless Chromium ({args.chromium}, {args.chromedriver})")
        try:
            driver = start_browser(args, profile)
        except WebDriverException as e:
            log(f"FAIL could not start the browser: {e.msg or e}")
            failed.append("browser start")
        if driver is not None:
            if check("launcher: one kernel, Rust", check_launcher, driver, args):
                for name in notebooks:
                    check(f"notebook {name}", run_notebook, driver, args, name)
            else:
                log("not running notebooks: the launcher did not load as expected")
                failed.extend(f"notebook {name}" for name in notebooks)
            dirty = js(
                driver,
                """return [...document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty')]
                     .map(t => t.textContent.trim());""",
            )
            log(f"waiting {args.autosave_wait} s (past the 120 s autosave interval) with the notebooks "
                f"open; unsaved changes in: {', '.join(dirty) or 'none'}")
            waited = 0
            while waited < args.autosave_wait:
                step = min(30, args.autosave_wait - waited)
                time.sleep(step)
                waited += step
                js(driver, "return 1;")  # the browser is still there
                if waited < args.autosave_wait:
                    log(f"  ... {waited} s")
            check("notebooks unchanged with the browser open", check_unchanged, args,
                  "with the notebooks open")
    finally:
        if driver is not None:
            log("closing the browser without saving")
            try:
                driver.quit()
            except Exception as e:  # it is going away regardless
                log(f"  (quitting the driver: {type(e).__name__})")
        if own_profile:
            shutil.rmtree(profile, ignore_errors=True)
    if driver is not None:
        check("notebooks unchanged after closing the browser", check_unchanged, args,
              "after closing the browser")
    print(f"browser: {len(passed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
