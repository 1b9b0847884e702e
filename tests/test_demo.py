"""The README's main job: `medialib demo`, twice, on a new library."""

from __future__ import annotations


def test_demo_runs_and_is_safe_to_run_twice(init_cli, tmp_path):
    lib = tmp_path / "lib"
    assert init_cli("init", str(lib)).code == 0
    cfg = ["--config", str(lib / "config.toml")]
    first = init_cli(*cfg, "demo")
    assert first.code == 0, first.err
    assert "10 built, 0 unchanged, 0 failed" in first.out
    assert "Sam Okafor: consent 2 does not cover 'online'" in first.out
    films = init_cli(*cfg, "film", "list", "--json").json()
    assert [f["slug"] for f in films] == ["hope-street", "the-allotment"]
    events = init_cli(*cfg, "audit", "--json").json()

    second = init_cli(*cfg, "demo")
    assert second.code == 0, second.err
    assert "0 built, 10 unchanged, 0 failed" in second.out and "already registered" in second.out
    assert init_cli(*cfg, "audit", "--json").json() == events, "the second run changed nothing"
    assert init_cli(*cfg, "verify").code == 0
    assert "12 object(s) uploaded, 0 unchanged" in first.out and "0 object(s) uploaded, 12 unchanged" in second.out
    assert "the-allotment: cannot approve the-allotment: consent: Sam Okafor" in first.out
    review = init_cli(*cfg, "review", "--json").json()
    assert {r["slug"]: r["publishable"] for r in review} == {"hope-street": True, "the-allotment": False}
    # The launch site in the default folder target holds the publishable film only.
    site = lib / "site"
    manifest = __import__("json").loads((site / "films.json").read_text())
    assert [f["slug"] for f in manifest["films"]] == ["hope-street"]
    assert (site / "hope-street" / "index.html").is_file() and not (site / "the-allotment").exists()
    assert init_cli(*cfg, "publish", "verify").code == 0
