"""The static launch site renderer: valid HTML, accessible structure, escaping, transcripts.

Every page is parsed with html5lib in strict mode, so any HTML parse error fails
the test; structure is then checked on the parsed tree.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import re
import xml.etree.ElementTree as ET

import html5lib
import pytest

from medialib.errors import BadInput
from medialib.publish import site as S

SITE = {"title": "100 Stories of Co-production", "language": "en", "base_url": None,
        "description": "Short documentaries made together."}


def make_film(slug: str = "hope-street", title: str = "Hope Street", **over: object) -> dict:
    posters = [
        {"key": f"{slug}/poster-{w}.ab12cd34.{ext}", "width": w, "height": w * 9 // 16, "type": mime}
        for ext, mime in (("webp", "image/webp"), ("jpg", "image/jpeg"))
        for w in (1280, 640, 320)
    ]
    film = {
        "slug": slug, "title": title, "summary": "Neighbours rebuild a street.", "location": "Leeds",
        "themes": ["housing", "community"], "languages": ["en"], "credits": ["Director: Ana Silva", "Edit: Bo"],
        "licence": "CC BY-NC 4.0", "publish_at": None, "published_at": "2001-05-01T10:00:00+00:00",
        "duration": 83.6, "width": 1280, "height": 720, "page": f"{slug}/index.html",
        "posters": posters,
        "sources": [
            {"key": f"{slug}/proxy-720.ab12cd34.mp4", "type": "video/mp4", "width": 1280, "height": 720,
             "label": "720p"},
            {"key": f"{slug}/proxy-360.cd34ef56.mp4", "type": "video/mp4", "width": 640, "height": 360,
             "label": "360p"},
        ],
        "captions": [
            {"key": f"{slug}/captions.en.ab12cd34.vtt", "language": "en", "kind": "captions", "label": "English"},
            {"key": f"{slug}/subtitles.fr.ab12cd34.vtt", "language": "fr", "kind": "subtitles",
             "label": "Français"},
        ],
        "storyboard": f"{slug}/storyboard.ab12cd34.vtt",
        "files": [],
    }
    film.update(over)
    return film


VTT_EN = """WEBVTT

00:00:01.000 --> 00:00:03.000
<v Ana>We moved here in <i>1998</i>.

00:00:03.500 --> 00:00:05.000
<v Ana>The roof leaked &amp; nobody came.

00:00:06.000 --> 00:00:08.000
<v Bo>So we fixed it ourselves.
"""

VTT_FR = """WEBVTT

