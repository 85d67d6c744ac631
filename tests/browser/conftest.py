"""Browser tests: the ward page in headless Chromium (Debian's ``chromium`` and ``chromium-driver``),
driven by Selenium, against the real stack, a real worker and the real ward page.

They reuse the integration fixtures (``stack``, ``isolated``: own topics, consumer group and
database) and are marked ``integration``. Artifacts (screenshots) go to ``build/test-artifacts/``;
each test prints where.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from ..integration.conftest import Isolated, free_port, isolated, stack, wait_for  # noqa: F401 (fixtures)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
TOKENS = {
    "nurse": "browser-test-nurse-token-0001",
    "doctor": "browser-test-doctor-token-0002",
    "viewer": "browser-test-viewer-token-0003",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def staff_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the test's staff tokens (user ids ``staff-<role>``)."""
    return dict(env, WARDWATCH_API_TOKENS=json.dumps({t: {"role": r, "user": f"staff-{r}"} for r, t in TOKENS.items()}))


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class WardPageProcess:
    """``wardwatch ward serve`` as a real subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def ward_page(isolated: Isolated, tmp_path: Path) -> Iterator[WardPageProcess]:
    port = free_port()
    log = tmp_path / "ward-page.log"
    env = dict(staff_env(isolated.env), WARDWATCH_API_WARD_PORT=str(port))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "wardwatch", "ward", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    page = WardPageProcess(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(lambda: proc.poll() is None and answers(page.url + "/api/health") or proc.poll() is not None,
                 timeout=60, what="the ward page to answer")
        assert proc.poll() is None, page.output()[-3000:]
        yield page
    finally:
        page.stop()


@pytest.fixture(scope="session")
def chromium_available() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install Debian's chromium and chromium-driver (dev.sh does)", pytrace=False)


@pytest.fixture
def browser(chromium_available: None, tmp_path: Path) -> Iterator[Callable[[], webdriver.Chrome]]:
    """A factory of headless Chromium sessions, each with its own fresh profile; all quit at the end."""
    drivers: list[webdriver.Chrome] = []

    def start() -> webdriver.Chrome:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                     "--window-size=1600,1000", f"--user-data-dir={tmp_path / f'profile-{len(drivers)}'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def login(driver: webdriver.Chrome, base: str, role: str) -> None:
    """Log in through the form with the test token of ``role``."""
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "token").send_keys(TOKENS[role])
    driver.find_element(By.ID, "login-button").click()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and driver.current_url.rstrip("/") != base:
        time.sleep(0.1)
    assert driver.current_url.rstrip("/") == base, driver.current_url


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
