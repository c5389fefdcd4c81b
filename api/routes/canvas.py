"""The Data Canvas page at `/canvas/`: the Vite build of `web/canvas/` as static files, and its config.

The page talks only to the public API (entities, align, export), so what it shows is what any client gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from api.deps import ContextDep

PAGE_DIR = Path(__file__).resolve().parents[2] / "web" / "canvas" / "dist"
NOT_BUILT = "canvas: the page is not built; run `bash scripts/setup.sh` (npm ci and the Vite build)"

router = APIRouter(tags=["canvas"])


class PageFiles(StaticFiles):
    """The built page. Hashed bundles under `assets/` are cached for good, everything else is revalidated;
    a missing build answers 503 naming the set-up step instead of failing at start."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.root = directory

    async def check_config(self) -> None:
        if self.root.is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (self.root / "index.html").is_file():
            return JSONResponse({"error": NOT_BUILT}, status_code=503)
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            immutable = path.startswith("assets/")
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return response


@router.get("/canvas/config.json", include_in_schema=False)
def canvas_config(ctx: ContextDep) -> dict[str, Any]:
    """What the page cannot learn from the public API: where the Dagster UI is, whether a token is needed."""
    settings = ctx.settings
    return {
        "dagster_ui_url": settings.dagster_ui_url.rstrip("/"),
        "auth": "bearer" if settings.jwt_secret or settings.jwks_url else "none",
    }


router.mount("/canvas", PageFiles(PAGE_DIR), name="canvas")
