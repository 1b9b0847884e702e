"""Every awkward source through the whole `process` pipeline, from `medialib init` on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path



def test_every_source_processes(init_cli, sources, tmp_path):
    lib = tmp_path / "lib"
    assert init_cli("init", str(lib)).code == 0
    config = lib / "config.toml"
    config.write_text(config.read_text().replace('preset = "veryfast"', 'preset = "ultrafast"'))
    cfg = ["--config", str(lib / "config.toml")]
    slugs = {}
    for name in sources:
        slug = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower())
        slugs[name] = slug
        assert init_cli(*cfg, "film", "add", slug, "--title", name).code == 0
        r = init_cli(*cfg, "cut", "add", slug, str(sources[name]))
        assert r.code == 0, (name, r.err)

    r = init_cli(*cfg, "process", "--json")
    report = r.json()
    assert r.code == 0 and report["failed"] == 0, json.dumps(report, indent=1)

    def show(name):
        return init_cli(*cfg, "film", "show", slugs[name], "--json").json()

    def proxies(name):
        return {d["name"]: d for d in show(name)["derivatives"] if d["kind"] == "proxy"}

    def qc(name):
        return init_cli(*cfg, "qc", slugs[name], "--json").json()

    def streams(path):
        out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        return json.loads(out)

    # the display aspect ratio and orientation are kept, nothing is upscaled
    assert (proxies("anamorphic.mp4")["proxy-360.mp4"]["width"], proxies("anamorphic.mp4")["proxy-360.mp4"]["height"]) == (640, 360)
    portrait = proxies("portrait.mp4")["proxy-720.mp4"]
    assert (portrait["width"], portrait["height"]) == (360, 640)
    uhd = proxies("uhd60.mp4")["proxy-720.mp4"]
    assert (uhd["width"], uhd["height"]) == (1280, 720)
    odd = proxies("odd.mkv")
    assert all(d["width"] % 2 == 0 and d["height"] % 2 == 0 for d in odd.values())
    assert proxies("short.mp4")["proxy-720.mp4"]["height"] == 240  # a 240-line source stays 240

    # audio: stereo from 5.1, none from none
    surround = streams(proxies("surround.mkv")["proxy-360.mp4"]["path"])
    assert [s["channels"] for s in surround["streams"] if s["codec_type"] == "audio"] == [2]
    silent = streams(proxies("silent.mp4")["proxy-360.mp4"]["path"])
    assert [s["codec_type"] for s in silent["streams"]] == ["video"]
    assert "no_audio" in {f["code"] for f in qc("silent.mp4")["findings"]}

    # interlaced in, progressive out
    inter = streams(proxies("interlaced.mp4")["proxy-360.mp4"]["path"])
    assert inter["streams"][0].get("field_order", "progressive") == "progressive"
    assert qc("interlaced.mp4")["interlaced"] is True

    # the black film: QC says so, and still gets a (middle-frame) poster
    black_qc = qc("black.mp4")
    assert ("error", "all_black") in {(f["level"], f["code"]) for f in black_qc["findings"]}
    assert any(d["kind"] == "poster" for d in show("black.mp4")["derivatives"])

    # every film has its storyboard track and posters
    for name in sources:
        kinds = {d["kind"] for d in show(name)["derivatives"]}
        assert {"proxy", "poster", "storyboard", "storyboard-vtt"} <= kinds, name
