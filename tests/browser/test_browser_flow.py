"""The whole way of a film through the web app, in chromium, as the people who use it.

A film-maker registers a film, uploads a cut (the page's chunked upload with
its progress bar) and a caption file, and watches the cut being processed;
staff (after the consent is recorded through the Library) open the film page,
play the proxy with its caption track, edit a caption line and see the live
check change, save, approve the captions and the cut; an admin publishes to
the S3 server and takes the film down again. Every page on the way passes axe.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from medialib.media.samples import make_sample
from tests.browser.conftest import Live
from tests.launch import FORM

CAPTIONS = ("WEBVTT\n\n"
            "00:00:00.000 --> 00:00:01.500\n<v Ailsa>Hope Street.\n\n"
            "00:00:02.000 --> 00:00:03.800\n<v Ailsa>We fixed the repairs together.\n")  # fmt: skip
LONG_WAIT = 120_000  # ms: processing a cut on a busy two-core machine


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, ff: Any) -> Path:  # noqa: ANN401
    path = tmp_path_factory.mktemp("flow") / "hope-street-rough.mp4"
    make_sample(ff, path, duration=4.0, size="320x240")
    return path


def reload_until(tab: Any, locator: str, pattern: str, seconds: float = 120) -> None:
    """Reload the page until ``locator``'s text matches ``pattern`` (the page does not update by itself)."""
    deadline = time.monotonic() + seconds
    while True:
        text = tab.page.locator(locator).inner_text() if tab.page.locator(locator).count() else ""
        if re.search(pattern, text):
            return
        assert time.monotonic() < deadline, f"{locator} still says {text!r}"
        tab.page.wait_for_timeout(1000)
        tab.page.reload()


