"""The documentation builds strictly, draws its diagram offline and explains every question
copier.yml asks."""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from harness import ROOT, CommandError, clean_env, run


def build_site(site: Path, config: Path = ROOT / "mkdocs.yml") -> str:
    """`mkdocs build --strict` into `site`; its output. Material's notice of its end of life
    (May 2027, see mkdocs.yml) is switched off by the variable the notice names."""
    mkdocs = str(Path(sys.prefix) / "bin" / "mkdocs")
    env = clean_env(NO_MKDOCS_2_WARNING="1")
    result = run(ROOT, mkdocs, "build", "--strict", "-f", str(config), "-d", str(site), env=env)
    return result.stdout + result.stderr


def test_docs_build_strictly(tmp_path: Path) -> None:
    output = build_site(tmp_path / "site")
    assert (tmp_path / "site" / "contract" / "index.html").is_file()
    assert "end of life" not in output


@pytest.mark.parametrize(
    ("page", "text", "nav", "message"),
    [
        ("orphan.md", "# Orphan\n", "", 'not included in the "nav"'),
        ("index.md", "", "  - Gone: gone.md\n", "'gone.md' is included in the 'nav'"),
        ("index.md", "[A link](gone.md)\n", "", "'gone.md', but the target is not found"),
        (
            "index.md",
            "[A link](contract.md#nowhere)\n",
            "",
            "does not contain an anchor '#nowhere'",
        ),
    ],
    ids=["page-missing-from-nav", "nav-entry-without-page", "broken-link", "broken-anchor"],
)
def test_docs_build_fails_on(tmp_path: Path, page: str, text: str, nav: str, message: str) -> None:
    """Each of these fails the strict build (MkDocs only logs a page missing from nav, unless
    mkdocs.yml's validation says otherwise)."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / page).open("a") as file:
        file.write("\n" + text)
    config = (
        (ROOT / "mkdocs.yml")
        .read_text()
        .replace("  - Home: index.md\n", f"  - Home: index.md\n{nav}")
    )
    (tmp_path / "mkdocs.yml").write_text(config)
    with pytest.raises(CommandError, match=re.escape(message)):
        build_site(tmp_path / "site", tmp_path / "mkdocs.yml")


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's package: apt install chromium


@contextmanager
def served(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on a free loopback port, in a thread; its base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# Material draws each diagram into a closed shadow root, which no selector reaches; the page is
# told to open them, which changes nothing else in the rendering.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, {...init, mode: "open"});
};
"""


@pytest.mark.build
def test_architecture_diagram_renders_offline(tmp_path: Path) -> None:
    """The built site, served from loopback, draws the architecture diagram in a real browser
    (Debian's chromium through Playwright) with the site's own Mermaid: no request leaves the
    machine, nothing is logged as an error."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no browser at {CHROMIUM}: `apt-get install chromium` (or set CHROMIUM)")
    from playwright.sync_api import ConsoleMessage, Route, sync_playwright

    build_site(tmp_path / "site")
    external: list[str] = []
    errors: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    screenshot = tmp_path / "architecture.png"
    with served(tmp_path / "site") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context()
            context.add_init_script(OPEN_SHADOW_ROOTS)
            context.route("**/*", only_loopback)  # the page's requests and its workers'
            page = context.new_page()
            page.on("console", console)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/architecture/")
            try:
                diagram = page.locator("div.mermaid svg")
                diagram.wait_for(timeout=15_000)
                text = diagram.text_content() or ""
                assert "RequestContextMiddleware" in text
                assert "Syntax error" not in text
                page.wait_for_load_state("networkidle")
                assert external == []
                assert errors == []
            except Exception:
                page.screenshot(path=screenshot, full_page=True)
                print(f"screenshot: {screenshot}; external requests: {external}; errors: {errors}")
                raise
        finally:
            browser.close()


def asked_questions() -> list[str]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!include", lambda loader, node: {})
    questions: list[str] = []
    for document in yaml.load_all((ROOT / "copier.yml").read_text(), Loader=Loader):
        for name, spec in (document or {}).items():
            asked = not (isinstance(spec, dict) and spec.get("when") is False)
            if not name.startswith("_") and asked:
                questions.append(name)
    return questions


def test_every_question_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)`", (ROOT / "docs" / "questions.md").read_text(), re.M))
    questions = asked_questions()
    assert "framework" in questions
    assert set(questions) == documented


def test_every_setting_is_documented(tmp_path: Path) -> None:
    """docs/configuration.md lists exactly the variables the variants' .env.example hold."""
    from harness import render

    variables: set[str] = set()
    for framework in ("fastapi", "django"):
        answers = {"realtime": True, "broker": "redis", "auth": "oidc"}
        project = render(tmp_path / framework, framework=framework, **answers)
        example = (project / ".env.example").read_text()
        variables |= set(re.findall(r"^#? ?MY_SERVICE_(\w+)=", example, re.MULTILINE))
    documented = re.findall(
        r"^\| `(\w+)` \|", (ROOT / "docs" / "configuration.md").read_text(), re.MULTILINE
    )
    assert len(documented) == len(set(documented))
    assert set(documented) == variables


def test_dunder_names_are_code() -> None:
    """`benchmarks/__main__.py` outside a code span reads as a bold "main" (the page the
    benchmarks' report writes included: it is one of the pages)."""
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = re.sub(r"```.*?```|<!--.*?-->", "", page.read_text(), flags=re.DOTALL)
        prose = re.sub(r"`[^`\n]+`", "", text)  # code spans
        assert not re.findall(r"(?<![\\\w])__\w+__", prose), page.name


