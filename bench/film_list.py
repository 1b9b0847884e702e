"""Benchmark: `medialib film list --json` over a large catalogue.

Target: with 10,000 films and 50,000 cuts, `medialib film list --json` takes
less than 1 s of wall time (the real CLI, run as a child process, stdout to a
file).

    .venv/bin/python bench/film_list.py [--films 10000] [--cuts-per-film 5] [--repeat 5]
    .venv/bin/python bench/film_list.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test

A fresh library is built in a temporary folder (`medialib init`; with
--database, a config.toml pointing at a new schema bench_<random>, dropped at
the end) and filled with SQLAlchemy Core bulk inserts. Every 100th film has
its cut 2 pinned as the current cut. Baselines measured in the same run:
`python -c 'import medialib.cli'` (the CLI's fixed start-up cost) and, for
SQLite, `sqlite3 -json` dumping the films table (or, for PostgreSQL, `psql`
printing the films table as one json_agg value). The output is checked: it
must parse as JSON with one entry per film, each with the right cut count and
current cut.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    check_importable, code_version, fmt_times, median, medialib_argv, run, startup_seconds, verdict,
)

TARGET_SECONDS = 1.0
PIN_EVERY = 100  # every 100th film has cut 2 pinned
PINNED_SEQ = 2
BATCH = 5000


def fake_probe(i: int) -> dict:
    """An ffprobe-like document of about 2.5 KB, for --realistic-probe."""
    return {
        "streams": [
            {
                "index": 0, "codec_name": "h264", "codec_long_name": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
                "profile": "High", "codec_type": "video", "codec_tag_string": "avc1", "codec_tag": "0x31637661",
                "width": 1920, "height": 1080, "coded_width": 1920, "coded_height": 1080, "has_b_frames": 2,
                "sample_aspect_ratio": "1:1", "display_aspect_ratio": "16:9", "pix_fmt": "yuv420p", "level": 40,
                "color_range": "tv", "color_space": "bt709", "chroma_location": "left", "refs": 1,
                "r_frame_rate": "25/1", "avg_frame_rate": "25/1", "time_base": "1/12800", "start_pts": 0,
                "start_time": "0.000000", "duration_ts": 7680000 + i, "duration": "600.000000",
                "bit_rate": "8000000", "bits_per_raw_sample": "8", "nb_frames": "15000",
                "disposition": {"default": 1, "dub": 0, "original": 0, "comment": 0, "lyrics": 0, "karaoke": 0,
                                "forced": 0, "hearing_impaired": 0, "visual_impaired": 0, "clean_effects": 0,
                                "attached_pic": 0, "timed_thumbnails": 0},
                "tags": {"language": "und", "handler_name": "VideoHandler", "vendor_id": "[0][0][0][0]"},
            },
            {
                "index": 1, "codec_name": "aac", "codec_long_name": "AAC (Advanced Audio Coding)", "profile": "LC",
                "codec_type": "audio", "codec_tag_string": "mp4a", "codec_tag": "0x6134706d", "sample_fmt": "fltp",
                "sample_rate": "48000", "channels": 2, "channel_layout": "stereo", "bits_per_sample": 0,
                "r_frame_rate": "0/0", "avg_frame_rate": "0/0", "time_base": "1/48000", "start_pts": 0,
                "start_time": "0.000000", "duration_ts": 28800000, "duration": "600.000000", "bit_rate": "192000",
                "nb_frames": "28125",
                "disposition": {"default": 1, "dub": 0, "original": 0, "comment": 0, "lyrics": 0, "karaoke": 0,
                                "forced": 0, "hearing_impaired": 0, "visual_impaired": 0, "clean_effects": 0,
                                "attached_pic": 0, "timed_thumbnails": 0},
                "tags": {"language": "eng", "handler_name": "SoundHandler", "vendor_id": "[0][0][0][0]"},
            },
        ],
        "format": {
            "filename": f"file:/uploads/cut-{i}.mp4", "nb_streams": 2, "nb_programs": 0,
            "format_name": "mov,mp4,m4a,3gp,3g2,mj2", "format_long_name": "QuickTime / MOV",
            "start_time": "0.000000", "duration": "600.000000", "size": "615000000", "bit_rate": "8200000",
            "probe_score": 100,
            "tags": {"major_brand": "isom", "minor_version": "512", "compatible_brands": "isomiso2avc1mp41",
                     "encoder": "Lavf60.16.100"},
        },
    }  # fmt: skip


def fill(config_path: Path, n_films: int, cuts_per_film: int, realistic_probe: bool) -> None:
    """Bulk-insert films and cuts with SQLAlchemy Core through the library's engine."""
    from sqlalchemy import bindparam, insert, update

    from medialib.catalog.models import Cut, Film
    from medialib.library import Library
    from medialib.storage.local import content_key

    films, cuts = Film.__table__, Cut.__table__
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    themes = ["housing", "work", "migration", "family", "climate", "music", "sport", "health"]
    langs = ["en", "gd", "cy", "fr", "pl", "ur"]
    labels = ["rough", "fine", "picture lock", "final", "final-2"]
    start = time.perf_counter()
    with Library.open(config_path, env={}) as lib, lib.engine.begin() as conn:
        rows = []
        for i in range(1, n_films + 1):
            created = base + timedelta(minutes=i)
            rows.append({
                "id": i,
                "slug": f"film-{i:05d}",
                "title": f"Film {i:05d}: a story from street {i % 997}",
                "summary": f"A short documentary about the people of street {i % 997} and what changed there. " * 2,
                "themes": [themes[i % 8], themes[(i * 3 + 1) % 8]],
                "location": f"Town {i % 211}",
                "languages": [langs[i % 6]] + ([langs[(i + 1) % 6]] if i % 3 == 0 else []),
                "credits": [f"Director: Person {i}", f"Editor: Person {i + 1}"],
                "licence": "CC BY-NC 4.0",
                "publish_at": created + timedelta(days=30) if i % 4 == 0 else None,
                "pinned_cut_id": None,
                "created_at": created,
                "updated_at": created + timedelta(days=1),
            })  # fmt: skip
            if len(rows) == BATCH:
                conn.execute(insert(films), rows)
                rows = []
        if rows:
            conn.execute(insert(films), rows)

        rows = []
        cut_id = 0
        pins = []
        for i in range(1, n_films + 1):
            for seq in range(1, cuts_per_film + 1):
                cut_id += 1
                sha = hashlib.sha256(f"film {i} cut {seq}".encode()).hexdigest()
                rows.append({
                    "id": cut_id,
                    "film_id": i,
                    "seq": seq,
                    "label": labels[(seq - 1) % len(labels)],
                    "sha256": sha,
                    "size": 500_000_000 + i * 1000 + seq,
                    "storage_key": content_key("originals", sha, "mp4"),
                    "container": "mp4",
                    "duration": 600.0 + seq,
                    "video_codec": "h264",
                    "width": 1920,
                    "height": 1080,
                    "display_aspect_ratio": "16:9",
                    "frame_rate": 25.0,
                    "rotation": 0,
                    "audio_codec": "aac",
                    "channels": 2,
                    "sample_rate": 48000,
                    "bit_rate": 8_200_000,
                    "probe": fake_probe(cut_id) if realistic_probe else {},
                    "original_name": f"film-{i:05d}-v{seq}.mp4",
                    "uploaded_by": "bench",
                    "uploaded_at": base + timedelta(minutes=i, hours=seq),
                })  # fmt: skip
                if seq == PINNED_SEQ and i % PIN_EVERY == 0:
                    pins.append({"fid": i, "cid": cut_id})
                if len(rows) == BATCH:
                    conn.execute(insert(cuts), rows)
                    rows = []
        if rows:
            conn.execute(insert(cuts), rows)
        if pins:
            conn.execute(
                update(films).where(films.c.id == bindparam("fid")).values(pinned_cut_id=bindparam("cid")), pins
            )
        if conn.dialect.name == "postgresql":  # keep the id sequences ahead of the explicit ids
            for table, last in (("films", n_films), ("cuts", cut_id)):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(last, 1)})")
            # Autovacuum would ANALYZE tables this size within a minute; do it now so the planner
            # is in its steady state. SQLite never analyzes by itself and medialib does not run
            # ANALYZE, so the SQLite catalogue is left as a user's would be.
            conn.exec_driver_sql("ANALYZE films")
            conn.exec_driver_sql("ANALYZE cuts")
    print(f"filled {n_films:,} films and {cut_id:,} cuts ({len(pins)} pinned) in {time.perf_counter() - start:.1f} s")


