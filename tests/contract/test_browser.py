"""The pages of a served service, in a real browser (Debian's chromium, driven by Playwright):
the API docs list the operations and "Try it out" performs a request; the Django admin's login
page is styled. Nothing is loaded from another host, and the console stays clean."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from deploy import Deployment
from playwright.sync_api import Browser, Locator, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness import Server

pytestmark = pytest.mark.contract

TIMEOUT = 15_000  # milliseconds for a page or an element: an answer, not a measurement


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Debian's chromium (.ci/run installs it), or the Chrome of GitHub's Ubuntu runners.
    chromium = shutil.which("chromium") or shutil.which("google-chrome")
    assert chromium, "no chromium to drive: `apt-get install chromium` (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


class Visit:
    """One page of the service, with what it logged and what it asked of other hosts."""

    def __init__(self, browser: Browser, service: Server, artifacts: Path) -> None:
        self.origin = service.url
        self.page = browser.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.artifacts = artifacts
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._only_here)

    def _only_here(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == urlsplit(self.origin).netloc or url.startswith(
            ("data:", "blob:")
        ):
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def open(self, path: str) -> int:
        response = self.page.goto(f"{self.origin}{path}")
        assert response is not None
        return response.status

    def wait(self, name: str, locator: Locator) -> Locator:
        try:
            locator.wait_for()
        except PlaywrightTimeout:
            self.check(name, False)
        return locator

    def check(self, name: str, passed: bool) -> None:
        """On failure, keep a screenshot of the page for the report."""
        if not passed:
            shot = self.artifacts / f"{name}.png"
            self.page.screenshot(path=str(shot), full_page=True)
            pytest.fail(f"{name}: see {shot}; console errors: {self.errors}")

    def close(self) -> None:
        self.page.close()
        assert self.elsewhere == [], "the page asked another host"
        assert self.errors == [], "the console reported errors"


@pytest.fixture
def visit(browser: Browser, service: Server, tmp_path: Path) -> Iterator[Visit]:
    visit = Visit(browser, service, tmp_path)
    try:
        yield visit
    finally:
        visit.close()


def test_the_api_docs_list_the_operations_and_try_one(visit: Visit) -> None:
    assert visit.open("/docs") == 200
    visit.wait("docs-operations", visit.page.locator(".opblock", has_text="/api/v1/items").first)
    visit.page.locator(".opblock-summary", has_text="/health/live").first.click()
    visit.page.get_by_role("button", name="Try it out").click()
    visit.page.get_by_role("button", name="Execute").click()
    status = visit.page.locator(".live-responses-table .response .response-col_status").first
    visit.check(
        "docs-try-it-out", visit.wait("docs-response", status).inner_text().strip() == "200"
    )


def test_redoc_renders_the_schema(visit: Visit, deployment: Deployment) -> None:
    if deployment.variant.framework != "fastapi":
        pytest.skip("django-ninja serves Swagger UI only")
    assert visit.open("/redoc") == 200
    visit.wait("redoc", visit.page.locator("h1", has_text="My Service").first)
    visit.wait("redoc-operations", visit.page.get_by_text("/api/v1/items").first)


def test_the_admin_login_page_is_styled(visit: Visit, deployment: Deployment) -> None:
    if deployment.variant.framework != "django":
        pytest.skip("only Django services have an admin")
    assert visit.open("/admin/login/") == 200
    # The admin's stylesheet is loaded and applied: its header has a background of its own.
    background = visit.page.eval_on_selector(
        "#header", "element => getComputedStyle(element).backgroundColor"
    )
    visit.check("admin-login", background not in ("rgba(0, 0, 0, 0)", "transparent"))
