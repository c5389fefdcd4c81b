"""deploy/Dockerfile, read as text (no Docker daemon here to build it): what it copies exists and reaches the
build, it installs the lock and the project as scripts/setup.sh does, and it runs as a user, not root."""

import fnmatch
import re

from tests.deploy.conftest import DEPLOY, ROOT

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """The arguments of each instruction `name`, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name} (.+)$", text, flags=re.M)]


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the root) out of the build context."""
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        pattern = pattern.removeprefix("**/")
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p.split("/")[-1], pattern) for p in prefixes):
            return True
    return False


def test_the_final_stage_is_python_311_slim_and_runs_as_a_user() -> None:
    assert instructions("FROM")[-1] == "python:3.11-slim"
    user = instructions("USER")[-1]
    assert user not in ("root", "0")
    assert f"useradd --create-home --uid 10001 {user}" in DOCKERFILE.replace("\\\n", " ")


def test_what_it_copies_exists_and_reaches_the_build() -> None:
    copied = [arg.split()[:-1] for arg in instructions("COPY") if not arg.startswith("--from")]
    sources = [s for group in copied for s in group]
    assert {"requirements.lock", "pyproject.toml", "datahub_assets/", "resources/", "sensors/", "api/",
            "deploy/"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f"{source} is copied but .dockerignore leaves it out"
    assert ignored(".venv") and ignored("web/canvas/node_modules") and ignored("api/__pycache__")


def test_it_installs_the_lock_then_the_project_without_resolving_again() -> None:
    runs = instructions("RUN")
    assert "pip install -r requirements.lock" in runs
    assert any(r.startswith("pip install --no-deps -e .") for r in runs)
    # The canvas page the API serves is built as scripts/setup.sh builds it: npm ci from the lock, then Vite.
    assert "npm ci --no-audit --no-fund" in runs and any(r.startswith("npm run build") for r in runs)
    assert "COPY --from=canvas /build/dist/ web/canvas/dist/" in DOCKERFILE
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "npm ci" in setup and "npm run --silent build" in setup