00:00:01.000 --> 00:00:03.000
<v Ana>Nous sommes arrivés en 1998.
"""


# --------------------------------------------------------------------------- helpers


def parse(page: bytes) -> ET.Element:
    """The page's tree; any HTML parse error raises html5lib's ParseError."""
    parser = html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    return parser.parse(page)


def text(el: ET.Element) -> str:
    return "".join(el.itertext())


def check_page(page: bytes, *, lang: str = "en") -> ET.Element:
    """Parse strictly and check what every page needs; returns the tree."""
    assert isinstance(page, bytes)
    assert page.startswith(b"<!DOCTYPE html>\n")
    # The encoding must be declared within the first 1024 bytes.
    assert b'<meta charset="utf-8">' in page[:1024]
    root = parse(page)
    assert root.tag == "html" and root.get("lang") == lang
    head, body = root.find("head"), root.find("body")
    assert any(m.get("name") == "viewport" and "width=device-width" in m.get("content", "")
               for m in head.iter("meta"))
    assert text(head.find("title")).strip()
    assert len(list(root.iter("h1"))) == 1
    for landmark in ("header", "main", "footer"):
        assert len(body.findall(landmark)) == 1, landmark
    # The skip link is the first thing in the body and points at <main>.
    skip = body[0]
    assert skip.tag == "a" and skip.get("href", "").startswith("#")
    target = [el for el in root.iter() if el.get("id") == skip.get("href")[1:]]
    assert [el.tag for el in target] == ["main"]
    # Visible focus styles, no JavaScript (JSON-LD is data, not script).
    css = "".join(text(s) for s in head.iter("style"))
    assert ":focus" in css and "outline" in css
    assert all(s.get("type") == "application/ld+json" for s in root.iter("script"))
    for img in root.iter("img"):
        assert img.get("alt"), ET.tostring(img)
    ids = [el.get("id") for el in root.iter() if el.get("id") is not None]
    assert len(ids) == len(set(ids)), ids
    return root


def ld(root: ET.Element) -> dict:
    (script,) = [s for s in root.iter("script") if s.get("type") == "application/ld+json"]
    return json.loads(text(script))


def cards(root: ET.Element) -> list[ET.Element]:
    return list(root.find("body/main").iter("article"))


# --------------------------------------------------------------------------- index.html


def test_index_lists_each_film_as_a_card_in_order() -> None:
    films = [make_film(), make_film("blue-door", "Blue Door", duration=3725.2, captions=[])]
    root = check_page(S.render_index(SITE, films))
    assert text(root.find("body/header/h1")) == SITE["title"]
    assert text(root.find("head/title")) == SITE["title"]
    found = cards(root)
    assert [text(c.find(".//h3")) for c in found] == ["Hope Street", "Blue Door"]
    assert [c.find(".//h3/a").get("href") for c in found] == ["hope-street/index.html", "blue-door/index.html"]

    first = found[0]
    img = first.find(".//picture/img")
    assert img.get("alt") == "Poster of Hope Street"
    assert img.get("src") == "hope-street/poster-640.ab12cd34.jpg"
    assert (img.get("width"), img.get("height")) == ("640", "360")
    assert img.get("srcset") == ("hope-street/poster-320.ab12cd34.jpg 320w, hope-street/poster-640.ab12cd34.jpg 640w, "
                                 "hope-street/poster-1280.ab12cd34.jpg 1280w")
    (webp,) = first.findall(".//picture/source")
    assert webp.get("type") == "image/webp"
    assert sorted(re.findall(r"\S+\.webp", webp.get("srcset"))) == sorted(
        p["key"] for p in films[0]["posters"] if p["type"] == "image/webp")
    assert "Neighbours rebuild a street." in [text(p) for p in first.iter("p")]

    times = [c.find(".//time") for c in found]
    assert [(t.get("datetime"), text(t)) for t in times] == [("PT1M24S", "1:24"), ("PT1H2M5S", "1:02:05")]
    facts = [{text(d.find("dt")): text(d.find("dd")) for d in c.iter("div")} for c in found]
    assert facts[0]["Captions"] == "English, Français"
    assert facts[1]["Captions"] == "none"


@pytest.mark.parametrize(("seconds", "shown", "iso"), [
    (0, "0:00", "PT0S"), (0.4, "0:00", "PT0S"), (59.5, "1:00", "PT1M"), (61, "1:01", "PT1M1S"),
    (60.5, "1:01", "PT1M1S"), (3600, "1:00:00", "PT1H"), (7322.49, "2:02:02", "PT2H2M2S"),
])
def test_duration_is_shown_as_a_clock_with_an_iso_duration(seconds: float, shown: str, iso: str) -> None:
    root = check_page(S.render_index(SITE, [make_film(duration=seconds)]))
    t = cards(root)[0].find(".//time")
    assert (text(t), t.get("datetime")) == (shown, iso)
    assert S.json_ld(SITE, make_film(duration=seconds))["duration"] == iso


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, "83"])
def test_a_duration_that_is_not_seconds_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="hope-street: duration"):
        S.render_index(SITE, [make_film(duration=bad)])


def test_empty_gallery_is_a_valid_page_saying_nothing_is_published() -> None:
    root = check_page(S.render_index(SITE, []))
    main = root.find("body/main")
    assert cards(root) == []
    assert list(main.iter("ul")) == [] and list(main.iter("img")) == []
    assert "Nothing is published yet" in text(main)


def test_index_links_absolute_canonical_only_with_a_base_url() -> None:
    without = check_page(S.render_index(SITE, [make_film()]))
    assert without.find("head/link") is None
    root = check_page(S.render_index({**SITE, "base_url": "https://example.org/stories/"}, [make_film()]))
    assert [(ln.get("rel"), ln.get("href")) for ln in root.iter("link")] == [
        ("canonical", "https://example.org/stories/")]
    # Files stay relative: the same pages work wherever the prefix is served.
    assert cards(root)[0].find(".//h3/a").get("href") == "hope-street/index.html"


# --------------------------------------------------------------------------- film page


def film_page(film: dict | None = None, site: dict | None = None, transcripts: list | None = None) -> ET.Element:
    site = site or SITE
    if transcripts is None:
        transcripts = [S.transcript(VTT_EN, "en", "English"), S.transcript(VTT_FR, "fr", "Français")]
    return check_page(S.render_film(site, film or make_film(), transcripts), lang=site["language"])


def test_film_page_video_sources_tracks_and_poster() -> None:
    root = film_page()
    assert text(root.find(".//main//h1")) == "Hope Street"
    assert text(root.find("head/title")) == "Hope Street – 100 Stories of Co-production"
    (video,) = root.iter("video")
    assert video.get("controls") == "" and video.get("preload") == "metadata"
    assert video.get("poster") == "poster-1280.ab12cd34.jpg"
    assert (video.get("width"), video.get("height")) == ("1280", "720")
    assert [(s.get("src"), s.get("type")) for s in video.findall("source")] == [
        ("proxy-720.ab12cd34.mp4", "video/mp4"), ("proxy-360.cd34ef56.mp4", "video/mp4")]
    tracks = [{k: t.get(k) for k in ("kind", "srclang", "label", "src", "default")} for t in video.findall("track")]
    assert tracks == [
        {"kind": "captions", "srclang": "en", "label": "English", "src": "captions.en.ab12cd34.vtt", "default": ""},
        {"kind": "subtitles", "srclang": "fr", "label": "Français", "src": "subtitles.fr.ab12cd34.vtt",
         "default": None},
        {"kind": "metadata", "srclang": None, "label": "thumbnails", "src": "storyboard.ab12cd34.vtt",
         "default": None},
    ]
    # A way back to the gallery, from header and footer.
    assert [a.get("href") for a in root.iter("a") if a.get("href") == "../index.html"] == ["../index.html"] * 2


CAPTIONS = [
    {"key": "hope-street/s.fr.vtt", "language": "fr", "kind": "subtitles", "label": "Français"},
    {"key": "hope-street/c.en-GB.vtt", "language": "en-GB", "kind": "captions", "label": "English (UK)"},
    {"key": "hope-street/c.en.vtt", "language": "en", "kind": "captions", "label": "English"},
    {"key": "hope-street/c2.en.vtt", "language": "en", "kind": "subtitles", "label": "English 2"},
]


@pytest.mark.parametrize(("language", "default"), [
    ("en", "English"),  # the first exact match, not the earlier en-GB one
    ("en-GB", "English (UK)"),
    ("EN-gb", "English (UK)"),  # language tags compare case-insensitively
    ("en-US", "English (UK)"),  # no exact match: the first of the same language
    ("fr", "Français"),
    ("de", None),
])
def test_default_track_is_the_first_in_the_site_language(language: str, default: str | None) -> None:
    root = film_page(make_film(captions=CAPTIONS), {**SITE, "language": language}, [])
    marked = [t.get("label") for t in root.iter("track") if t.get("default") is not None]
    assert marked == ([default] if default else [])


def test_film_page_details() -> None:
    root = film_page()
    main = root.find("body/main")
    assert "Neighbours rebuild a street." in [text(p) for p in main.iter("p")]
    facts = {text(d.find("dt")): d.find("dd") for d in main.find(".//dl").findall("div")}
    assert text(facts["Location"]) == "Leeds"
    assert text(facts["Themes"]) == "housing, community"
    assert [text(li) for li in facts["Credits"].iter("li")] == ["Director: Ana Silva", "Edit: Bo"]
    assert text(facts["Licence"]) == "CC BY-NC 4.0"
    assert facts["Length"].find("time").get("datetime") == "PT1M24S"
    assert facts["Published"].find("time").get("datetime") == "2001-05-01"


def test_film_page_transcripts_with_times_speakers_and_language() -> None:
    root = film_page()
    (section,) = [s for s in root.iter("section") if s.get("class") == "transcript"]
    assert text(section.find("h2")) == "Transcript"
    assert section.get("aria-labelledby") == section.find("h2").get("id")
    parts = section.findall("section")
    assert [text(s.find("h3")) for s in parts] == ["English", "Français"]
    en, fr = (s.find("div") for s in parts)
    assert en.get("lang") is None  # same as the page
    assert fr.get("lang") == "fr"
    paragraphs = en.findall("p")
    assert [p.find("time").get("datetime") for p in paragraphs] == ["PT1S", "PT6S"]
    assert [text(p.find("span")) for p in paragraphs] == ["Ana:", "Bo:"]
    assert text(paragraphs[0]) == "0:01 Ana: We moved here in 1998. The roof leaked & nobody came."


def test_transcript_in_the_page_language_has_no_lang_but_others_do() -> None:
    site = {**SITE, "language": "fr"}
    root = film_page(site=site)
    divs = [s.find("div") for s in root.iter("section") if s.find("h3") is not None]
    assert [d.get("lang") for d in divs] == ["en", None]


def test_film_without_captions_or_storyboard() -> None:
    film = make_film(captions=[], storyboard=None, location=None, licence=None, themes=[], credits=[])
    root = film_page(film, transcripts=[])
    (video,) = root.iter("video")
    assert video.findall("track") == []
    assert len(video.findall("source")) == 2
    assert not [s for s in root.iter("section")]
    facts = {text(d.find("dt")): text(d.find("dd")) for d in root.find(".//main//dl").findall("div")}
    assert facts["Captions"] == "none"
    assert not {"Location", "Licence", "Themes", "Credits"} & facts.keys()
    assert "caption" not in ld(root)


def test_film_with_no_posters_or_sources_still_renders() -> None:
    root = film_page(make_film(posters=[], sources=[]), transcripts=[])
    (video,) = root.iter("video")
    assert video.get("poster") is None and video.findall("source") == []
    data = ld(root)
    assert "thumbnailUrl" not in data and "contentUrl" not in data
    index = check_page(S.render_index(SITE, [make_film(posters=[])]))
    assert list(index.iter("img")) == []


# --------------------------------------------------------------------------- JSON-LD


def test_json_ld_is_a_video_object_with_relative_urls_without_a_base() -> None:
    data = ld(film_page())
    assert data == S.json_ld(SITE, make_film())
    assert data["@context"] == "https://schema.org" and data["@type"] == "VideoObject"
    assert data["name"] == "Hope Street"
    assert data["description"] == "Neighbours rebuild a street."
    assert data["duration"] == "PT1M24S"
    assert data["uploadDate"] == "2001-05-01T10:00:00+00:00"
    assert data["contentUrl"] == "proxy-720.ab12cd34.mp4"
    assert data["thumbnailUrl"][0] == "poster-1280.ab12cd34.jpg"
    assert data["inLanguage"] == "en"
    assert [c["inLanguage"] for c in data["caption"]] == ["en", "fr"]
    assert "url" not in data and "embedUrl" not in data


def test_json_ld_urls_are_absolute_with_a_base_url() -> None:
    site = {**SITE, "base_url": "https://cdn.example.org/launch/"}
    root = film_page(site=site)
    data = ld(root)
    assert data["contentUrl"] == "https://cdn.example.org/launch/hope-street/proxy-720.ab12cd34.mp4"
    assert data["url"] == "https://cdn.example.org/launch/hope-street/index.html"
    assert all(u.startswith("https://cdn.example.org/launch/hope-street/poster-") for u in data["thumbnailUrl"])
    assert [(ln.get("rel"), ln.get("href")) for ln in root.iter("link")] == [("canonical", data["url"])]
    # The page itself keeps relative URLs.
    assert root.find(".//video").get("poster") == "poster-1280.ab12cd34.jpg"


def test_several_spoken_languages_are_a_list() -> None:
    assert S.json_ld(SITE, make_film(languages=["pt", "en"]))["inLanguage"] == ["pt", "en"]
    assert "inLanguage" not in S.json_ld(SITE, make_film(languages=[]))


# --------------------------------------------------------------------------- escaping

EVIL = "<script>alert(1)</script> \"onmouseover=alert(2) x=\" </script> ' OR 1=1 -- &amp; <!--"
EVIL_VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
<v &lt;script&gt;alert(3)&lt;/script&gt; "onmouseover=alert(4)>
&lt;/script&gt;&lt;script&gt;alert(5)&lt;/script&gt; ' OR 1=1 --

00:00:03.000 --> 00:00:04.000
<script>alert(6)</script><img src=x onerror=alert(7)>
"""

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "style", "script", "body", "a", "header", "main", "footer", "nav",
    "article", "section", "h1", "h2", "h3", "p", "ul", "li", "dl", "div", "dt", "dd", "time", "span",
    "picture", "source", "img", "video", "track",
}
ALLOWED_ATTRIBUTES = {
    "lang", "charset", "name", "content", "rel", "href", "class", "id", "type", "aria-labelledby", "datetime",
    "src", "srcset", "sizes", "width", "height", "alt", "loading", "decoding", "controls", "preload",
    "playsinline", "poster", "kind", "srclang", "label", "default",
}


