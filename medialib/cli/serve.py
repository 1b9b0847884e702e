"""medialib serve: the web app."""

from __future__ import annotations

import gc

import click

from medialib.cli.common import App, pass_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--secure-cookies", is_flag=True, help="Mark the session cookie Secure (when served behind https).")
@pass_app
def command(app: App, host: str, port: int, secure_cookies: bool) -> None:
    """Serve the web app: sign-in, the review board and film pages for staff,
    uploads for film-makers, publishing for admins, and a JSON API under
    /api (OpenAPI at /api/openapi.json). Create accounts with `medialib user add`."""
    import uvicorn

    from medialib.web.app import create_app

    web = create_app(app.library, secure_cookies=secure_cookies)
    # What is loaded now (modules, templates, the app) lives as long as the server: keep the
    # cyclic garbage collector from walking it again on every collection (that cost the
    # review board of 1,000 films about 60 ms a view; bench/web.py).
    gc.freeze()
    click.echo(f"serving {app.library.config.path or 'the library'} on http://{host}:{port}/", err=True)
    uvicorn.run(web, host=host, port=port, log_level="warning")
