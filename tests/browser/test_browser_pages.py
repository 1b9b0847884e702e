"""Every page of the web app, as each role sees it, in chromium: axe-core finds nothing, the server says no."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Live

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


def seed(live: Live) -> dict[str, str]:
    """A film of the maker's (with markup in its title and summary) and one of the other maker's."""
    mine, theirs = live.slug("makers-film"), live.slug("others-film")
    live.lib.add_film(mine, f"{XSS} Maker's Film", summary=f"Summary {XSS}", owner_id=live.accounts["maker"]["id"])
    live.lib.add_film(theirs, "Other's Film", owner_id=live.accounts["other"]["id"])
    return {"mine": mine, "theirs": theirs}


def test_sign_in_page_and_a_failed_sign_in(as_user: Any) -> None:
    tab = as_user(None)
    tab.goto("/login")
    page = tab.page
    page.get_by_label("Name").fill("maker")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert "do not match" in page.get_by_role("alert").inner_text()
    tab.check("/login after a failed sign-in")
    # A page that needs an account sends an anonymous visitor to sign in, and back afterwards.
    tab.goto("/board")
    assert page.url.endswith("/login?next=/board")


def test_pages_of_each_role_pass_axe(live: Live, as_user: Any) -> None:
    films = seed(live)
    maker = as_user("maker")
    maker.goto("/films")
    assert maker.page.get_by_role("link", name=f"{XSS} Maker's Film").is_visible()  # shown as text
    assert maker.page.get_by_text("Other's Film").count() == 0
    maker.goto(f"/films/{films['mine']}")
    assert maker.page.evaluate("window.__xss") is None  # the markup in the title and summary did nothing
    maker.screenshot("film-maker-view")

    staff = as_user("staff")
    staff.goto("/board")
    assert staff.page.get_by_role("link", name=f"{XSS} Maker's Film").is_visible()
    staff.page.locator(f"#film-{films['mine']} summary").click()  # the reasons, on expand
    assert staff.page.locator(f"#film-{films['mine']} .reasons").is_visible()
    staff.check("/board with reasons expanded")
    staff.screenshot("board")
    staff.goto("/board?status=blocked&gate=consent")
    staff.goto("/films")
    staff.goto(f"/films/{films['theirs']}")
    assert staff.page.evaluate("window.__xss") is None

    admin = as_user("admin")
    admin.goto("/admin/users")
    admin.screenshot("admin-users")
    admin.goto("/admin/publish")
    assert admin.page.get_by_role("button", name="Publish now").is_visible()
    admin.screenshot("admin-publish")


def test_error_pages_and_what_a_film_maker_may_not_open(live: Live, as_user: Any) -> None:
    films = seed(live)
    maker = as_user("maker")
    for path in ("/board", "/admin/publish", "/admin/users"):
        maker.goto(path, status=403)
        assert maker.page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    maker.goto(f"/films/{films['theirs']}", status=404)  # another maker's film: not even its existence
    maker.goto("/films/no-such-film", status=404)
    response = maker.page.request.get("/api/review")
    assert response.status == 403 and "error" in response.json()
    for path in ("/admin/publish", f"/admin/takedown/{films['mine']}"):
        response = maker.page.request.post(path, form={"reason": "x"})  # no CSRF token, and no role
        assert response.status == 403, path


def test_keyboard_users_can_skip_to_the_content(as_user: Any) -> None:
    staff = as_user("staff")
    staff.goto("/board")
    page = staff.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # a visible focus
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_checks_catch_what_they_are_for(as_user: Any) -> None:
    """The axe and CSP checks fail on a page broken on purpose (so a pass above means something)."""
    import pytest

    tab = as_user(None)
    tab.goto("/login")
    tab.page.evaluate("document.querySelector('label[for=name]').remove()")  # an input without a label
    with pytest.raises(AssertionError, match="label"):
        tab.check("/login without its label")
    tab = as_user(None)
    tab.goto("/login")
    tab.page.evaluate("""() => { const s = document.createElement('script');
                                 s.textContent = 'window.__inline = 1'; document.body.append(s); }""")
    with pytest.raises(AssertionError, match="Content Security Policy"):
        tab.check("/login with an inline script")
    assert tab.page.evaluate("window.__inline") is None


def test_user_management_works_without_javascript(live: Live, as_user: Any) -> None:
    admin = as_user("admin", javascript=False)
    admin.goto("/admin/users")
    page = admin.page
    name = live.slug("fiona")
    page.get_by_label("Name").fill("Fiona Smith")  # not a user name: refused by the server
    page.get_by_label("Role", exact=True).select_option("staff")
    page.get_by_label("Password").fill("fionas-password")
    page.get_by_role("button", name="Add user").click()
    assert "user name 'Fiona Smith'" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Name").input_value() == "Fiona Smith"  # kept to correct; the password is not
    assert page.get_by_label("Password").input_value() == ""
    admin.check("/admin/users with an error")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill("fionas-password")
    page.get_by_role("button", name="Add user").click()
    assert "The account was added" in page.get_by_role("status").inner_text()
    row = page.locator(f"#user-{name}")
    assert "staff" in row.inner_text()
    row.get_by_label(f"New role for {name}").select_option("film-maker")
    row.get_by_role("button", name=f"Change role of {name}").click()
    assert "film-maker" in page.locator(f"#user-{name}").inner_text()
    page.locator(f"#user-{name}").get_by_role("button", name=f"Disable {name}").click()
    assert "disabled" in page.locator(f"#user-{name}").inner_text()
    admin.check("/admin/users after changes")
    assert {u["name"]: (u["role"], u["disabled"]) for u in live.lib.users()}[name] == ("film-maker", True)
