"""The asset store in S3 (``storage.backend = "s3"``) on a real SeaweedFS server.

Every object is read back with an independent boto3 client (tests/seaweed.py).
Each test has its own buckets and its own library folder; the server's data
folder is removed when the module ends. Faults are real (a stopped server, a
SIGKILLed writer, bytes changed behind medialib's back); the one injected fault
is named so.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from medialib import config
from medialib.catalog.models import Cut
from medialib.errors import ConfigError, ObjectMissing
from medialib.library import Library
from medialib.media.samples import make_sample
from medialib.storage.local import LocalStore
from medialib.storage.s3 import S3Store
from tests.conftest import _runner
from tests.launch import FAST, make_publishable
from tests.seaweed import CountingProxy, FaultProxy, SeaweedFS, incomplete_uploads, objects, store_settings


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, ff) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("s3store") / "film.mp4"
    make_sample(ff, path, duration=2.0, size="320x240")
    return path


def write_library(root: Path, server: SeaweedFS, assets: str, target: str, extra: str = "",
                  database: str | None = None) -> Path:  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "captions").mkdir(exist_ok=True)
    database = database or f"sqlite:///{root / 'medialib.db'}"
    text = (f'database = "{database}"\nuser = "tester"\n' + FAST
            + store_settings(server, assets)
            + f'[publish]\ntarget = "{target}"\nendpoint_url = "{server.endpoint}"\npath_style = true\nretries = 2\n'
            + extra)  # fmt: skip
    (root / "config.toml").write_text(text)
    return root / "config.toml"


def _store_lib(tmp_path: Path, creds: SeaweedFS, database: str | None = None):  # noqa: ANN202
    assets = creds.make_bucket("assets-" + uuid.uuid4().hex[:10])
    site = creds.make_bucket("site-" + uuid.uuid4().hex[:10])
    cfg = write_library(tmp_path / "library", creds, assets, f"s3://{site}/launch", database=database)
    lib = Library.open(cfg, env={})
    yield type("StoreLib", (), {"lib": lib, "cfg": cfg, "assets": assets, "site": site, "s3": creds,
                                "root": cfg.parent, "cli": staticmethod(_runner(cfg)), "work": tmp_path})  # fmt: skip
    lib.close()


@pytest.fixture
def store_lib(tmp_path: Path, creds: SeaweedFS):  # noqa: ANN201
    """A library (SQLite) whose assets live in a fresh private bucket; it publishes to another bucket."""
    yield from _store_lib(tmp_path, creds)


@pytest.fixture
def store_lib_any_db(tmp_path: Path, creds: SeaweedFS, db_url: str):  # noqa: ANN201
    """The same on each catalogue engine (SQLite and PostgreSQL, see conftest's db_url)."""
    yield from _store_lib(tmp_path, creds, db_url)


def one_line_error(r, message: str, code: int) -> None:  # noqa: ANN001
    assert r.code == code, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert message in lines[0], lines[0]


# --- settings (no server needed) -------------------------------------------------------


def _load(tmp_path: Path, storage: str, target: str = "site") -> config.Config:
    (tmp_path / "config.toml").write_text(f'[storage]\n{storage}\n[publish]\ntarget = "{target}"\n')
    return config.load(tmp_path / "config.toml", env={})


@pytest.mark.parametrize("storage, target, why", [
    ('backend = "s3"\nbucket = "pub"', "s3://pub/launch", "'pub' is the bucket of the publish target"),
    ('backend = "s3"\nbucket = "pub"\nprefix = "launch/assets"', "s3://pub/launch", "is the bucket of the publish"),
    ('backend = "s3"\nbucket = "pub"\nprefix = "assets"', "s3://pub", "is the bucket of the publish target"),
    ('backend = "s3"\nbucket = "pub"\nprefix = "private"', "s3://pub/launch", "is the bucket of the publish"),
    ('backend = "s3"', "site", "storage.bucket: must be set"),
    ('backend = "s3"\nbucket = "Not_A_Bucket"', "site", "not a valid S3 bucket name"),
    ('backend = "ftp"', "site", "storage.backend: 'ftp' is not one of local, s3"),
])  # fmt: skip
def test_store_settings_are_checked(tmp_path: Path, storage: str, target: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        _load(tmp_path, storage, target)


def test_a_store_in_another_bucket_is_allowed_and_env_overrides_work(tmp_path: Path) -> None:
    cfg = _load(tmp_path, 'backend = "s3"\nbucket = "assets"\nprefix = "library"', "s3://pub/launch")
    assert (cfg["storage.bucket"], cfg["storage.prefix"]) == ("assets", "library")
    (tmp_path / "config.toml").write_text('[publish]\ntarget = "s3://pub/site"\n')
    env = {"MEDIALIB_STORAGE_BACKEND": "s3", "MEDIALIB_STORAGE_BUCKET": "pub"}
    with pytest.raises(ConfigError, match="configuration error: storage.bucket: 'pub' is the bucket of the publish"):
        config.load(tmp_path / "config.toml", env=env)
    cfg = config.load(tmp_path / "config.toml", env={**env, "MEDIALIB_STORAGE_BUCKET": "assets"})
    assert cfg["storage.backend"] == "s3" and cfg["storage.bucket"] == "assets"


def test_the_cli_refuses_a_store_in_the_publish_bucket_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\nbackend = "s3"\nbucket = "pub"\n[publish]\ntarget = "s3://pub/launch"\n')
    one_line_error(_runner(cfg)("film", "list"), "configuration error: storage.bucket", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no catalogue, no assets made


# --- the store itself ----------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    """Each backend, for the contract every caller relies on."""
    if request.param == "local":
        return LocalStore(tmp_path / "assets", chunk_size=1 << 20)
    server = request.getfixturevalue("creds")
    bucket = server.make_bucket("unit-" + uuid.uuid4().hex[:10])
    return S3Store(bucket, "p", scratch=tmp_path / "scratch", endpoint_url=server.endpoint, path_style=True,
                   part_size=5 << 20, chunk_size=1 << 20)  # fmt: skip


def test_the_store_contract(any_store, tmp_path: Path) -> None:
    store = any_store
    data = os.urandom((11 << 20) + 123)  # three 5 MiB parts in S3
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    seen: list[int] = []
    stored = store.put_file(src, "originals", "bin", on_progress=seen.append)
    sha = hashlib.sha256(data).hexdigest()
    assert (stored.sha256, stored.size, stored.created, sum(seen)) == (sha, len(data), True, len(data))
    assert stored.key == f"originals/{sha[:2]}/{sha[2:4]}/{sha}.bin"
    assert store.put_file(src, "originals", "bin").created is False  # the same bytes again: nothing new
    assert store.size(stored.key) == len(data) and store.hash_file(stored.key) == (sha, len(data))
    assert list(store.iter_keys("originals")) == [stored.key]
    with store.local_file(stored.key) as path:
        assert path.read_bytes() == data
    assert store.sweep_temporary() == []

    form = tmp_path / "form.pdf"
    form.write_bytes(b"%PDF-1.4 a form")
    private = store.put_private(form, "private/consent", "pdf")
    assert private.key == f"private/consent/{hashlib.sha256(form.read_bytes()).hexdigest()}.pdf"
    assert store.read_bytes(private.key) == form.read_bytes()

    made = tmp_path / "poster.jpg"
    made.write_bytes(b"jpeg bytes")
    folder = f"derived/{sha}/poster-{'0' * 12}"
    store.put_derived(made, f"{folder}/poster-160.jpg")
    assert not made.exists() and store.read_bytes(f"{folder}/poster-160.jpg") == b"jpeg bytes"
    assert store.sizes(f"derived/{sha}") == {f"{folder}/poster-160.jpg": 10}  # one listing of a folder
    assert store.sizes(f"derived/{'f' * 64}") == {}
    store.remove_tree(folder)
    assert store.size(f"{folder}/poster-160.jpg") is None

    store.remove(stored.key)
    assert store.size(stored.key) is None
    with pytest.raises(ObjectMissing, match="missing from the asset store"):
        with store.local_file(stored.key):
            pass
    if isinstance(store, S3Store):
        assert list((tmp_path / "scratch").iterdir()) == []  # fetched copies are removed


def test_s3_objects_carry_their_sha256_and_leave_no_temporary_key(creds: SeaweedFS, tmp_path: Path) -> None:
    bucket = creds.make_bucket("unit-" + uuid.uuid4().hex[:10])
    store = S3Store(bucket, "p", scratch=tmp_path / "scratch", endpoint_url=creds.endpoint, path_style=True,
                    part_size=5 << 20, chunk_size=1 << 20)  # fmt: skip
    data = os.urandom((6 << 20) + 5)  # multipart
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    stored = store.put_file(src, "originals", "bin")
    head = creds.client().head_object(Bucket=bucket, Key="p/" + stored.key)
    assert head["ContentLength"] == len(data) and head["Metadata"]["sha256"] == stored.sha256
    store.put_file(src, "originals", "bin")
    assert objects(creds, bucket) == {"p/" + stored.key: len(data)}  # no temporary key left
    assert incomplete_uploads(creds, bucket) == []
    with pytest.raises(ObjectMissing, match=f"s3://{bucket}/p/originals/00/00/{'0' * 64}.bin: missing"):
        store.hash_file(f"originals/00/00/{'0' * 64}.bin")


# --- end to end ------------------------------------------------------------------------


def test_ingest_process_qc_verify_consent_and_publish_with_the_s3_store(store_lib_any_db, clip: Path) -> None:
    t, lib = store_lib_any_db, store_lib_any_db.lib
    made = make_publishable(lib, "hope-street", clip, title="Hope Street", work=t.work)
    stored = objects(t.s3, t.assets)
    sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    original = f"library/originals/{sha[:2]}/{sha[2:4]}/{sha}.mp4"
    assert stored[original] == clip.stat().st_size
    head = t.s3.client().head_object(Bucket=t.assets, Key=original)
    assert head["Metadata"]["sha256"] == sha
    forms = [k for k in stored if k.startswith("library/private/consent/")]
    assert len(forms) == 1
    derived = {k for k in stored if k.startswith(f"library/derived/{sha}/")}
    files = lib.derivatives("hope-street")
    assert {f"library/{f['storage_key']}" for f in files} == derived and len(derived) >= 5
    for f in files:  # every derivative recorded is in the bucket with its size and hash
        body = t.s3.client().get_object(Bucket=t.assets, Key="library/" + f["storage_key"])["Body"].read()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (f["size"], f["sha256"])
        head = t.s3.client().head_object(Bucket=t.assets, Key="library/" + f["storage_key"])
        assert head["Metadata"]["sha256"] == f["sha256"]
        assert f["path"] == f"s3://{t.assets}/library/{f['storage_key']}"
    assert not any(k.startswith("library/tmp/") for k in stored)
    assert incomplete_uploads(t.s3, t.assets) == []
    assert not (t.root / "assets").exists()  # nothing on the local disk but the scratch folder
    assert list((t.root / "scratch").iterdir()) == []  # fetched originals and work folders cleaned up

    r = t.cli("qc", "hope-street")
    assert r.code == 0, r.err
    r = t.cli("verify", "--json")
    assert r.code == 0 and r.json()["ok"] and r.json()["checked"] == 1, (r.out, r.err)
    review = lib.review("hope-street")
    assert all(g["ok"] for g in review["gates"]), review

    r = t.cli("publish")
    assert r.code == 0, r.err
    site = objects(t.s3, t.site)
    proxies = [k for k in site if k.startswith("launch/hope-street/proxy-")]
    assert proxies and all(site[k] in {f["size"] for f in files if f["kind"] == "proxy"} for k in proxies)
    assert not any("private" in k or "originals" in k for k in site)
    assert list((t.root / "scratch").iterdir()) == []  # what publish fetched is gone too

    assert lib.erase_person(made["person"])["forms_removed"] == 1  # erasure removes the form from the bucket
    assert not [k for k in objects(t.s3, t.assets) if k.startswith("library/private/")]


def test_duplicate_upload_stores_nothing_new(store_lib, clip: Path) -> None:
    t = store_lib
    assert t.cli("film", "add", "hope", "--title", "Hope").code == 0
    first = t.cli("cut", "add", "hope", str(clip))
    assert first.code == 0, first.err
    before = objects(t.s3, t.assets)
    again = t.cli("cut", "add", "hope", str(clip))
    assert again.code == 0 and "duplicate" in again.out, (again.out, again.err)
    assert objects(t.s3, t.assets) == before
    with t.lib.session() as s:
        assert len(s.scalars(select(Cut)).all()) == 1


def test_verify_finds_a_corrupted_and_a_missing_object(store_lib, clip: Path, ff, tmp_path: Path) -> None:  # noqa: ANN001
    t = store_lib
    other = tmp_path / "other.mp4"
    make_sample(ff, other, duration=1.5, size="160x120")
    t.lib.add_film("hope", "Hope")
    a = t.lib.add_cut("hope", clip).cut
    b = t.lib.add_cut("hope", other).cut
    client = t.s3.client()
    key_a = f"library/originals/{a['sha256'][:2]}/{a['sha256'][2:4]}/{a['sha256']}.mp4"
    key_b = f"library/originals/{b['sha256'][:2]}/{b['sha256'][2:4]}/{b['sha256']}.mp4"
    body = bytearray(client.get_object(Bucket=t.assets, Key=key_a)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one flipped byte, same size
    client.put_object(Bucket=t.assets, Key=key_a, Body=bytes(body))
    client.delete_object(Bucket=t.assets, Key=key_b)
    r = t.cli("verify", "--json")
    assert r.code == 1, (r.out, r.err)
    report = r.json()
    assert [c["key"] for c in report["changed"]] == [key_a.removeprefix("library/")]
    assert [m["key"] for m in report["missing"]] == [key_b.removeprefix("library/")]


def test_a_missing_original_fails_the_process_job_with_its_key(store_lib, clip: Path) -> None:
    t = store_lib
    t.lib.add_film("hope", "Hope")
    cut = t.lib.add_cut("hope", clip).cut
    key = f"originals/{cut['sha256'][:2]}/{cut['sha256'][2:4]}/{cut['sha256']}.mp4"
    t.s3.client().delete_object(Bucket=t.assets, Key="library/" + key)
    r = t.cli("process", "--json", "hope")
    assert r.code == 1, (r.out, r.err)
    jobs = r.json()["cuts"][0]["jobs"]
    assert {j["status"] for j in jobs} == {"failed"}
    assert all(f"original missing: s3://{t.assets}/library/{key}" in j["error"] for j in jobs), jobs
    assert list((t.root / "scratch").iterdir()) == []


# --- faults -----------------------------------------------------------------------------


def test_store_server_down_is_one_line_and_records_nothing(tmp_path: Path, clip: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    server = SeaweedFS(tmp_path).start()
    try:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
        assets = server.make_bucket("assets-down")
        cfg = write_library(tmp_path / "library", server, assets, "site")
        cli = _runner(cfg)
        assert cli("film", "add", "hope", "--title", "Hope").code == 0
        assert cli("film", "add", "other", "--title", "Other").code == 0
        assert cli("cut", "add", "other", str(clip)).code == 0
        server.kill()
        r = cli("cut", "add", "hope", str(clip))
        one_line_error(r, f"asset store s3://{assets}/library/: the S3 server at {server.endpoint} is not answering", 2)
        listed = cli("cut", "list", "hope", "--json")
        assert listed.code == 0 and listed.json() == [], (listed.out, listed.err)
        one_line_error(cli("verify"), "is not answering", 2)
        one_line_error(cli("process", "other"), "is not answering", 2)
        shown = cli("film", "show", "other", "--json").json()
        assert shown["derivatives"] == []  # nothing recorded as built
    finally:
        server.stop()
    assert not (tmp_path / "library" / "scratch").exists() or not any((tmp_path / "library" / "scratch").iterdir())


def test_refused_credentials_are_named(store_lib, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = store_lib
    assert t.cli("film", "add", "hope", "--title", "Hope").code == 0
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    one_line_error(_runner(t.cfg)("cut", "add", "hope", str(clip)), "the S3 server refused the credentials", 2)



def test_missing_bucket_is_named(store_lib, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = store_lib
    monkeypatch.setenv("MEDIALIB_STORAGE_BUCKET", "no-such-bucket-here")
    cli = _runner(t.cfg)
    assert cli("film", "add", "hope", "--title", "Hope").code == 0
    one_line_error(cli("cut", "add", "hope", str(clip)), "the bucket 'no-such-bucket-here' does not exist", 2)


KILL_AFTER_FIRST_PART = textwrap.dedent("""
    # fault injection: a writer SIGKILLed after the first part of its multipart upload
    import os, signal, sys
    from medialib.library import Library
    from medialib.storage import s3

    real = s3.S3PendingPut._read
    calls = []
    def read_then_die(self, n):
        calls.append(n)
        if len(calls) == 2:  # the first part is uploaded; die while reading the second
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, n)
    s3.S3PendingPut._read = read_then_die
    lib = Library.open(sys.argv[1], env={})
    lib.add_cut("big", sys.argv[2])
""")


def test_sigkill_during_an_s3_ingest_then_the_next_writer_sweeps(store_lib, tmp_path: Path) -> None:
    t = store_lib
    cfg = t.cfg
    cfg.write_text(cfg.read_text().replace("[storage]\n", "[storage]\npart_mib = 5\n"))
    big = tmp_path / "big.mkv"  # a playable video over one 5 MiB part
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2",
                    "-vf", "noise=alls=100:allf=t", "-c:v", "ffv1", "-y", str(big)], check=True)  # fmt: skip
    assert big.stat().st_size > 5 << 20
    lib = Library.open(cfg, env={})
    lib.add_film("big", "Big")
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_PART, str(cfg), str(big)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == -9, proc.stderr
    left = incomplete_uploads(t.s3, t.assets)
    assert len(left) == 1 and left[0].startswith("library/tmp/"), left
    assert lib.cuts("big") == []
    stored = lib.add_cut("big", big)  # the next writer sweeps what the dead one left
    assert stored.stored_new_file
    assert incomplete_uploads(t.s3, t.assets) == []
    assert not [k for k in objects(t.s3, t.assets) if k.startswith("library/tmp/")]
    lib.close()


# --- the web app reading from the S3 store ------------------------------------------------


def test_staff_media_and_consent_forms_redirect_to_short_lived_presigned_urls(store_lib, clip: Path) -> None:
    import urllib.request

    from tests.web_helpers import PASSWORDS, ROLES, client, sign_in

    t, lib = store_lib, store_lib.lib
    made = make_publishable(lib, "hope", clip, work=t.work)
    lib.add_user("staff", ROLES["staff"], PASSWORDS["staff"])
    files = {f["name"]: f for f in lib.derivatives("hope")}
    proxy = files["proxy-360.mp4"]
    staff = sign_in(client(lib), "staff")

    r = staff.get("/media/hope/proxy-360/proxy-360.mp4", follow_redirects=False)
    assert r.status_code == 307 and r.headers["cache-control"] == "no-store"
    url = r.headers["location"]
    assert url.startswith(f"{t.s3.endpoint}/{t.assets}/library/derived/") and "X-Amz-Expires=300" in url
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=10-19"})) as got:  # noqa: S310
        body = got.read()
        assert got.status == 206 and got.headers["Content-Type"] == "video/mp4"
    data = t.s3.client().get_object(Bucket=t.assets, Key="library/" + proxy["storage_key"])["Body"].read()
    assert body == data[10:20]

    board = staff.get("/media/hope/storyboard/storyboard.vtt")  # read from the store and rewritten, not redirected
    assert board.status_code == 200 and "/media/hope/storyboard/storyboard-" in board.text

    consent = made["consent"]
    form = staff.get(f"/consent/{consent}/form", follow_redirects=False)
    assert form.status_code == 307
    with urllib.request.urlopen(form.headers["location"]) as got:  # noqa: S310
        assert got.headers["Cache-Control"] == "no-store" and "attachment" in got.headers["Content-Disposition"]
        assert got.read().startswith(b"%PDF")
    anonymous = client(lib).get("/media/hope/proxy-360/proxy-360.mp4", follow_redirects=False)
    assert anonymous.status_code in (303, 401, 403)

    t.s3.client().delete_object(Bucket=t.assets, Key="library/" + proxy["storage_key"])
    assert staff.get("/media/hope/proxy-360/proxy-360.mp4", follow_redirects=False).status_code == 404


def store_through(t, proxy: FaultProxy, extra: str = "") -> None:  # noqa: ANN001
    """Point the library's asset store (not its publish target) at ``proxy``; ``extra``
    lines join the [storage] table."""
    text = t.cfg.read_text()
    old = f'endpoint_url = "{t.s3.endpoint}"\npath_style = true\nscratch'
    assert old in text
    t.cfg.write_text(text.replace(old, f'{extra}endpoint_url = "{proxy.endpoint}"\npath_style = true\nscratch', 1))


def test_transient_store_errors_are_retried(store_lib, clip: Path) -> None:
    from tests.test_publish import FlakyProxy  # fault injection: every third distinct request fails once (503)

    t = store_lib
    flaky = FlakyProxy(t.s3.endpoint)
    try:
        store_through(t, flaky)  # the store goes through the proxy; the publish target does not
        assert t.cli("film", "add", "hope", "--title", "Hope").code == 0
        r = t.cli("cut", "add", "hope", str(clip))
        assert r.code == 0, r.err
        r = t.cli("process", "hope")
        assert r.code == 0, (r.out, r.err)
        r = t.cli("verify", "--json")
        assert r.code == 0 and r.json()["checked"] == 1, (r.out, r.err)
        assert flaky.failed >= 3  # those requests failed once and were retried
    finally:
        flaky.close()


def test_publish_refuses_a_target_in_the_asset_bucket(store_lib) -> None:
    t = store_lib
    r = t.cli("publish", "--dry-run", "--target", f"s3://{t.assets}/site")
    one_line_error(r, f"storage.bucket: '{t.assets}' is the bucket of the publish target s3://{t.assets}/site", 2)
    assert objects(t.s3, t.assets) == {}


def test_a_web_upload_goes_to_the_s3_store_and_is_processed_there(store_lib, clip: Path) -> None:
    from fastapi.testclient import TestClient

    from medialib.web.app import create_app
    from medialib.web.maker import processor_for
    from tests.test_web_maker import upload_bytes
    from tests.web_helpers import PASSWORDS, ROLES, sign_in

    t, lib = store_lib, store_lib.lib
    maker = lib.add_user("maker", ROLES["maker"], PASSWORDS["maker"])
    lib.add_film("makers-film", "Maker's Film", owner_id=maker["id"])
    processor = processor_for(lib)
    processor.hold()
    app = create_app(lib)
    c = sign_in(TestClient(app, follow_redirects=False), "maker")
    try:
        data = clip.read_bytes()
        r = upload_bytes(c, "makers-film", data, "Final Cut.mp4", chunk=len(data) // 3 + 1)
        assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
        sha = hashlib.sha256(data).hexdigest()
        assert objects(t.s3, t.assets)[f"library/originals/{sha[:2]}/{sha[2:4]}/{sha}.mp4"] == len(data)
        processor.release()
        processor.wait()
        status = c.get("/api/films/makers-film/processing").json()
        assert status["state"] == "done", status
    finally:
        c.close()
        processor.wait()
        processor.shutdown()
    assert [k for k in objects(t.s3, t.assets) if k.startswith(f"library/derived/{sha}/")]
    assert list((t.root / "scratch").iterdir()) == []  # the upload folder and fetched copies are gone


class FailingProxy(FaultProxy):
    """Fault injection: a proxy to the S3 server that answers 500 to every request
    ``fails(method, path)`` picks, and forwards the rest."""

    def __init__(self, upstream: str, fails) -> None:  # noqa: ANN001
        self.refused = 0

        def decide(method: str, path: str) -> tuple[int, str, str] | None:
            if not fails(method, path):
                return None
            self.refused += 1
            return 500, "InternalError", "injected"

        super().__init__(upstream, decide)


def test_a_derivative_upload_that_keeps_failing_fails_its_job_and_cleans_scratch(store_lib, clip: Path) -> None:
    t = store_lib
    assert t.cli("film", "add", "hope", "--title", "Hope").code == 0
    assert t.cli("cut", "add", "hope", str(clip)).code == 0
    proxy = FailingProxy(t.s3.endpoint, lambda method, path: method == "PUT" and "/derived/" in path)
    try:
        store_through(t, proxy)
        r = t.cli("process", "--json", "hope")
    finally:
        proxy.close()
    assert r.code == 1 and "Traceback" not in r.err, (r.out, r.err)
    jobs = r.json()["cuts"][0]["jobs"]
    failed = [j for j in jobs if j["status"] == "failed"]
    assert failed and all(f"asset store s3://{t.assets}/library/: uploading derived/" in j["error"] for j in failed
                          if "uploading" in j["error"]), failed  # fmt: skip
    assert any("uploading derived/" in j["error"] and "InternalError" in j["error"] for j in failed), failed
    assert proxy.refused >= 2  # retried before giving up
    assert not [k for k in objects(t.s3, t.assets) if "/derived/" in k]
    assert list((t.root / "scratch").iterdir()) == []


# --- one machine's cache of originals (storage.cache_mib) ---------------------------------


def test_the_cache_fetches_an_original_once_and_checks_its_sha256(creds: SeaweedFS, tmp_path: Path) -> None:
    from medialib.errors import IntegrityError

    bucket = creds.make_bucket("unit-" + uuid.uuid4().hex[:10])
    counting = CountingProxy(creds.endpoint)
    try:
        store = S3Store(bucket, "p", scratch=tmp_path / "scratch", endpoint_url=counting.endpoint,
                        path_style=True, cache_bytes=64 << 20)  # fmt: skip
        src = tmp_path / "film.bin"
        src.write_bytes(os.urandom(300_000))
        key = store.put_file(src, "originals", "mp4").key
        for _ in range(3):
            with store.local_file(key) as path:
                assert path.read_bytes() == src.read_bytes()
        assert counting.gets == [key.rsplit("/", 1)[-1]]  # once, not three times
        made = tmp_path / "sheet.jpg"
        made.write_bytes(b"a storyboard")
        derived = f"derived/{'0' * 64}/storyboard-{'0' * 12}/sheet.jpg"
        store.put_derived(made, derived)
        for _ in range(2):
            with store.local_file(derived) as path:
                assert path.read_bytes() == b"a storyboard"
        cache = tmp_path / "scratch" / "originals-cache"
        assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [key.rsplit("/", 1)[-1]]

        other = tmp_path / "other.bin"  # stored, then its bytes changed behind medialib's back
        other.write_bytes(os.urandom(200_000))
        bad = store.put_file(other, "originals", "mp4").key
        creds.client().put_object(Bucket=bucket, Key="p/" + bad, Body=b"x" * 200_000)
        with pytest.raises(IntegrityError, match=f"s3://{bucket}/p/{bad}: the fetched bytes do not hash"):
            with store.local_file(bad):
                pass
        assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [key.rsplit("/", 1)[-1]]
        assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["originals-cache"]  # no work folder left

        dead = cache / f"{2**22 + 12345}-{'ab' * 8}.part"  # a dead fetcher's part
        dead.write_bytes(b"half")
        assert dead.name in store.sweep_temporary() and not dead.exists()
    finally:
        counting.close()



# --- the derivatives gate looks in the store (one listing per cut) --------------------------


def _derivatives_gate(lib: Library, slug: str) -> dict:
    return next(g for g in lib.review(slug)["gates"] if g["gate"] == "derivatives")


def _check_a_lost_derivative_fails_the_gate_until_rebuilt(lib: Library, clip: Path) -> None:
    lib.add_film("hope", "Hope")
    lib.add_cut("hope", clip)
    lib.process(["hope"])
    assert _derivatives_gate(lib, "hope") == {"gate": "derivatives", "ok": True,
                                              "reasons": ["all derivatives built and in place"]}  # fmt: skip
    files = {f["name"]: f for f in lib.derivatives("hope")}
    poster = next(f for name, f in files.items() if name.startswith("poster"))
    sheet = next(f for f in files.values() if f["kind"] == "storyboard")
    lib.store.remove(poster["storage_key"])
    changed = Path(lib.store.tmp_dir) / "changed.jpg"
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_bytes(b"not the sheet that was recorded")
    lib.store.put_derived(changed, sheet["storage_key"])
    gate = _derivatives_gate(lib, "hope")
    assert not gate["ok"] and len(gate["reasons"]) == 2, gate
    assert any(f"{poster['name']} is missing or changed on disk" in r for r in gate["reasons"]), gate
    assert any(f"{sheet['name']} is missing or changed on disk" in r for r in gate["reasons"]), gate
    lib.process(["hope"])  # rebuilt
    assert _derivatives_gate(lib, "hope")["ok"]


def test_a_derivative_missing_or_changed_in_the_s3_store_fails_the_gate(store_lib, clip: Path) -> None:
    _check_a_lost_derivative_fails_the_gate_until_rebuilt(store_lib.lib, clip)


def test_a_derivative_missing_or_changed_in_the_local_store_fails_the_gate(lib_dir: Path, clip: Path) -> None:
    with open(lib_dir / "config.toml", "a") as fh:
        fh.write(FAST)
    with Library.open(lib_dir / "config.toml", env={}) as lib:
        _check_a_lost_derivative_fails_the_gate_until_rebuilt(lib, clip)
