"""Fixtures for real-browser tests: Debian's chromium through Playwright, against real daphne instances.

Everything here is marked `integration` and `browser`. The deployment
fixtures come from tests/integration (real daphne processes on the real
broker). A failed test leaves a screenshot and the console log of each page
under test-artifacts/<test>/ and prints their paths.
"""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.integration.conftest import (  # noqa: F401  (fixtures, registered by import)
    Service,
    _test_failed,
    amqp_url,
    deployment,
    make_deployment,
    service,
    static_files,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPECT_TIMEOUT_MS = 15_000
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Return one headless chromium for the whole folder (Debian's; Playwright never downloads one)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing; scripts/test installs Debian's chromium (apt-get install chromium).")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageLog:
    """The console messages and page errors of every page of one context, for a failed test's artifacts."""

    def __init__(self) -> None:
        self.lines: dict[Page, list[str]] = {}

    def watch(self, page: Page) -> None:
        lines = self.lines.setdefault(page, [])
        page.on("console", lambda message: lines.append(f"[{message.type}] {message.text}"))
        page.on("pageerror", lambda error: lines.append(f"[pageerror] {error}"))
        page.on("framenavigated", lambda frame: frame == page.main_frame and lines.append(f"[navigated] {frame.url}"))


@pytest.fixture
def make_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., BrowserContext]]:
    """Return a factory of fresh browser contexts (own cookies and storage); artifacts saved on failure."""
    made: list[tuple[BrowserContext, PageLog]] = []

    def make(**options) -> BrowserContext:
        context = browser.new_context(**options)
        log = PageLog()
        context.on("page", log.watch)
        made.append((context, log))
        return context

    yield make
    failed = _test_failed(request)
    for number, (context, log) in enumerate(made):
        if failed:
            save_artifacts(request.node.name, number, context, log)
        context.close()


def save_artifacts(test_name: str, context_number: int, context: BrowserContext, log: PageLog) -> None:
    folder = ARTIFACTS_DIR / re.sub(r"[^\w.-]+", "_", test_name)
    folder.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(context.pages):
        stem = folder / f"context{context_number}-page{number}"
        try:
            page.screenshot(path=f"{stem}.png", full_page=True)
            print(f"\nscreenshot: {stem}.png ({page.url})")
        except Exception as exc:  # noqa: BLE001  (a crashed page must not hide the test's own failure)
            print(f"\nno screenshot of {page.url}: {exc}")
        Path(f"{stem}.console.log").write_text("\n".join(log.lines.get(page, [])) + "\n")
        print(f"console log: {stem}.console.log")


@pytest.fixture
def context(make_context: Callable[..., BrowserContext]) -> BrowserContext:
    return make_context()
