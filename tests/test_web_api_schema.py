"""The JSON API fuzzed from its own OpenAPI document (schemathesis): no input makes the server fail (5xx).

Every operation of /api/openapi.json is called in-process (ASGI) with
generated path parameters, queries, headers and bodies, signed in as staff
with the session's CSRF token; path parameters are often swapped for a film
that exists, so the calls get past "not found".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from medialib.errors import ToolFailed
from medialib.library import Library
from medialib.web.app import create_app
from medialib.web.auth import COOKIE
from tests.launch import write_config
from tests.web_helpers import PASSWORDS, client, csrf_of, sign_in

FILMS = ("hope-street", "makers-film")
# Path parameter values that exist in the current test's library (filled by the ``api`` fixture).
KNOWN: dict[str, list[str]] = {"slug": list(FILMS), "language": ["en"], "upload_id": []}


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app over a fresh library with two films, and the headers of a signed-in staff session."""
    root = tmp_path / "library"
    cfg = write_config(root, db_url, (tmp_path / "site").as_uri())
    lib = Library.open(cfg, env={})
    maker = lib.add_user("maker", "film-maker", PASSWORDS["maker"])
    lib.add_user("staff", "staff", PASSWORDS["staff"])
    lib.add_film("hope-street", "Hope Street", summary="Tenants and the housing office.", languages=["en"])
    lib.add_film("makers-film", "Maker's Film", owner_id=maker["id"])
    app = create_app(lib)
    staff = sign_in(client(lib), "staff")
    headers = {"Cookie": f"{COOKIE}={staff.cookies[COOKIE]}", "X-CSRF-Token": csrf_of(staff)}
    KNOWN["upload_id"] = []
    for slug in FILMS:  # uploads in progress, for the upload operations to find
        r = staff.post(f"/api/films/{slug}/uploads", json={"size": 1000, "name": "cut.mp4"},
                       headers={"X-CSRF-Token": headers["X-CSRF-Token"]})  # fmt: skip
        if r.status_code == 201:
            KNOWN["upload_id"].append(r.json()["id"])
    yield app, headers
    lib.close()


# The document needs only the app's routes, not a library; each test points the schema at its own app.
schema = schemathesis.openapi.from_dict(create_app(None).openapi())  # type: ignore[arg-type]


@schema.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any]) -> Any:
    """Often a film or upload that exists instead of a generated one, to get past "not found"."""
    choices = [path_parameters]
    for name, values in KNOWN.items():
        if path_parameters and name in path_parameters:
            choices += [{**path_parameters, name: v} for v in values]
    return st.sampled_from(choices)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: Any, api: tuple[Any, dict[str, str]]) -> None:
    app, headers = api
    case.operation.schema.app = app  # in-process (ASGI) calls ...
    response = case.call_and_validate(headers=headers, checks=[not_a_server_error], app=app)  # ... to this test's app
    assert response.status_code != 401, "the staff session must hold for every call"


def test_the_fuzzing_reaches_every_operation_and_would_see_a_server_error(api, monkeypatch):
    """The check is not idle: an operation that fails is reported (here /api/review made to raise)."""
    app, headers = api
    live = schemathesis.openapi.from_asgi("/api/openapi.json", app)  # the document the app serves
    assert live.raw_schema == schema.raw_schema
    operations = {(op.ok().method.upper(), op.ok().path) for op in live.get_all_operations()}
    assert {("GET", "/api/me"), ("GET", "/api/films"), ("GET", "/api/films/{slug}"), ("GET", "/api/review")} <= operations

    def failing_review(*args: Any, **kwargs: Any) -> None:
        raise ToolFailed("a failure the app answers with a 5xx (502: a tool failed)")

    monkeypatch.setattr(app.state.lib, "review", failing_review)
    case = live["/api/review"]["GET"].Case()
    with pytest.raises(FailureGroup, match="Server error"):
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