def block_after(page: str, marker: str) -> str:
    text = (ROOT / "docs" / page).read_text()
    match = re.search(rf"<!-- {marker} -->\n```\w+\n(.+?)\n```", text, re.DOTALL)
    assert match, f"docs/{page} has no block after <!-- {marker} -->"
    return match.group(1)


@pytest.mark.build
def test_quickstart_first_change(tmp_path: Path) -> None:
    """The quickstart's first change, as written: a column, its migration, green tests."""
    from harness import clean_env, find_python, render, uv

    project = render(tmp_path / "my-service")
    env = clean_env(UV_PYTHON=find_python("3.13"))
    run(project, uv(), "sync", env=env)
    run(project, uv(), "run", "my-service", "migrate", env=env)  # step 1 of the quickstart
    models = project / "src" / "my_service" / "items" / "models.py"
    anchor = "    description: Mapped[str | None] = mapped_column(Text)\n"
    assert anchor in models.read_text()
    column = block_after("quickstart.md", "quickstart-column")
    models.write_text(models.read_text().replace(anchor, anchor + column + "\n"))

    for command in block_after("quickstart.md", "quickstart-commands").splitlines():
        run(project, "bash", "-c", command, env=env)

    [migration] = (project / "src" / "my_service" / "migrations" / "versions").glob("*quantity*")
    assert 'sa.Column("quantity", sa.Integer()' in migration.read_text()
    # The new revision is as clean as the rest (alembic's post-write hooks run ruff).
    run(project, uv(), "run", "ruff", "check", ".", env=env)
    run(project, uv(), "run", "ruff", "format", "--check", ".", env=env)


# Every shell command the docs show, and the test that runs it. Copier's commands are run
# through its Python API with the same options (run_copy/run_update/run_recopy).
EXERCISED = {
    'uvx copier copy --trust --defaults --vcs-ref=HEAD "$PWD" ../my-service && cd ../my-service'
    " && uv run my-service migrate && uv run my-service serve": (
        "test_readme.py::test_scaffold_command_starts_a_ready_service"
    ),
    "uv run pytest": "test_readme.py::test_ci_runs_the_readme_test_command",  # .ci/run runs it
    'uv run alembic revision --autogenerate -m "item quantity"': (
        "test_docs.py::test_quickstart_first_change"
    ),
    "uv run my-service migrate": "test_docs.py::test_quickstart_first_change",
    "uv run python scripts/check_free_threading.py": "test_ci.py::test_free_threading_gate_passes",
    "uv run python scripts/check_free_threading.py --python 3.14t": (
        "test_ci.py::test_free_threading_gate_passes"
    ),
    "uvx copier update --trust --defaults --skip-answered": (
        "test_update.py::test_update_keeps_user_work_and_brings_template_changes"
    ),
    "uv lock": "test_update.py::test_changing_an_answer_on_update_keeps_user_files",
    "uvx copier update --trust --defaults --skip-answered --data database=postgresql": (
        "test_update.py::test_changing_an_answer_on_update_keeps_user_files"
    ),
    "uvx copier update --trust --defaults --data realtime=true": (
        "test_update.py::test_realtime_can_be_switched_on_by_update"
    ),
    "uvx copier update --trust --defaults --data auth=oidc": (
        "test_update.py::test_auth_can_be_switched_on_by_update"
    ),
    "uvx copier recopy --trust --defaults --overwrite --skip-answered": (
        "test_update.py::test_recopy_repairs_a_project_whose_update_went_wrong"
    ),
    'uv run alembic revision --autogenerate -m "notes"': (
        "test_walkthrough.py::test_add_a_resource_as_documented"
    ),
    "uv run python manage.py makemigrations notes": (
        "test_walkthrough.py::test_add_a_resource_as_documented"
    ),
    "uv run ruff format": "test_walkthrough.py::test_add_a_resource_as_documented",
    "uv run python -m benchmarks": "test_benchmarks.py::test_benchmark_runner_quick",
    'uv run --with "mutmut>=3.8,<4" mutmut run': (
        "test_mutation.py::test_generated_tests_kill_the_mutants"
    ),
    'uv run --with "mutmut>=3.8,<4" mutmut results': (
        "test_mutation.py::test_generated_tests_kill_the_mutants"
    ),
    # harness.identity_provider runs it with the project's interpreter.
    "uv run python tests/idp.py": "contract/test_auth.py::test_a_valid_token_reads_and_writes",
    "uv run python -m benchmarks.export": "test_benchmarks.py::test_export_benchmark_smoke",
    # With the generator of the template's dev group, and options of its own (package name).
    "uvx openapi-python-client generate --url http://127.0.0.1:8000/openapi.json"
    " --config client.yaml": (
        "test_openapi.py::test_a_client_generated_from_either_document_works_against_both"
    ),
}


def test_every_command_in_the_docs_is_exercised() -> None:
    shown = set()
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.DOTALL):
            for line in block.strip().splitlines():
                shown.add(line.split("  #")[0].strip())
    assert shown <= set(EXERCISED), sorted(shown - set(EXERCISED))
    for reference in set(EXERCISED.values()):
        module, function = reference.split("::")
        assert f"def {function}(" in (ROOT / "tests" / module).read_text(), reference
