"""`copier update` keeps the user's work and brings the template's; `copier recopy` repairs.

The template under test is the working tree (uncommitted changes included), committed into a
temporary repository and tagged 1.0.0; a synthetic next release, tagged 1.1.0, changes one
module, one README line and adds a module, as a real release would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from copier import run_copy, run_recopy, run_update

from harness import ROOT, clean_env, run, uv

pytestmark = pytest.mark.build

GIT = ("git", "-c", "user.name=Test", "-c", "user.email=test@example.com")
RELEASE_NOTE = "A production-grade Python web service. (template 1.1.0)"
NEW_FUNCTION = '\n\ndef template_release() -> str:\n    return "1.1.0"\n'


def git(cwd: Path, *args: str) -> str:
    return run(cwd, *GIT, *args).stdout


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A git repository of the working tree tagged 1.0.0, and a next release tagged 1.1.0."""
    repo = tmp_path_factory.mktemp("template") / "repo"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(".git", ".venv", ".tools", "__pycache__", ".*_cache"),
    )
    git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "release 1.0.0")
    git(repo, "tag", "1.0.0")

    shared = repo / "template" / "src" / "{{package_name}}"
    with (shared / "problems.py").open("a") as module:
        module.write(NEW_FUNCTION)
    (shared / "release.py").write_text('"""Added by release 1.1.0."""\n\nRELEASE = "1.1.0"\n')
    readme = repo / "template" / "README.md.jinja"
    readme.write_text(
        readme.read_text().replace(
            "\n{{ description }}\n", "\n{{ description }} (template 1.1.0)\n", 1
        )
    )
    assert "{{ description }} (template 1.1.0)\n" in readme.read_text()  # the line was found
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "release 1.1.0")
    git(repo, "tag", "1.1.0")
    return str(repo)


def copy(template: str, destination: Path, ref: str, **answers: object) -> Path:
    run_copy(
        template,
        str(destination),
        data=answers,
        defaults=True,
        vcs_ref=ref,
        unsafe=True,  # the post-copy task runs: uv lock, git init
        quiet=True,
    )
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "copied from the template")
    return destination


def update(project: Path, ref: str = "1.1.0", **answers: object) -> None:
    run_update(
        str(project),
        data=answers,
        defaults=True,
        skip_answered=True,
        overwrite=True,
        vcs_ref=ref,
        unsafe=True,
        quiet=True,
    )


def files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_update_keeps_user_work_and_brings_template_changes(
    template: str, tmp_path: Path, framework: str
) -> None:
    project = copy(template, tmp_path / "service", "1.0.0", framework=framework)
    package = project / "src" / "my_service"

    # Typical edits of a user who lives with the project.
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\n\n# Tuned for our deployment.\n")
    (package / "reports.py").write_text('"""Our own endpoint module."""\n\nREPORTS = []\n')
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## Run\n", "## Run\n\nAsk #team-api first.\n"))
    (project / ".pre-commit-config.yaml").unlink()
    run(project, uv(), "add", "--no-sync", "humanize>=4")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "our changes")
    before = files(project)

    update(project)

    after = files(project)
    # The user's edits survive byte for byte where the template did not touch the same lines.
    for name in ("src/my_service/settings.py", "src/my_service/reports.py", "uv.lock"):
        assert after[name] == before[name], name
    assert "Ask #team-api first." in after["README.md"].decode()
    assert '"humanize>=4"' in after["pyproject.toml"].decode()
    assert ".pre-commit-config.yaml" not in after  # a deleted file stays deleted
    # The release arrived.
    assert RELEASE_NOTE in after["README.md"].decode()
    assert after["src/my_service/problems.py"].decode().endswith(NEW_FUNCTION)
    assert "src/my_service/release.py" in after
    assert "_commit: 1.1.0" in after[".copier-answers.yml"].decode()
    assert not [name for name in after if name.endswith(".rej")]

    # And the project still passes its gates.
    env = clean_env()
    run(project, uv(), "sync", "--locked", env=env)
    run(project, uv(), "run", "--locked", "ruff", "check", env=env)
    run(project, uv(), "run", "--locked", "ruff", "format", "--check", env=env)
    tests = run(project, uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", env=env)
    assert " passed" in tests.stdout


def test_conflicting_edit_keeps_both_sides_inline(template: str, tmp_path: Path) -> None:
    project = copy(template, tmp_path / "service", "1.0.0")
    readme = project / "README.md"
    mine = "Our billing service, owned by team API."
    readme.write_text(readme.read_text().replace("A production-grade Python web service.", mine))
    git(project, "commit", "--quiet", "--all", "--message", "our description")

    update(project)

    text = readme.read_text()
    assert "<<<<<<< before updating" in text
    assert ">>>>>>> after updating" in text
    assert mine in text  # our side
    assert RELEASE_NOTE in text  # the template's side
    assert not list(project.rglob("*.rej"))


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_update_path_equals_a_fresh_render(template: str, tmp_path: Path, framework: str) -> None:
    updated = tmp_path / "updated"
    fresh = tmp_path / "fresh"
    for destination, ref in ((updated, "1.0.0"), (fresh, "1.1.0")):
        run_copy(
            template,
            str(destination),
            data={"framework": framework},
            defaults=True,
            vcs_ref=ref,
            skip_tasks=True,
            quiet=True,
        )
    git(updated, "init", "--quiet")
    git(updated, "add", "--all")
    git(updated, "commit", "--quiet", "--message", "1.0.0")
    update(updated)

    ours, theirs = files(updated), files(fresh)
    ours.pop(".copier-answers.yml")
    theirs.pop(".copier-answers.yml")
    # Django's .env holds a secret drawn per copy: present in both, never compared.
    assert (ours.pop(".env", None) is None) == (theirs.pop(".env", None) is None)
    assert ours.keys() == theirs.keys()
    assert [name for name in ours if ours[name] != theirs[name]] == []


def test_changing_an_answer_on_update_keeps_user_files(template: str, tmp_path: Path) -> None:
    project = copy(template, tmp_path / "service", "1.1.0")
    mine = project / "src" / "my_service" / "reports.py"
    mine.write_text('"""Ours."""\n')
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "ours")

    update(project, database="postgresql")

    assert mine.read_text() == '"""Ours."""\n'
    assert "database: postgresql" in (project / ".copier-answers.yml").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    assert '"asyncpg' in pyproject
    assert '"aiosqlite' not in pyproject
    assert "postgresql+asyncpg://" in (project / "src" / "my_service" / "settings.py").read_text()
    # uv.lock is the user's: `uv lock` brings it in line with the new dependencies.
    run(project, uv(), "lock", env=clean_env())
    run(project, uv(), "sync", "--locked", env=clean_env())