def evil_film() -> dict:
    slug = "evil"
    return make_film(
        slug, EVIL, summary=EVIL, location=EVIL, themes=[EVIL], credits=[EVIL, "Ok"], licence=EVIL,
        languages=[EVIL],
        captions=[{"key": f'{slug}/"onerror=alert(8) x.vtt', "language": 'x" onmouseover="alert(9)',
                   "kind": "captions", "label": EVIL}],
        storyboard=f"{slug}/javascript:alert(10)//<x>.vtt",
        page=f"{slug}/index.html",
    )


def assert_nothing_injected(root: ET.Element, page: bytes) -> None:
    tags = [el.tag for el in root.iter() if isinstance(el.tag, str)]
    assert set(tags) <= ALLOWED_TAGS, set(tags) - ALLOWED_TAGS
    assert not [c for c in root.iter() if c.tag is ET.Comment]
    attributes = {a for el in root.iter() if isinstance(el.tag, str) for a in el.attrib}
    assert attributes <= ALLOWED_ATTRIBUTES, attributes - ALLOWED_ATTRIBUTES
    for script in root.iter("script"):
        assert script.get("type") == "application/ld+json"
    for el in root.iter():
        for name in ("href", "src", "poster"):
            assert not (el.get(name) or "").lower().startswith("javascript:")
    # Escaped in the bytes themselves, not just harmless after parsing.
    assert b"<script>alert" not in page and b"<img src=x" not in page


