"""Browser tests: the real app (`medialib serve`) over a real library, driven by Debian's chromium.

- One chromium (Playwright for Python, ``executable_path=/usr/bin/chromium``,
  headless) for the whole session; one browser context per signed-in account.
- The app runs as `medialib serve` in a subprocess on a free loopback port,
  over a SQLite library in a temporary folder whose publish target is a
  bucket of a real S3 server (SeaweedFS, tests/seaweed.py).
- Every page a test visits is checked by axe-core (the npm package, injected
  by the test as a same-origin script that the browser context answers from
  the file, so the app's CSP stays on): zero violations. The page must also
  log no Content Security Policy violation.
- Screenshots go to test-artifacts/ (CI keeps them).

Without chromium, Playwright or axe-core these tests are skipped, except
under CI=true, where that is an error: in CI they must run. `./dev test`
installs all three.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from medialib.library import Library
from tests.conftest import IN_CI, medialib_cmd
from tests.launch import write_config
from tests.seaweed import SeaweedFS
from tests.web_helpers import PASSWORDS, ROLES

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MEDIALIB_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(os.environ.get("MEDIALIB_AXE", ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"))
ARTIFACTS = Path(os.environ.get("MEDIALIB_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; ./dev test does it)"
    if not AXE.exists():
        return f"{AXE} is missing (npm install axe-core into .cache/npm; ./dev test does it)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = _missing()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but the browser tests cannot run: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=["--autoplay-policy=no-user-gesture-required"])  # fmt: skip
        yield chromium
        chromium.close()


# --- the app -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    """The running app and what it serves: its library, its URL, its S3 server and bucket."""

    lib: Library
    url: str
    s3: SeaweedFS
    bucket: str
    work: Path
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def slug(self, stem: str) -> str:
        """A film slug no other test uses."""
        return f"{stem}-{uuid.uuid4().hex[:6]}"


def _wait_until_serving(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"medialib serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/login", timeout=2)  # noqa: S310 - our loopback server
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"medialib serve did not answer on {url} within 60 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def live(browser: Any, tmp_path_factory: pytest.TempPathFactory, session_db_url: str) -> Iterator[Live]:
    """`medialib serve` over a fresh library with the four test accounts, publishing to SeaweedFS."""
    work = tmp_path_factory.mktemp("browser")
    s3 = SeaweedFS(work).start()
    try:
        bucket = s3.make_bucket("launch-" + uuid.uuid4().hex[:10])
        root = work / "library"
        cfg = write_config(root, session_db_url, f"s3://{bucket}/site", endpoint=s3.endpoint)
        lib = Library.open(cfg, env={})
        accounts = {name: lib.add_user(name, ROLES[name], PASSWORDS[name]) for name in PASSWORDS}
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MEDIALIB_", "AWS_"))} | s3.env  # fmt: skip
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = work / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([*medialib_cmd(), "--config", str(cfg), "serve", "--port", str(port)],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=work, start_new_session=True)  # fmt: skip
        try:
            _wait_until_serving(proc, url, log)
            yield Live(lib, url, s3, bucket, work, accounts)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)
            lib.close()
    finally:
        s3.stop()


# --- pages, accounts, axe ------------------------------------------------------------------


class Checked:
    """A browser tab of one account: every page it opens gets the axe and CSP checks.

    axe-core needs scripts, so a tab without JavaScript has each page checked
    as a copy (its HTML as it stands, scripts removed) in a tab that has them."""

    def __init__(self, page: Any, who: str, copies: Any = None) -> None:
        self.page, self.who, self.copies = page, who, copies
        self.csp: list[str] = []
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def goto(self, path: str, *, status: int = 200) -> Any:
        """Open ``path``, assert the final status, run the checks; the response."""
        response = self.page.goto(path)
        assert response is not None and response.status == status, (path, response and response.status)
        self.check(path)
        return response

    def check(self, what: str) -> None:
        """Zero axe-core violations and no CSP violation on the page as it is now."""
        if self.copies is None:
            assert_accessible(self.page, f"{self.who} {what}")
        else:
            html = re.sub(r"<script\b[^>]*>.*?</script>", "", self.page.content(), flags=re.S | re.I)
            assert_accessible(self.copies(html), f"{self.who} {what} (without JavaScript)")
        assert not self.csp, f"{what}: Content Security Policy violations: {self.csp}"

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


# axe-core is injected from the page's own origin, answered by the browser context (see ``as_user``),
# so the app's Content Security Policy (script-src 'self') stays in force while axe runs.
AXE_PATH = "/__browser-tests__/axe.min.js"
COPY_PATH = "/__browser-tests__/copy.html"  # a copy of a page seen without JavaScript, for axe


def assert_accessible(page: Any, what: str) -> None:
    """Run axe-core (every rule it enables by default: WCAG 2.0/2.1 A and AA, and best practices)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_PATH)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    violations = [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5], "summary": v["nodes"][0].get("failureSummary", "")}
        for v in result["violations"]
    ]  # fmt: skip
    assert not violations, f"{what}: axe-core violations:\n{json.dumps(violations, indent=1)}"


@pytest.fixture
def as_user(browser: Any, live: Live) -> Iterator[Any]:
    """``as_user(name, javascript=True)``: a fresh browser context signed in as ``name`` through the sign-in
    form (``None``: not signed in)."""
    contexts: list[Any] = []

    def context(javascript: bool = True) -> Any:
        made = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900},
                                   java_script_enabled=javascript)  # fmt: skip
        made.set_default_timeout(20_000)
        made.route(live.url + AXE_PATH, lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
        contexts.append(made)
        return made

    def copies() -> Any:
        page, html = context().new_page(), [""]
        page.route(live.url + COPY_PATH, lambda route: route.fulfill(body=html[0], content_type="text/html"))

        def show(copy: str) -> Any:
            html[0] = copy
            page.goto(COPY_PATH)
            return page

        return show

    def open_as(name: str | None, *, javascript: bool = True) -> Checked:
        tab = Checked(context(javascript).new_page(), name or "anonymous", None if javascript else copies())
        if name is not None:
            sign_in(tab, name)
        return tab

    yield open_as
    for context in contexts:
        context.close()


def sign_in(tab: Checked, name: str, password: str | None = None) -> None:
    page = tab.page
    tab.goto("/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password or PASSWORDS[name])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert re.search(r"/(board|films)$", page.url), page.url
