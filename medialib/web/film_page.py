"""The film page (/films/{slug}): one route, sections by role.

- ``maker_sections`` (medialib/web/maker.py): what film-makers and staff both
  see: processing status, QC findings, the upload forms for cuts and captions.
- ``staff_sections`` (medialib/web/staff.py): staff only: the player with
  caption tracks and storyboard previews, caption findings and the caption
  editor, the consent table, the approve button, the audit trail.

Each returns a dict merged into the template context; the template includes
``_film_maker.html`` and, for staff, ``_film_staff.html``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from medialib.web.auth import Viewer, lib_of, require
from medialib.web.pages import film_for

router = APIRouter(include_in_schema=False)


@router.get("/films/{slug}")
def film_page(slug: str, request: Request, notice: str = "", viewer: Viewer = Depends(require())) -> Response:
    from medialib.web import maker, staff
    from medialib.web.app import render

    lib = lib_of(request)
    film = film_for(lib, viewer, slug)
    context = {"film": film, "notice": notice[:300]}
    context.update(maker.maker_sections(lib, viewer, film))
    if viewer.at_least("staff"):
        context.update(staff.staff_sections(lib, viewer, film))
    return render(request, "film.html", **context)
