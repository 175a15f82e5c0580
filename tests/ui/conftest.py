"""UI fixtures: a real `tweetops serve` with an API key, real Streamlit processes, and Debian's Chromium."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import TWEETOPS, ServeProcess, serve_env
from tests.servers.ports import free_port, wait_until
from ui.client import Client

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "ui" / "app.py"
STREAMLIT = str(Path(sys.executable).parent / "streamlit")
SCREENSHOTS = ROOT / "reports" / "ui"
API_KEY = "ui-test-key"
NON_ASCII_KEY = "clé-ключ-🔑"  # a second key the API accepts
STATIC_TRIES = 3
CHROMIUM = "/usr/bin/chromium"
BROWSER_ZONE = "Asia/Tokyo"
PAGE_TIMEOUT_MS = 90_000  # a bound on waiting for a condition, never a sleep
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def api_server(trained_bundle, tmp_path_factory) -> ServeProcess:
    """`tweetops serve` on the session's trained bundle, one worker, API keys on, SQLite history."""
    folder = tmp_path_factory.mktemp("ui-api")
    env = serve_env(trained_bundle, folder, TWEETOPS_API_KEYS=f"{API_KEY},{NON_ASCII_KEY}", WEB_CONCURRENCY=1)
    log_path = folder / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([TWEETOPS, "serve"], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = ServeProcess(process, f"http://127.0.0.1:{env['PORT']}", log_path)
    try:
        wait_until(lambda: process.poll() is not None or httpx.get(server.url + "/ping", timeout=2).status_code == 200,
                   timeout=90, interval=0.25, what="tweetops serve")
        if process.poll() is not None:
            raise AssertionError(f"tweetops serve exited with {process.returncode}:\n{server.log()}")
        yield server
    finally:
        if process.poll() is None:
            server.terminate()


@pytest.fixture(scope="session")
def api(api_server) -> Client:
    """The UI's own client, pointed at the test API with the right key."""
    return Client(api_server.url, API_KEY)


@pytest.fixture(scope="session")
def start_ui(tmp_path_factory):
    """start_ui(api_url, api_key) -> the base URL of a ready `streamlit run ui/app.py`; all stopped at the end."""
    started = []

    def start(api_url: str, api_key: str | None) -> str:
        folder = tmp_path_factory.mktemp("ui")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "TWEETOPS_API_KEY")}
        env.update(API_URL=api_url, **({"TWEETOPS_API_KEY": api_key} if api_key else {}))
        with open(folder / "streamlit.log", "wb") as log:
            process = subprocess.Popen(
                [STREAMLIT, "run", str(APP), "--server.headless", "true", "--server.address", "127.0.0.1",
                 "--server.port", str(port), "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
                 "--client.disableDataExport", "true"],
                env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: process.poll() is not None or httpx.get(url + "/_stcore/health", timeout=2).text == "ok",
                   timeout=60, interval=0.2, what="streamlit")
        if process.poll() is not None:
            raise AssertionError(f"streamlit exited with {process.returncode}:\n"
                                 f"{(folder / 'streamlit.log').read_text(errors='replace')}")
        return url

    yield start
    for process in started:
        _stop(process)


@pytest.fixture(scope="session")
def ui_url(api_server, start_ui) -> str:
    """The UI talking to the running API with the right key."""
    return start_ui(api_server.url, API_KEY)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/install_system_deps.sh (it installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    from playwright.sync_api import expect

    # expect() has its own 5 s default, apart from the context's: a page rendering under a full test suite's
    # load once took longer, and on a clean clone's CI run (image builds beside it) over 30 s. Both wait on the
    # condition and return as soon as it holds.
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _fetched_by_playwright(route) -> None:
    """Fetch one of the UI's static files in Playwright's driver rather than in Chromium, retrying a failed try.

    Chromium fails every request in flight with net::ERR_NETWORK_CHANGED when the machine's network changes (an
    interface or address coming or going; seen in clean-clone CI runs, on the upload and the history pages), and
    Streamlit's code is loaded in chunks whose failed import stays failed for the page's life. The driver's own
    HTTP client does not watch the machine's network. The files come from the real Streamlit server, unchanged."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(STATIC_TRIES):
        try:
            return route.fulfill(response=route.fetch())
        except PlaywrightError as exc:
            if attempt == STATIC_TRIES - 1:
                print(f"browser: {route.request.url} failed {STATIC_TRIES} times, last: {exc}", flush=True)
                return route.abort()


def _page(browser, **options):
    """A tab that keeps (in `page.failures`) and prints each request it could not load, with Chromium's reason,
    and each 5xx: pytest shows a failed test's output."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, **options)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route(re.compile(r"^http://127\.0\.0\.1:\d+/static/"), _fetched_by_playwright)
    page = context.new_page()
    page.failures = []

    def failed(line: str) -> None:
        page.failures.append(line)
        print(f"browser: {line}", flush=True)

    page.on("requestfailed", lambda request: request.failure != "net::ERR_ABORTED" and failed(  # not the page's own
        f"{request.method} {request.url} failed: {request.failure}"))  # cancels (a reload)
    page.on("response", lambda response: response.status >= 500 and failed(
        f"{response.request.method} {response.url} answered {response.status}"))
    yield page
    context.close()


@pytest.fixture
def page(browser):
    """A tab in a browser set to UTC (the container's zone)."""
    yield from _page(browser, timezone_id="UTC")


@pytest.fixture
def page_in_tokyo(browser):
    """A tab whose browser reports Asia/Tokyo (UTC+9, no daylight saving) as its time zone."""
    yield from _page(browser, timezone_id=BROWSER_ZONE)