def test_catalogue_text_is_escaped_on_the_film_page() -> None:
    film = evil_film()
    evil_site = {**SITE, "title": EVIL, "description": EVIL}
    tr = S.transcript(EVIL_VTT, film["captions"][0]["language"], EVIL)
    page = S.render_film(evil_site, film, [tr])
    root = check_page(page)
    assert_nothing_injected(root, page)
    assert text(root.find(".//main//h1")) == EVIL
    assert text(root.find("head/title")) == f"{EVIL} – {EVIL}"
    assert EVIL in [text(p) for p in root.iter("p")]  # the summary, as text
    (track,) = [t for t in root.iter("track") if t.get("kind") == "captions"]
    assert track.get("label") == EVIL
    assert track.get("srclang") == 'x" onmouseover="alert(9)'
    assert track.get("src") == "%22onerror%3Dalert%288%29%20x.vtt"
    (thumbs,) = [t for t in root.iter("track") if t.get("kind") == "metadata"]
    assert thumbs.get("src") == "javascript%3Aalert%2810%29//%3Cx%3E.vtt"
    paragraphs = [p for s in root.iter("section") for p in s.iter("p")]
    assert text(paragraphs[0]) == (
        "0:01 <script>alert(3)</script> \"onmouseover=alert(4): </script><script>alert(5)</script> ' OR 1=1 --")
    assert text(paragraphs[1]) == "0:03 alert(6)"  # tags in cue text are markup, stripped
    # JSON-LD still parses and gives the title back exactly; its script holds no "<" at all.
    data = ld(root)
    assert data["name"] == EVIL and data["description"] == EVIL and data["caption"][0]["name"] == EVIL
    script = re.search(rb'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1)
    assert b"<" not in script and b">" not in script and b"&" not in script


def test_catalogue_text_is_escaped_in_the_gallery() -> None:
    page = S.render_index({**SITE, "title": EVIL, "description": EVIL}, [evil_film()])
    root = check_page(page)
    assert_nothing_injected(root, page)
    (card,) = cards(root)
    assert text(card.find(".//h3")) == EVIL
    assert card.find(".//img").get("alt") == f"Poster of {EVIL}"
    assert text(root.find("body/header/h1")) == EVIL


def test_urls_are_percent_encoded_paths() -> None:
    film = make_film(sources=[{"key": "hope-street/a b:c#d?e%f.mp4", "type": "video/mp4", "width": 1, "height": 1,
                               "label": "x"}])
    root = film_page(film, transcripts=[])
    assert root.find(".//video/source").get("src") == "a%20b%3Ac%23d%3Fe%25f.mp4"
    # A file outside the film's folder is reached from the film page through ../
    film = make_film(storyboard="shared/storyboard.vtt")
    thumbs = [t for t in film_page(film, transcripts=[]).iter("track") if t.get("kind") == "metadata"]
    assert thumbs[0].get("src") == "../shared/storyboard.vtt"


def test_characters_html_forbids_are_dropped_from_text_and_escaped_in_json() -> None:
    title = "Bell\x07 nul\x00 c1\x85 non\ufdd0char\U0001fffe lone\ud800 ok"
    page = S.render_film(SITE, make_film(title=title), [])
    root = check_page(page)
    assert text(root.find(".//main//h1")) == "Bell nul c1 nonchar lone ok"
    assert ld(root)["name"] == title  # JSON escapes round-trip the exact value


def test_unicode_titles() -> None:
    title = "Ação na Rua — 希望の通り · שלום · 🎬"
    site = {**SITE, "title": "Cem Histórias", "language": "pt-BR"}
    film = make_film("acao", title, summary="Até já, ça va?", credits=["Direção: João Ñúñez"])
    page = S.render_film(site, film, [S.transcript(VTT_FR, "fr", "Français")])
    root = check_page(page, lang="pt-BR")  # bytes in: html5lib finds the encoding from <meta charset>
    assert text(root.find(".//main//h1")) == title
    assert ld(root)["name"] == title
    assert title.encode("utf-8") in page  # written as UTF-8, not as character references
    index = check_page(S.render_index(site, [film]), lang="pt-BR")
    assert cards(index)[0].find(".//img").get("alt") == f"Poster of {title}"
    # The French transcript says it is French on a Portuguese page.
    assert [s.find("div").get("lang") for s in root.iter("section") if s.find("h3") is not None] == ["fr"]


# --------------------------------------------------------------------------- determinism


def test_same_input_gives_the_same_bytes() -> None:
    film = make_film()
    trs = [S.transcript(VTT_EN, "en", "English")]
    first = S.render_film(SITE, film, trs), S.render_index(SITE, [film])
    # A copy with every dict's keys in another order renders identically.
    reordered = {k: copy.deepcopy(film[k]) for k in reversed(list(film))}
    reordered["posters"] = [dict(reversed(list(p.items()))) for p in reordered["posters"]]
    site = dict(reversed(list(SITE.items())))
    second = S.render_film(site, reordered, copy.deepcopy(trs)), S.render_index(site, [reordered])
    assert first == second
    assert film == make_film()  # inputs are not modified


def test_no_clock_in_the_pages() -> None:
    # Every date in the input is in 2001: today's year can only come from a clock.
    this_year = str(datetime.date.today().year).encode()
    film = make_film()
    pages = S.render_film(SITE, film, [S.transcript(VTT_EN, "en", "English")]) + S.render_index(SITE, [film])
    assert this_year not in pages


# --------------------------------------------------------------------------- transcript()


def paragraphs(vtt: str) -> list[tuple[float, str | None, str]]:
    return [(p["start"], p["speaker"], p["text"]) for p in S.transcript(vtt, "en", "English")["paragraphs"]]


def test_transcript_merges_consecutive_cues_of_the_same_speaker() -> None:
    vtt = """WEBVTT

00:01.000 --> 00:02.000
<v Ana>One.

00:02.000 --> 00:03.000
<v Ana>Two.

00:04.000 --> 00:05.000
<v Bo>Three.

00:05.000 --> 00:06.000
<v Ana>Four.

00:07.000 --> 00:08.000
Five,

00:08.000 --> 00:09.000
six.
"""
    assert paragraphs(vtt) == [
        (1.0, "Ana", "One. Two."), (4.0, "Bo", "Three."), (5.0, "Ana", "Four."), (7.0, None, "Five, six.")]
    tr = S.transcript(vtt, "en", "English")
    assert (tr["language"], tr["label"]) == ("en", "English")


def test_transcript_strips_tags_and_decodes_references() -> None:
    vtt = """WEBVTT

00:00:01.500 --> 00:00:04.000
<v.loud.angry  Ana   Silva >It's <i>very</i> <b>bold</b>, <u>under</u> <c.yellow>col</c>our
and &lt;3 &amp; 5&nbsp;%<00:00:02.000> <lang fr>voilà</lang> <ruby>漢<rt>kan</rt>字<rt>ji</rt></ruby>

00:00:05.000 --> 00:00:06.000
<v Bo>unclosed voice <i>and unclosed italics

00:00:07.000 --> 00:00:08.000
<v Bo>Hi</v>
<v Cy>Hello</v> aside
"""
    assert paragraphs(vtt) == [
        (1.5, "Ana Silva", "It's very bold, under colour and <3 & 5\u00a0% voilà 漢字"),
        (5.0, "Bo", "unclosed voice and unclosed italics Hi"),
        (7.0, "Cy", "Hello"),
        (7.0, None, "aside"),
    ]


def test_transcript_keeps_what_a_browser_keeps() -> None:
    vtt = """WEBVTT

00:00:05.000 --> 00:00:06.000
<v Ana>Later.

00:00:01.000 --> 00:00:02.000
<v Ana>Earlier.

00:00:03,000 --> 00:00:04.000
<v Ana>Dropped: a comma in the timing line.

00:00:07.000 --> 00:00:08.000
<i> </i>
"""
    assert paragraphs(vtt) == [(1.0, "Ana", "Earlier. Later.")]


def test_a_long_monologue_is_split_at_sentence_ends() -> None:
    sentence = "This sentence is exactly long enough to count here."
    cues = "".join(f"\n\n00:{n:02d}.000 --> 00:{n:02d}.900\n<v Ana>{sentence}" for n in range(40))
    result = paragraphs("WEBVTT" + cues + "\n")
    assert len(result) > 1
    assert all(speaker == "Ana" for _, speaker, _ in result)
    assert " ".join(t for _, _, t in result) == " ".join([sentence] * 40)
    assert all(S.PARAGRAPH_CHARS <= len(t) < S.PARAGRAPH_CHARS + len(sentence) + 1 for _, _, t in result[:-1])
    # Without a sentence end the paragraph is not cut mid-sentence.
    words = "".join(f"\n\n00:{n:02d}.000 --> 00:{n:02d}.900\n<v Ana>and then {n}" for n in range(60))
    assert len(paragraphs("WEBVTT" + words + "\n")) == 1


def test_a_file_a_browser_rejects_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"transcript fr \(Français\): .*not WebVTT"):
        S.transcript("1\n00:00:01,000 --> 00:00:02,000\nHello\n", "fr", "Français")


def test_paragraph_start_is_truncated_to_the_second() -> None:
    tr = {"language": "en", "label": "English",
          "paragraphs": [{"start": 59.999, "speaker": None, "text": "x"}]}
    root = film_page(transcripts=[tr])
    t = next(s for s in root.iter("section") if s.find("h3") is not None).find(".//time")
    assert (text(t), t.get("datetime")) == ("0:59", "PT59S")
    bad = {**tr, "paragraphs": [{"start": math.nan, "speaker": None, "text": "x"}]}
    with pytest.raises(ValueError, match="paragraph start"):
        S.render_film(SITE, make_film(), [bad])