def test_a_film_from_upload_to_the_launch_site(live: Live, as_user: Any, clip: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect  # here: without Playwright the `browser` fixture skips (or fails in CI)

    slug = live.slug("hope-street")

    # --- the film-maker: register, upload a cut and captions, watch it process -----------------
    maker = as_user("maker")
    maker.goto("/films")
    maker.page.get_by_role("link", name="Register a film").click()
    maker.page.wait_for_url("**/films/new")
    maker.check("/films/new")
    maker.page.get_by_label("Short name (slug)").fill(slug)
    maker.page.get_by_label("Title").fill("Hope Street")
    maker.page.get_by_label("Summary").fill("Tenants and the housing office redesign repairs together.")
    maker.page.get_by_label("Spoken languages").fill("en")
    maker.page.get_by_role("button", name="Register the film").click()
    maker.page.wait_for_url(f"**/films/{slug}*")
    maker.check(f"/films/{slug} (new)")

    maker.page.get_by_label("Video file").set_input_files(str(clip))
    maker.page.get_by_label("Label").fill("rough")
    maker.page.get_by_role("button", name="Upload cut").click()
    expect(maker.page.locator("#upload-progress")).to_be_visible()  # the script's progress bar
    # The script goes to the film page with the "Added cut" notice when the upload is done (the form
    # is on that page already: waiting for the page alone raced the script's navigation).
    maker.page.wait_for_url(re.compile(r".*/films/" + slug + r"\?notice=Added.*"), timeout=LONG_WAIT)
    reload_until(maker, "#processing-state", r"^done$")
    maker.check(f"/films/{slug} (processed)")
    expect(maker.page.get_by_role("row", name=re.compile(r"^1 .*current"))).to_be_visible()

    captions = tmp_path / "hope-street.en.vtt"
    captions.write_text(CAPTIONS)
    maker.page.get_by_label("Caption file", exact=True).set_input_files(str(captions))
    maker.page.locator("#caption-language").fill("en")
    maker.page.get_by_role("button", name="Upload captions").click()
    expect(maker.page.locator("#track-captions-en")).to_be_visible()
    maker.check(f"/films/{slug} (captions uploaded)")
    maker.screenshot("film-maker")

    # The film-maker cannot open what is for staff and admins.
    for path in ("/board", "/admin/publish", "/admin/users"):
        maker.goto(path, status=403)
    response = maker.page.request.post(f"/films/{slug}/approve")
    assert response.status == 403

    # --- consent, recorded through the Library (the staff consent forms are not in this flow) ------
    lib = live.lib
    form = tmp_path / "form.pdf"
    form.write_bytes(FORM)
    person = lib.add_person("Ailsa Grant", born="1980-02-01")
    consent = lib.add_consent(person["id"], scopes=["filming", "online"], signed="2024-01-10", form=form,
                              verified_by="Morag Stewart")  # fmt: skip
    lib.add_appearance(slug, person["id"])
    response = maker.page.request.get(f"/consent/{consent['id']}/form")
    assert response.status == 403  # the signed form is for staff only

    # --- staff: play the proxy with its captions, edit and re-check, approve -----------------------
    staff = as_user("staff")
    staff.goto("/board")
    staff.page.get_by_role("link", name="Hope Street").click()
    staff.page.wait_for_url(f"**/films/{slug}")
    staff.check(f"/films/{slug} as staff")
    video = staff.page.locator("#staff-player")
    staff.page.evaluate("v => v.play()", video.element_handle())
    staff.page.wait_for_function("v => v.currentTime > 0.5 && !v.error", arg=video.element_handle())
    staff.page.evaluate("""v => { for (const t of v.textTracks) if (t.kind === 'captions') t.mode = 'showing'; }""",
                        video.element_handle())  # fmt: skip
    track = staff.page.locator("#staff-player track[kind=captions]")
    staff.page.wait_for_function("t => t.readyState === 2", arg=track.element_handle())  # LOADED
    cues = staff.page.evaluate("v => [...v.textTracks].find(t => t.kind === 'captions').cues.length",
                               video.element_handle())  # fmt: skip
    assert cues == 2
    staff.page.evaluate("v => v.pause()", video.element_handle())

    findings = staff.page.locator("#staff-findings-en-captions .summary")
    expect(findings).to_contain_text("0 errors")
    editor = staff.page.get_by_label("Caption text, en captions (WebVTT)")
    broken = CAPTIONS.replace("00:00:02.000 --> 00:00:03.800", "00:00:02.000 -> 00:00:03.800")
    editor.fill(broken)
    expect(findings).to_contain_text("1 error, 0 warnings, 1 cue")  # the live check, as typed
    expect(findings).to_contain_text("edited text, not saved")
    staff.check(f"/films/{slug} with a broken caption edit")
    editor.fill(CAPTIONS.replace("We fixed the repairs together.", "We fixed the repairs, together."))
    expect(findings).to_have_text(re.compile(r"^0 errors, .* 2 cues \(edited text, not saved\)"))
    staff.page.get_by_role("button", name="Save as a new version").click()
    expect(staff.page.locator(".notice")).to_contain_text("saved as a new draft version")
    staff.page.get_by_role("button", name="Approve en captions").click()
    expect(staff.page.locator(".notice")).to_contain_text("en captions approved by staff")
    staff.page.get_by_role("button", name="Approve cut 1").click()
    expect(staff.page.locator(".notice")).to_contain_text("cut 1 approved by staff")
    staff.check(f"/films/{slug} approved")
    staff.screenshot("film-staff")
    assert lib.review(slug)["publishable"]

    # --- the admin: publish to S3, then take the film down -----------------------------------------
    admin = as_user("admin")
    admin.goto("/admin/publish")
    row = admin.page.locator(f"#publish-{slug}")
    expect(row).to_contain_text("not yet")
    admin.page.get_by_role("button", name="Publish now").click()
    expect(admin.page.locator(".notice")).to_contain_text("Publish finished")
    expect(row).to_contain_text("yes")
    admin.check("/admin/publish after publishing")
    s3 = live.s3.client()
    page = s3.get_object(Bucket=live.bucket, Key=f"site/{slug}/index.html")["Body"].read().decode()
    assert "Hope Street" in page and "<track" in page
    assert slug in s3.get_object(Bucket=live.bucket, Key="site/films.json")["Body"].read().decode()

    admin.page.get_by_label("Reason to take down Hope Street").fill("the film-maker asked for a new edit")
    admin.page.get_by_role("button", name="Take down Hope Street").click()
    expect(admin.page.locator(".notice")).to_contain_text("taken down")
    admin.check("/admin/publish after a take-down")
    listed = s3.list_objects_v2(Bucket=live.bucket, Prefix=f"site/{slug}/").get("KeyCount", 0)
    assert listed == 0
    assert slug not in s3.get_object(Bucket=live.bucket, Key="site/films.json")["Body"].read().decode()
