"""The static launch site: the film gallery and one page per film.

Pure rendering: the manifest's data in, UTF-8 bytes out. No I/O, no
database, no clock, so the same input always gives the same bytes (the
publisher hashes pages to decide what to upload again).

- :func:`render_index` is ``index.html`` at the site root: a card per film.
- :func:`render_film` is ``<slug>/index.html``: the video with its caption
  tracks, the film's details, the full transcript of every approved caption
  language (WCAG 2.1 SC 1.2.1 / 1.2.3 text alternative) and a schema.org
  ``VideoObject`` as JSON-LD.
- :func:`transcript` turns a WebVTT file into the paragraphs a film page shows.
- :func:`json_ld` is the ``VideoObject`` of a film, as a dict.

Decisions:

- Every string from the catalogue is escaped with ``html.escape(quote=True)``;
  characters that are parse errors in HTML (C0/C1 controls other than
  whitespace, noncharacters, lone surrogates) are dropped first, so a stray
  control character cannot make a page invalid. Object keys become URLs with
  ``urllib.parse.quote`` (a ``:``, ``#`` or ``?`` in a name stays part of the
  path), then are escaped like any other attribute value.
- JSON-LD is written with ``<``, ``>`` and ``&`` as ``\\u003c`` ``\\u003e``
  ``\\u0026``: a title containing ``</script>`` stays inside the script.
- Links point at ``<slug>/index.html`` and ``../index.html``, not at
  directories: a bucket served without an index document (plain S3, a CDN in
  front of it, a local copy opened from disk) still works.
- URLs inside a film page are relative to that page (a file's basename); the
  JSON-LD URLs are absolute when ``site["base_url"]`` is set, relative to the
  film page otherwise, and ``url`` (the page's own address) is only given
  when the base URL is known. There is no ``embedUrl``: schema.org/Google
  mean a bare player there, and the film page is not one.
- Times are whole seconds: a duration is rounded (``83.6`` -> ``1:24``,
  ``PT1M24S``), a transcript paragraph's start is truncated, as a player's
  clock shows it.
- The interface text (headings, "Skip to main content") is English; ``lang``
  on ``<html>`` is the site language.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from medialib.captions import webvtt
from medialib.errors import BadInput

__all__ = ["PARAGRAPH_CHARS", "json_ld", "render_film", "render_index", "transcript"]

# A speaker's paragraph is closed at the end of a sentence once it is this long.
PARAGRAPH_CHARS = 600

# Code points that are parse errors anywhere in an HTML document.
_NOT_HTML = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ud800-\udfff"
    + "".join(chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17))
    + "]"
)

_POSTER_PREFERENCE = {"image/avif": 0, "image/webp": 1}
_CARD_SIZES = "(min-width: 64rem) 20rem, (min-width: 40rem) 45vw, 100vw"

_CSS = """\
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 1.0625rem/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1b1b1b; background: #fff; }
header, main, footer { max-width: 64rem; margin: 0 auto; padding: 1rem 1.25rem; }
header { border-bottom: 1px solid #d0d0d0; }
footer { border-top: 1px solid #d0d0d0; color: #4a4a4a; }
h1 { font-size: 2rem; line-height: 1.2; margin: .5rem 0; }
h2 { font-size: 1.4rem; margin: 1.5rem 0 .75rem; }
h3 { font-size: 1.15rem; margin: 1.25rem 0 .5rem; }
a { color: #0a58ca; text-decoration-thickness: .08em; text-underline-offset: .15em; }
a:hover { text-decoration-thickness: .15em; }
a:focus-visible, video:focus-visible { outline: 3px solid #0a58ca; outline-offset: 2px; }
.skip { position: absolute; left: .5rem; top: -4rem; padding: .5rem 1rem; background: #fff;
  color: #0a58ca; border: 2px solid #0a58ca; z-index: 1; }
.skip:focus { top: .5rem; }
.lead { color: #4a4a4a; margin: 0 0 .5rem; }
.gallery { list-style: none; margin: 0; padding: 0; display: grid; gap: 1.25rem;
  grid-template-columns: repeat(auto-fill, minmax(17rem, 1fr)); }
.card { display: flex; flex-direction: column; height: 100%; background: #f4f4f4; border-radius: .5rem;
  overflow: hidden; }
.card picture, .card > img { order: -1; }
.card img { display: block; width: 100%; height: auto; }
.card h3, .card p, .card dl { margin-left: 1rem; margin-right: 1rem; }
.card h3 { margin-top: .75rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .75rem 0 1rem; }
.facts div { display: contents; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.facts ul { margin: 0; padding-left: 1.1rem; }
video { display: block; width: 100%; height: auto; background: #000; }
.transcript p { margin: 0 0 .75rem; max-width: 42rem; }
.transcript time { color: #4a4a4a; font-variant-numeric: tabular-nums; margin-right: .5rem; }
.speaker { font-weight: 600; }
"""


# --------------------------------------------------------------------------- escaping and URLs


def _clean(value: object) -> str:
    return _NOT_HTML.sub("", str(value))


def _esc(value: object) -> str:
    """Text or attribute value from the catalogue, escaped for HTML."""
    return html.escape(_clean(value), quote=True)


def _attrs(**attrs: object) -> str:
    """Attributes as name="value" pairs; None and False leave one out, True writes it bare."""
    out = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        out.append(f" {name}" if value is True else f' {name}="{_esc(value)}"')
    return "".join(out)


def _path(key: str) -> str:
    return quote(_clean(key), safe="/")


def _in_film(film: Mapping[str, Any], key: str) -> str:
    """URL of a file as seen from the film's own page."""
    prefix = f"{film['slug']}/"
    return _path(key[len(prefix):]) if key.startswith(prefix) else "../" + _path(key)


def _base(site: Mapping[str, Any]) -> str | None:
    base = site.get("base_url")
    if not base:
        return None
    return base if base.endswith("/") else base + "/"


def _json_escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _script_json(data: Any) -> str:
    """JSON that cannot end or alter the <script> element it sits in, and parses back to ``data``.

    Outside strings json.dumps writes only ASCII punctuation, so escaping these
    characters as \\uXXXX changes no value."""
    text = json.dumps(data, ensure_ascii=False, indent=1)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # Controls, noncharacters and lone surrogates are not allowed raw in an HTML page.
    return _NOT_HTML.sub(_json_escape, text)


# --------------------------------------------------------------------------- times


def _seconds(value: float, what: str) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a number of seconds, not {value!r}")
    return float(value)


def _hms(whole: int) -> tuple[int, int, int]:
    minutes, s = divmod(whole, 60)
    h, m = divmod(minutes, 60)
    return h, m, s


def _clock(whole: int) -> str:
    h, m, s = _hms(whole)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _iso_duration(whole: int) -> str:
    h, m, s = _hms(whole)
    parts = (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s or not (h or m) else "")
    return "PT" + parts


def _rounded(seconds: float, what: str) -> int:
    return math.floor(_seconds(seconds, what) + 0.5)


def _time(whole: int) -> str:
    return f'<time datetime="{_iso_duration(whole)}">{_clock(whole)}</time>'


def _date(iso: str) -> str:
    """A <time> showing the date part of an ISO 8601 timestamp, as written (no time-zone conversion)."""
    day = _clean(iso)[:10]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        return f'<time datetime="{day}">{day}</time>'
    return _esc(iso)


# --------------------------------------------------------------------------- transcripts

_TAG = re.compile(r"<([^>]*)>?")  # the WebVTT tokenizer: a tag runs to the next '>' or the end of the cue
_WS = re.compile(r"[ \t\n\r\f]+")  # ASCII whitespace; a no-break space stays
_CLOSERS = "\"'’”»)]"


def _plain(raw: str) -> str:
    return _WS.sub(" ", html.unescape(raw)).strip(" ")


def _voices(text: str) -> list[tuple[str | None, str]]:
    """Cue text as (speaker, plain text) runs: tags stripped, ruby annotations dropped, references decoded."""
    runs: list[tuple[str | None, str]] = []
    speaker: str | None = None
    buf: list[str] = []
    in_rt = False
    pos = 0

    def flush() -> None:
        plain = _plain("".join(buf))
        if plain:
            runs.append((speaker, plain))
        buf.clear()

    for m in _TAG.finditer(text):
        if not in_rt:
            buf.append(text[pos:m.start()])
        pos = m.end()
        tag = m.group(1)
        if tag.startswith("/"):
            name = tag[1:].strip(" \t\n\r\f")
            if name in ("rt", "ruby"):
                in_rt = False
            elif name == "v":
                flush()
                speaker = None
            continue
        head, *rest = re.split(r"[ \t\n\r\f]", tag, maxsplit=1)
        annotation = rest[0] if rest else ""
        name = head.split(".", 1)[0]
        if name == "rt":
            in_rt = True
        elif name == "v":
            flush()
            speaker = _plain(annotation) or None
        # other tags (<i>, <b>, <c.x>, <lang xx>, timestamps) only style the text
    if not in_rt:
        buf.append(text[pos:])
    flush()
    return runs


def _ends_sentence(text: str) -> bool:
    return text.rstrip(_CLOSERS).endswith((".", "?", "!", "…"))


def transcript(vtt_text: str, language: str, label: str) -> dict[str, Any]:
    """The transcript a film page shows for one caption track.

    Cues are read with the browser-exact parser (cues a browser drops are
    left out, cues are taken in start-time order); tags are stripped and
    character references decoded. A ``<v Name>`` voice is the speaker of the
    text it covers; consecutive text of the same speaker (or of no named
    speaker) is one paragraph, closed at the end of a sentence once it
    passes :data:`PARAGRAPH_CHARS` characters. Ruby annotations (``<rt>``)
    are left out.

    Returns ``{"language", "label", "paragraphs": [{"start", "speaker", "text"}]}``
    (start in seconds, speaker None when no voice is named).
    Raises :class:`BadInput` when a browser would reject the whole file.
    """
    parsed = webvtt.parse(vtt_text)
    if not parsed.accepted:
        why = parsed.errors[0].message if parsed.errors else "not a WebVTT file"
        raise BadInput(f"transcript {language} ({label}): {why}")
    paragraphs: list[dict[str, Any]] = []
    for cue in sorted(parsed.cues, key=lambda c: c.start):
        for speaker, text in _voices(cue.text):
            last = paragraphs[-1] if paragraphs else None
            if (
                last is not None
                and last["speaker"] == speaker
                and not (len(last["text"]) >= PARAGRAPH_CHARS and _ends_sentence(last["text"]))
            ):
                last["text"] += " " + text
            else:
                paragraphs.append({"start": cue.start, "speaker": speaker, "text": text})
    return {"language": language, "label": label, "paragraphs": paragraphs}


# --------------------------------------------------------------------------- JSON-LD


def _poster_groups(film: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(fallback posters, [alternative posters per type]); each list smallest first.

    The fallback is JPEG when there is one (every browser shows it), else the first type listed."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in film.get("posters") or []:
        by_type.setdefault(p["type"], []).append(p)
    if not by_type:
        return [], []
    fallback = "image/jpeg" if "image/jpeg" in by_type else next(iter(by_type))
    others = sorted((t for t in by_type if t != fallback), key=lambda t: (_POSTER_PREFERENCE.get(t, 9), t))

    def ordered(ps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(ps, key=lambda p: (p["width"], p["key"]))

    return ordered(by_type[fallback]), [ordered(by_type[t]) for t in others]


def json_ld(site: dict, film: dict) -> dict:
    """The schema.org ``VideoObject`` of a film (for its page's ``application/ld+json``).

    URLs are absolute when ``site["base_url"]`` is set, otherwise relative to
    the film page; ``url`` is given only with a base URL.
    Raises ValueError if the film's duration is not a number of seconds.
    """
    base = _base(site)

    def url(key: str) -> str:
        return base + _path(key) if base else _in_film(film, key)

    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "VideoObject", "name": film["title"]}
    if film.get("summary"):
        data["description"] = film["summary"]
    posters, _ = _poster_groups(film)
    if posters:
        data["thumbnailUrl"] = [url(p["key"]) for p in reversed(posters)]
    data["uploadDate"] = film["published_at"]
    data["duration"] = _iso_duration(_rounded(film["duration"], f"film {film['slug']}: duration"))
    sources = film.get("sources") or []
    if sources:
        data["contentUrl"] = url(sources[0]["key"])
        data["encodingFormat"] = sources[0]["type"]
    if base:
        data["url"] = base + _path(film["page"])
    languages = list(film.get("languages") or [])
    if languages:
        data["inLanguage"] = languages[0] if len(languages) == 1 else languages
    if film.get("location"):
        data["contentLocation"] = {"@type": "Place", "name": film["location"]}
    if film.get("themes"):
        data["keywords"] = ", ".join(film["themes"])
    if film.get("credits"):
        data["creditText"] = "; ".join(film["credits"])
    if film.get("licence"):
        data["license"] = film["licence"]
    captions = film.get("captions") or []
    if captions:
        data["caption"] = [
            {"@type": "MediaObject", "contentUrl": url(c["key"]), "encodingFormat": "text/vtt",
             "inLanguage": c["language"], "name": c["label"]}
            for c in captions
        ]
    return data


# --------------------------------------------------------------------------- pages


def _page(site: Mapping[str, Any], *, title: str, description: str, canonical: str | None,
          head: Iterable[str], header: Iterable[str], main: Iterable[str], footer: Iterable[str]) -> bytes:
    out = [
        "<!DOCTYPE html>",
        f'<html{_attrs(lang=site["language"])}>',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
    ]
    if description:
        out.append(f'<meta name="description"{_attrs(content=description)}>')
    if canonical:
        out.append(f'<link rel="canonical"{_attrs(href=canonical)}>')
    out += [f"<style>\n{_CSS}</style>", *head, "</head>", "<body>",
            '<a class="skip" href="#main">Skip to main content</a>',
            "<header>", *header, "</header>",
            '<main id="main">', *main, "</main>",
            "<footer>", *footer, "</footer>",
            "</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")


def _srcset(posters: Sequence[Mapping[str, Any]], href: Any) -> str:
    return ", ".join(f"{href(p['key'])} {int(p['width'])}w" for p in posters)


def _picture(film: Mapping[str, Any], *, eager: bool) -> list[str]:
    posters, alternatives = _poster_groups(film)
    if not posters:
        return []
    img = next((p for p in posters if p["width"] >= 640), posters[-1])
    out = ["<picture>"]
    for group in alternatives:
        out.append(f"<source{_attrs(type=group[0]['type'], srcset=_srcset(group, _path), sizes=_CARD_SIZES)}>")
    out.append(
        "<img"
        + _attrs(src=_path(img["key"]), srcset=_srcset(posters, _path), sizes=_CARD_SIZES,
                 width=int(img["width"]), height=int(img["height"]), alt=f"Poster of {film['title']}",
                 loading=None if eager else "lazy", decoding="async")
        + ">"
    )
    out.append("</picture>")
    return out


def _caption_labels(film: Mapping[str, Any]) -> str:
    labels = [c["label"] for c in film.get("captions") or []]
    return ", ".join(_esc(label) for label in labels) if labels else "none"


def _fact(term: str, value_html: str) -> str:
    return f"<div><dt>{term}</dt><dd>{value_html}</dd></div>"


def _card(film: Mapping[str, Any], n: int) -> list[str]:
    length = _rounded(film["duration"], f"film {film['slug']}: duration")
    out = ["<li>", '<article class="card">',
           f'<h3><a href="{_esc(_path(film["page"]))}">{_esc(film["title"])}</a></h3>']
    if film.get("summary"):
        out.append(f"<p>{_esc(film['summary'])}</p>")
    out += ['<dl class="facts">', _fact("Length", _time(length)), _fact("Captions", _caption_labels(film)), "</dl>"]
    out += _picture(film, eager=n == 0)
    out += ["</article>", "</li>"]
    return out


def render_index(site: dict, films: list[dict]) -> bytes:
    """``index.html``: the gallery, one card per film in the order given.

    Raises ValueError if a film's duration is not a number of seconds."""
    main = ["<h2>Films</h2>"]
    if films:
        main.append('<ul class="gallery">')
        for n, film in enumerate(films):
            main += _card(film, n)
        main.append("</ul>")
    else:
        main.append("<p>Nothing is published yet. Please come back soon.</p>")
    header = [f"<h1>{_esc(site['title'])}</h1>"]
    if site.get("description"):
        header.append(f'<p class="lead">{_esc(site["description"])}</p>')
    base = _base(site)
    return _page(site, title=site["title"], description=site.get("description") or "", canonical=base,
                 head=[], header=header, main=main, footer=[f"<p>{_esc(site['title'])}</p>"])


def _default_track(site: Mapping[str, Any], captions: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the caption track shown by default: the first in the site language
    (an exact match first, else the first with the same primary language subtag)."""
    want = str(site["language"]).lower()
    for i, c in enumerate(captions):
        if str(c["language"]).lower() == want:
            return i
    primary = want.split("-", 1)[0]
    for i, c in enumerate(captions):
        if str(c["language"]).lower().split("-", 1)[0] == primary:
            return i
    return None


def _video(site: Mapping[str, Any], film: Mapping[str, Any]) -> list[str]:
    posters, _ = _poster_groups(film)
    poster = _in_film(film, posters[-1]["key"]) if posters else None
    out = ["<video" + _attrs(controls=True, preload="metadata", playsinline=True, poster=poster,
                             width=film.get("width"), height=film.get("height")) + ">"]
    sources = film.get("sources") or []
    for s in sources:
        out.append(f"<source{_attrs(src=_in_film(film, s['key']), type=s['type'])}>")
    captions = film.get("captions") or []
    default = _default_track(site, captions)
    for i, c in enumerate(captions):
        out.append("<track" + _attrs(kind=c["kind"], srclang=c["language"], label=c["label"],
                                     src=_in_film(film, c["key"]), default=i == default) + ">")
    if film.get("storyboard"):
        out.append(f'<track kind="metadata" label="thumbnails"{_attrs(src=_in_film(film, film["storyboard"]))}>')
    if sources:
        out.append(f'<p>Your browser cannot play this video. <a href="{_esc(_in_film(film, sources[-1]["key"]))}">'
                   "Download it</a> instead.</p>")
    else:
        out.append("<p>This video is not available.</p>")
    out.append("</video>")
    return out


def _facts(film: Mapping[str, Any]) -> list[str]:
    length = _rounded(film["duration"], f"film {film['slug']}: duration")
    out = ['<dl class="facts">', _fact("Length", _time(length))]
    if film.get("location"):
        out.append(_fact("Location", _esc(film["location"])))
    if film.get("themes"):
        out.append(_fact("Themes", ", ".join(_esc(t) for t in film["themes"])))
    out.append(_fact("Captions", _caption_labels(film)))
    if film.get("credits"):
        items = "".join(f"<li>{_esc(c)}</li>" for c in film["credits"])
        out.append(_fact("Credits", f"<ul>{items}</ul>"))
    if film.get("licence"):
        out.append(_fact("Licence", _esc(film["licence"])))
    out.append(_fact("Published", _date(film["published_at"])))
    out.append("</dl>")
    return out


def _transcripts(site: Mapping[str, Any], transcripts: Sequence[Mapping[str, Any]]) -> list[str]:
    if not transcripts:
        return []
    page_lang = str(site["language"]).lower()
    out = ['<section class="transcript" aria-labelledby="transcript">', '<h2 id="transcript">Transcript</h2>']
    for n, t in enumerate(transcripts, 1):
        lang = t["language"] if str(t["language"]).lower() != page_lang else None
        out += [f'<section aria-labelledby="transcript-{n}">', f'<h3 id="transcript-{n}">{_esc(t["label"])}</h3>',
                f"<div{_attrs(lang=lang)}>"]
        for p in t["paragraphs"]:
            start = math.floor(_seconds(p["start"], f"transcript {t['language']}: paragraph start"))
            speaker = f'<span class="speaker">{_esc(p["speaker"])}:</span> ' if p.get("speaker") else ""
            out.append(f"<p>{_time(start)} {speaker}{_esc(p['text'])}</p>")
        if not t["paragraphs"]:
            out.append("<p>This caption track has no text.</p>")
        out += ["</div>", "</section>"]
    out.append("</section>")
    return out


def render_film(site: dict, film: dict, transcripts: list[dict]) -> bytes:
    """``<slug>/index.html``: the film's video, details, transcripts and JSON-LD.

    ``transcripts`` are :func:`transcript` results, shown in the order given.
    Raises ValueError if the film's duration or a paragraph's start is not a
    number of seconds."""
    base = _base(site)
    home = "../index.html"
    main = ["<article>", f"<h1>{_esc(film['title'])}</h1>", *_video(site, film)]
    if film.get("summary"):
        main.append(f"<p>{_esc(film['summary'])}</p>")
    main += _facts(film)
    main += _transcripts(site, transcripts)
    main.append("</article>")
    script = f'<script type="application/ld+json">\n{_script_json(json_ld(site, film))}\n</script>'
    return _page(
        site,
        title=f"{film['title']} – {site['title']}",
        description=film.get("summary") or "",
        canonical=base + _path(film["page"]) if base else None,
        head=[script],
        header=[f'<p><a href="{home}">{_esc(site["title"])}</a></p>'],
        main=main,
        footer=[f'<p><a href="{home}">All films</a></p>'],
    )