def test_realtime_can_be_switched_on_by_update(template: str, tmp_path: Path) -> None:
    project = copy(template, tmp_path / "service", "1.1.0", framework="django")
    routes = project / "src" / "my_service" / "items" / "api.py"
    routes.write_text(routes.read_text() + '\n\ndef ours() -> str:\n    return "kept"\n')
    git(project, "commit", "--quiet", "--all", "--message", "ours")

    update(project, realtime=True, broker="redis")

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["realtime"], answers["broker"]) == (True, "redis")
    merged = routes.read_text()
    assert 'return "kept"' in merged  # the user's function
    assert 'await publish("item.created", item)' in merged  # the template's change
    assert (project / "src" / "my_service" / "items" / "events.py").is_file()
    assert '"channels-redis' in (project / "pyproject.toml").read_text()
    assert (
        "CHANNEL_LAYERS" in (project / "src" / "my_service" / "config" / "settings.py").read_text()
    )


def test_auth_can_be_switched_on_by_update(template: str, tmp_path: Path) -> None:
    project = copy(template, tmp_path / "service", "1.1.0")
    app = project / "src" / "my_service" / "app.py"
    app.write_text(app.read_text() + '\n\ndef ours() -> str:\n    return "kept"\n')
    git(project, "commit", "--quiet", "--all", "--message", "ours")

    update(project, auth="oidc")

    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["auth"] == "oidc"
    merged = app.read_text()
    assert 'return "kept"' in merged  # the user's function
    assert "app.add_middleware(AuthMiddleware, settings=settings)" in merged  # the template's
    assert (project / "src" / "my_service" / "auth.py").is_file()
    assert (project / "tests" / "idp.py").is_file()
    assert '"pyjwt[crypto]' in (project / "pyproject.toml").read_text()
    assert "MY_SERVICE_AUTH_ISSUER=" in (project / ".env.example").read_text()


def test_recopy_repairs_a_project_whose_update_went_wrong(template: str, tmp_path: Path) -> None:
    project = copy(template, tmp_path / "service", "1.0.0", database="postgresql")
    package = project / "src" / "my_service"
    (package / "reports.py").write_text('"""Ours."""\n')
    (package / "problems.py").write_text("<<<<<<< a botched merge\n")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "a bad update")

    run_recopy(str(project), defaults=True, overwrite=True, unsafe=True, quiet=True)

    assert (package / "problems.py").read_text().startswith('"""RFC 9457 problem details')
    assert (package / "reports.py").read_text() == '"""Ours."""\n'  # untouched
    assert "database: postgresql" in (project / ".copier-answers.yml").read_text()
    changed = git(project, "status", "--porcelain")
    assert "src/my_service/problems.py" in changed  # git shows what the recopy repaired
    result = subprocess.run(
        [uv(), "run", "ruff", "check", "src"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