def check_output(path: Path, n_films: int, cuts_per_film: int) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or len(data) != n_films:
        raise SystemExit(f"film list --json: expected {n_films} entries, got {len(data)}")
    for entry in data:
        i = int(entry["slug"].split("-")[1])
        want = PINNED_SEQ if i % PIN_EVERY == 0 and cuts_per_film >= PINNED_SEQ else cuts_per_film
        current = entry["current_cut"]
        if entry["cut_count"] != cuts_per_film or (current["seq"] if current else 0) != want:
            raise SystemExit(f"film list --json: wrong entry for {entry['slug']}: {entry}")


BREAKDOWN = r"""
import json, sys, time
t0 = time.perf_counter()
import medialib.cli
t1 = time.perf_counter()
from medialib.library import Library
lib = Library.open(sys.argv[1], env={})
t2 = time.perf_counter()
films = lib.films()
t3 = time.perf_counter()
text = json.dumps(films, indent=2, ensure_ascii=False, default=str)
t4 = time.perf_counter()
lib.close()
print(json.dumps({
    "import medialib.cli": t1 - t0,
    "Library.open (config, engine, schema check)": t2 - t1,
    "lib.films() (query, ORM rows, dicts)": t3 - t2,
    "json.dumps(indent=2)": t4 - t3,
}))
"""


