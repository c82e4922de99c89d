"""Headless Chromium (the Debian package, or AVGEN_CHROMIUM) driven by Playwright for Python, pointed at that
binary: no browser download. Everything here skips with the reason when Chromium or Playwright is missing.
One browser per session; each test opens its own page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    given = os.environ.get("AVGEN_CHROMIUM")
    if given:
        return given if os.path.isfile(given) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="package")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium installed (apt-get install chromium, or set AVGEN_CHROMIUM to a Chromium binary)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                                 "(pip install playwright; no browser download needed)")
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--mute-audio", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh page that records console errors, page errors and every request leaving this machine."""
    context = browser.new_context()
    pg = context.new_page()
    pg.console_errors, pg.external_requests = [], []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))

    def note(request):
        url = request.url
        if not url.startswith(("file://", "data:", "blob:", "http://127.0.0.1", "ws://127.0.0.1", "about:")):
            pg.external_requests.append(url)

    pg.on("request", note)
    yield pg
    context.close()


# every <video>/<audio> of the page: its readyState (>= 2: the browser decoded a frame) and any MediaError code
MEDIA_STATE_JS = """sel => Array.from(document.querySelectorAll(sel)).map(e => ({
    src: e.currentSrc || e.src, tag: e.tagName, readyState: e.readyState, error: e.error ? e.error.code : null}))"""


def wait_media_ready(pg, *, selector: str = "video, audio", timeout_ms: int = 20_000) -> list[dict]:
    """Wait until every media element matching ``selector`` reached readyState >= 2 or failed; returns their state."""
    pg.wait_for_function(
        """sel => { const m = Array.from(document.querySelectorAll(sel));
                    return m.length > 0 && m.every(e => e.readyState >= 2 || e.error); }""",
        arg=selector, timeout=timeout_ms)
    return pg.evaluate(MEDIA_STATE_JS, selector)


# -- one avgen app server per session ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package", autouse=True)
def _app_process(request, tmp_path_factory):
    """Starts ``avgen app`` (not waiting for it) as soon as a session with app tests begins, so its start-up (and its
    preload of the bundled model) overlaps the gallery tests. None when no app test runs or Gradio is missing."""
    if not any(item.fspath.basename == "test_webapp.py" for item in request.session.items) or \
            chromium_path() is None:
        yield None  # no app test, or no browser to drive it: those tests skip
        return
    try:
        import gradio  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        yield None
        return
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    log = open(log_path, "w+")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "avgen.cli", "app", "--port", str(port), "--device", "cpu"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield {"proc": proc, "url": f"http://127.0.0.1:{port}/", "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="package")
def app_url(_app_process) -> str:
    """The running app's URL, once its page answers (started by :func:`_app_process`)."""
    pytest.importorskip("gradio", reason="the app extra is not installed (pip install 'avgen[app]')")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")
    if _app_process is None:
        pytest.skip("no Chromium installed (apt-get install chromium, or set AVGEN_CHROMIUM): the app tests need one")
    proc, url, log = _app_process["proc"], _app_process["url"], _app_process["log"]
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return url
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.seek(0)
            pytest.fail(f"avgen app did not start (exit {proc.poll()}):\n{log.read()[-3000:]}")
        time.sleep(0.5)
