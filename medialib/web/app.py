"""The web app: server-rendered pages for staff and film-makers, and a JSON API under /api.

An interface layer like the CLI: it calls the Library (the services) and
turns MedialibError into a 4xx page or JSON body. Authorisation is checked on
the server for every route (see ``medialib.web.auth``), never by hiding
buttons. Pages work without JavaScript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from medialib.errors import AlreadyExists, BadInput, CheckFailed, MedialibError, NotFound
from medialib.library import Library
from medialib.web import auth

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.globals["gate_names"] = ("derivatives", "qc", "captions", "consent", "approval", "embargo")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}  # fmt: skip


def status_of(exc: MedialibError) -> int:
    from medialib.errors import ToolFailed, ToolMissing
    from medialib.publish.publisher import PublishBusy
    from medialib.publish.targets import TargetUnavailable

    if isinstance(exc, (TargetUnavailable, ToolMissing)):
        return 503
    if isinstance(exc, PublishBusy):
        return 409
    if isinstance(exc, ToolFailed):
        return 502
    if isinstance(exc, auth.TooManyAttempts):
        return 429
    if isinstance(exc, auth.Forbidden):
        return 403
    if isinstance(exc, auth.Unauthorised):
        return 401
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, AlreadyExists):
        return 409
    if isinstance(exc, BadInput):
        return 400
    if isinstance(exc, CheckFailed):
        return 409
    return 400


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the signed-in viewer and its CSRF token in the context."""
    viewer = getattr(request.state, "viewer", None)
    return TEMPLATES.TemplateResponse(request, template, {"viewer": viewer, **context}, status_code=status_code)


def create_app(lib: Library, *, secure_cookies: bool = False) -> FastAPI:
    """The app over an open library. ``secure_cookies``: mark the session cookie Secure (behind https)."""
    app = FastAPI(title="medialib", version="1", openapi_url="/api/openapi.json", docs_url="/api/docs",
                  redoc_url=None)  # fmt: skip
    app.state.lib = lib
    app.state.secure_cookies = secure_cookies
    app.state.limiter = auth.SignInLimiter()

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path.startswith(("/api/", "/films", "/board", "/admin", "/login")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(MedialibError)
    async def medialib_error(request: Request, exc: MedialibError) -> Response:
        code = status_of(exc)
        if isinstance(exc, auth.Unauthorised) and not wants_json(request):
            return RedirectResponse(f"/login?next={auth.safe_next(str(request.url.path))}", status_code=303)
        if wants_json(request):
            return JSONResponse({"error": exc.message}, status_code=code)
        return render(request, "error.html", status_code=code, message=exc.message, code=code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # Never echo the input back (it may not even be encodable); name the fields.
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in exc.errors()})
        message = f"invalid request: check {', '.join(fields)}"
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=422)
        return render(request, "error.html", status_code=422, message=message, code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        return render(request, "error.html", status_code=exc.status_code, message=str(exc.detail),
                      code=exc.status_code)  # fmt: skip

    from fastapi.staticfiles import StaticFiles

    from medialib.web import admin, api, film_page, maker, pages, staff

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(maker.router)  # before film_page: /films/new is not a slug
    app.include_router(film_page.router)
    app.include_router(staff.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    return app