def in_process_breakdown(config_path: Path) -> dict[str, float]:
    """Where the CLI's time goes, timed inside a fresh child process (informative)."""
    r = run([sys.executable, "-c", BREAKDOWN, str(config_path)]).check()
    return json.loads(r.stdout)


def summary_sql(dialect_name: str) -> str:
    """queries.film_summaries() as literal SQL text for the database's own command-line tool."""
    from sqlalchemy.dialects import postgresql, sqlite

    from medialib.catalog import queries

    dialect = postgresql.dialect() if dialect_name == "postgresql" else sqlite.dialect()
    return str(queries.film_summaries().compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--films", type=int, default=10_000, help="number of films (default 10000)")
    parser.add_argument("--cuts-per-film", type=int, default=5, help="cuts per film (default 5)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--database", metavar="URL",
                        help="a PostgreSQL SQLAlchemy URL; a schema bench_<random> is created in it and dropped")
    parser.add_argument("--realistic-probe", action="store_true",
                        help="store a ~2.5 KB ffprobe-like document in cuts.probe instead of {}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary library (printed) at the end")
    args = parser.parse_args()
    check_importable()

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    medialib = medialib_argv()
    print(f"medialib commit: {code_version()}")
    tmp = Path(tempfile.mkdtemp(prefix="medialib-bench-list-"))
    lib_dir = tmp / "lib"
    config_path = lib_dir / "config.toml"
    schema = admin = None
    psql_url = None
    try:
        if args.database:
            base_url = make_url(args.database)
            if base_url.get_backend_name() != "postgresql":
                sys.exit("--database: only PostgreSQL URLs are supported (SQLite is the default)")
            schema = f"bench_{secrets.token_hex(4)}"
            admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = base_url.update_query_dict({"options": f"-csearch_path={schema}"})
            url_text = url.render_as_string(hide_password=False)
            lib_dir.mkdir(parents=True)
            (lib_dir / "assets").mkdir()
            (lib_dir / "captions").mkdir()
            config_path.write_text(f"database = {json.dumps(url_text)}\n", encoding="utf-8")
            psql_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
            print(f"database: PostgreSQL, schema {schema}")
        else:
            run([*medialib, "init", str(lib_dir)]).check()
            print(f"database: SQLite, {lib_dir / 'medialib.db'}")

        fill(config_path, args.films, args.cuts_per_film, args.realistic_probe)
        if not args.database:
            db_file = lib_dir / "medialib.db"
            print(f"catalogue file: {db_file.stat().st_size / 1e6:.1f} MB")

        cli_argv = [*medialib, "--config", str(config_path), "film", "list", "--json"]
        out_file = tmp / "films.json"
        # One untimed run: warms the page cache and compiles medialib's .pyc files
        # (and migrates nothing: the schema is current).
        run(cli_argv, stdout_path=out_file).check()
        check_output(out_file, args.films, args.cuts_per_film)
        print(f"output: {out_file.stat().st_size / 1e6:.1f} MB of JSON, {args.films:,} entries, checked")

        baseline_name, baseline_argv = None, None
        if not args.database:
            if shutil.which("sqlite3"):
                baseline_name = "sqlite3 -json 'SELECT * FROM films'"
                baseline_argv = ["sqlite3", "-json", str(lib_dir / "medialib.db"), "SELECT * FROM films ORDER BY slug"]
            else:
                print("note: sqlite3 is not on PATH: the sqlite3 -json baseline is skipped")
        elif shutil.which("psql"):
            baseline_name = "psql json_agg(films)"
            baseline_argv = ["psql", psql_url, "-XAtq", "-c",
                             "SELECT json_agg(f ORDER BY f.slug) FROM films f"]  # fmt: skip
        else:
            print("note: psql is not on PATH: the psql baseline is skipped")

        # Informative: the very SQL the CLI runs (queries.film_summaries), in the same tool,
        # to separate the database's share of the time from Python's.
        query_name, query_argv = None, None
        if baseline_argv:
            sql = summary_sql("postgresql" if args.database else "sqlite")
            query_name = f"{baseline_argv[0]}: the CLI's own query"
            query_argv = (["sqlite3", "-json", str(lib_dir / "medialib.db"), sql] if not args.database
                          else ["psql", psql_url, "-XAtq", "-c", sql])  # fmt: skip

        cli_times, base_times, query_times, start_times = [], [], [], []
        for _ in range(args.repeat):  # interleaved: start-up, baselines, CLI
            start_times.append(startup_seconds(repeat=1))
            if baseline_argv:
                base_times.append(run(baseline_argv, stdout_path=tmp / "baseline.json").check().seconds)
                query_times.append(run(query_argv, stdout_path=tmp / "query.out").check().seconds)
            r = run(cli_argv, stdout_path=out_file, sample_hwm=True).check()
            cli_times.append(r.seconds)
            peak = r.maxrss_mb
        check_output(out_file, args.films, args.cuts_per_film)
        breakdown = in_process_breakdown(config_path)
    finally:
        if schema and admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    cli = median(cli_times)
    startup = median(start_times)
    print()
    print(f"{args.films:,} films, {args.films * args.cuts_per_film:,} cuts; {os.cpu_count()} cores; "
          f"median of {args.repeat} (runs), seconds")
    print(f"  {'medialib film list --json':38s} {cli:7.3f} s   ({fmt_times(cli_times)})  peak RSS {peak:.0f} MB")
    print(f"  {'python -c import medialib.cli':38s} {startup:7.3f} s   ({fmt_times(start_times)})")
    if base_times:
        print(f"  {baseline_name:38s} {median(base_times):7.3f} s   ({fmt_times(base_times)})")
        print(f"  {query_name:38s} {median(query_times):7.3f} s   ({fmt_times(query_times)})  (informative)")
    print()
    print(f"film list --json = {cli:.3f} s (target < {TARGET_SECONDS:.1f} s): {verdict(cli < TARGET_SECONDS)}")
    print(f"film list / start-up = {cli / startup:.2f}x; beyond start-up: {cli - startup:.3f} s")
    if base_times:
        print(f"film list / {baseline_name} = {cli / median(base_times):.2f}x")
    print("breakdown inside one fresh process (informative; the CLI adds click and output writing):")
    for what, seconds in breakdown.items():
        print(f"  {what:44s} {seconds:7.3f} s")
    return 0 if cli < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
