"""Publishing the launch site to a real S3 server (SeaweedFS) and to a folder.

Everything published is read back with an independent boto3 client; the
gates are re-checked at publish time; faults (a server that is down or killed
mid-upload, a killed publish, a changed local file, a held lock) leave
records that are true, and the next run converges.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from medialib.catalog.models import Publication, PublishLock
from medialib.library import Library
from medialib.media.samples import make_sample
from medialib.publish.targets import Item, S3Options, S3Target, parse_target
from tests.conftest import _runner
from tests.launch import FAST, make_publishable
from tests.seaweed import FaultProxy, SeaweedFS

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def bucket(creds: SeaweedFS) -> str:
    return creds.make_bucket("launch-" + uuid.uuid4().hex[:10])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, ff) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("publish") / "film.mp4"
    make_sample(ff, path, duration=2.0, size="320x240")
    return path


def configure(lib_dir: Path, target: str, endpoint: str | None, extra: str = "") -> Path:
    cfg = lib_dir / "config.toml"
    text = cfg.read_text() + FAST + f'[publish]\ntarget = "{target}"\nsite_title = "100 Stories"\nretries = 2\n'
    if endpoint:
        text += f'endpoint_url = "{endpoint}"\npath_style = true\n'
    cfg.write_text(text + extra)
    return cfg


@pytest.fixture
def site(lib_dir: Path, bucket: str, creds: SeaweedFS, clip: Path, tmp_path: Path, monkeypatch):  # noqa: ANN001
    """A library with two publishable films and one that is not, targeting a fresh bucket."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    cfg = configure(lib_dir, f"s3://{bucket}/launch", creds.endpoint)
    lib = Library.open(cfg, env={})
    hope = make_publishable(lib, "hope-street", clip, title="Hope Street", work=tmp_path)
    make_publishable(lib, "the-allotment", clip, title="The Allotment", work=tmp_path)
    lib.add_film("no-consent", "No Consent Yet", summary="Not ready.")
    lib.add_cut("no-consent", clip)
    yield type("Site", (), {"lib": lib, "cfg": cfg, "bucket": bucket, "s3": creds, "hope": hope,
                            "cli": staticmethod(_runner(cfg)), "work": tmp_path})  # fmt: skip
    lib.close()


def listing(s3: SeaweedFS, bucket: str) -> dict[str, int]:
    out, token = {}, None
    client = s3.client()
    while True:
        kw = {"Bucket": bucket, **({"ContinuationToken": token} if token else {})}
        page = client.list_objects_v2(**kw)
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def get(s3: SeaweedFS, bucket: str, key: str) -> tuple[bytes, dict]:
    r = s3.client().get_object(Bucket=bucket, Key=key)
    return r["Body"].read(), r


def manifest(s3: SeaweedFS, bucket: str) -> dict:
    return json.loads(get(s3, bucket, "launch/films.json")[0])


def publications(lib: Library) -> list[tuple[str, str]]:
    with lib.session() as s:
        return sorted((p.target, p.key) for p in s.scalars(select(Publication)))


def ok(r, code: int = 0):  # noqa: ANN001, ANN201
    assert r.code == code, (r.code, r.out, r.err)
    return r


def refused(r, message: str, code: int) -> None:  # noqa: ANN001
    assert r.code == code, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert message in lines[0], lines[0]
    assert "Traceback" not in r.err


# --- the whole launch --------------------------------------------------------------------


def test_dry_run_then_publish_then_nothing_to_do(site):
    before = listing(site.s3, site.bucket)
    plan = ok(site.cli("publish", "--dry-run", "--json")).json()
    assert plan["dry_run"] is True and plan["films"] == ["hope-street", "the-allotment"]
    assert [e["slug"] for e in plan["excluded"]] == ["no-consent"]
    assert any("consent" in r or "approval" in r for r in plan["excluded"][0]["reasons"])
    assert listing(site.s3, site.bucket) == before == {}
    assert publications(site.lib) == []

    result = ok(site.cli("publish", "--json")).json()
    assert result["uploaded"] == len(plan["uploads"]) > 10 and result["deleted"] == 0
    objects = listing(site.s3, site.bucket)
    doc = manifest(site.s3, site.bucket)
    named = {f["key"]: f for f in doc["files"]}
    # Every object in the bucket is one the manifest names (or the manifest itself), and vice versa.
    assert set(objects) == {"launch/" + k for k in named} | {"launch/films.json"}
    for key, f in named.items():
        body, head = get(site.s3, site.bucket, "launch/" + key)
        assert len(body) == f["size"] == objects["launch/" + key]
        assert hashlib.sha256(body).hexdigest() == f["sha256"], key
        assert head["ContentType"] == f["content_type"]
        if key.endswith("index.html"):
            assert head["ContentType"] == "text/html; charset=utf-8" and "immutable" not in head["CacheControl"]
        else:
            assert head["CacheControl"] == IMMUTABLE and f["sha256"][:8] in key
    vtts = [k for k in named if k.endswith(".vtt") and "/captions.en." in k]
    assert len(vtts) == 2
    assert all(named[k]["content_type"] == "text/vtt; charset=utf-8" for k in vtts)
    assert {f["slug"] for f in doc["films"]} == {"hope-street", "the-allotment"}
    assert not any(k.startswith("no-consent/") for k in named)

    # Never published: originals, consent forms (their hashes appear nowhere).
    original = site.hope["cut"]["sha256"]
    form = hashlib.sha256((site.work / "form.pdf").read_bytes()).hexdigest()
    assert {original, form}.isdisjoint(f["sha256"] for f in doc["files"])

    # The film page plays the 720p and 360p proxies with the approved captions.
    page = get(site.s3, site.bucket, "launch/hope-street/index.html")[0].decode()
    hope = next(f for f in doc["films"] if f["slug"] == "hope-street")
    assert len(hope["sources"]) == 2  # 720p and 360p recipes (never upscaled: both 240 lines here)
    for source in hope["sources"]:
        assert source["key"].split("/")[-1] in page
    assert 'srclang="en"' in page and hope["captions"][0]["key"].split("/")[-1] in page
    assert "Hope Street." in page  # the transcript
    # The storyboard track names the published (hashed) sprite sheets, which exist.
    board = get(site.s3, site.bucket, "launch/" + hope["storyboard"])[0].decode()
    sheets = {line.split("#")[0] for line in board.splitlines() if "#xywh=" in line}
    assert sheets and all(f"hope-street/{s}" in named for s in sheets)

    again = ok(site.cli("publish", "--json")).json()
    assert again["uploaded"] == 0 and again["deleted"] == 0 and again["unchanged"] == len(named) + 1
    assert listing(site.s3, site.bucket) == objects

    report = ok(site.cli("publish", "verify", "--json")).json()
    assert report["ok"] and report["checked"] == len(named) and report["downloaded"] == 0
    trail = ok(site.cli("audit", "--json")).json()
    assert any(e["action"] == "publish" and e["details"]["uploaded"] == result["uploaded"] for e in trail)


def test_withdrawn_consent_comes_down_on_the_next_publish(site):
    ok(site.cli("publish"))
    site.lib.withdraw_consent(site.hope["consent"], reason="asked to be removed")
    plan = ok(site.cli("publish", "--dry-run", "--json")).json()
    assert plan["films"] == ["the-allotment"]
    assert plan["deletes"] and all(k.startswith("hope-street/") for k in plan["deletes"])
    ok(site.cli("publish"))
    objects = listing(site.s3, site.bucket)
    assert not any(k.startswith("launch/hope-street/") for k in objects)
    doc = manifest(site.s3, site.bucket)
    assert [f["slug"] for f in doc["films"]] == ["the-allotment"]
    index = get(site.s3, site.bucket, "launch/index.html")[0].decode()
    assert "Hope Street" not in index and "The Allotment" in index
    assert ok(site.cli("publish", "verify", "--json")).json()["ok"]
    assert not any(key.startswith("hope-street/") for _, key in publications(site.lib))


def test_takedown_is_immediate_and_lasts_until_approved_again(site):
    ok(site.cli("publish"))
    r = ok(site.cli("takedown", "hope-street", "--reason", "complaint under review", "--json")).json()
    assert r["deleted"] > 5
    objects = listing(site.s3, site.bucket)
    assert not any(k.startswith("launch/hope-street/") for k in objects)
    assert "Hope Street" not in get(site.s3, site.bucket, "launch/index.html")[0].decode()
    assert ok(site.cli("publish", "verify", "--json")).json()["ok"]
    event = [e for e in ok(site.cli("audit", "hope-street", "--json")).json() if e["action"] == "takedown"]
    assert event and event[0]["details"]["reason"] == "complaint under review"

    plan = ok(site.cli("publish", "--dry-run", "--json")).json()
    assert plan["films"] == ["the-allotment"] and plan["uploads"] == []  # the take-down page set is current
    reasons = next(e for e in plan["excluded"] if e["slug"] == "hope-street")["reasons"]
    assert any("taken down" in r for r in reasons)
    site.lib.approve("hope-street", by="Morag Stewart")
    ok(site.cli("publish"))
    assert any(k.startswith("launch/hope-street/") for k in listing(site.s3, site.bucket))


def test_embargo_and_a_preview_of_launch_day(site):
    launch = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    site.lib.edit_film("the-allotment", publish_at=launch)
    ok(site.cli("publish"))
    assert [f["slug"] for f in manifest(site.s3, site.bucket)["films"]] == ["hope-street"]
    at = (launch + timedelta(hours=1)).isoformat()
    preview = ok(site.cli("publish", "--at", at, "--dry-run", "--json")).json()
    assert preview["films"] == ["hope-street", "the-allotment"]
    assert any(u["film"] == "the-allotment" for u in preview["uploads"])
    refused(site.cli("publish", "--at", at), "--at previews the launch site", 2)
    refused(site.cli("publish", "--at", "next tuesday", "--dry-run"), "--at", 2)
    assert [f["slug"] for f in manifest(site.s3, site.bucket)["films"]] == ["hope-street"]


def test_unapproved_captions_and_machine_drafts_are_never_published(site):
    fr = site.work / "fr.vtt"
    fr.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nRue de l'Espoir.\n")
    site.lib.import_captions("hope-street", fr, language="fr")  # imported, never approved
    ok(site.cli("publish"))
    keys = listing(site.s3, site.bucket)
    assert not any(".fr." in k for k in keys)
    page = get(site.s3, site.bucket, "launch/hope-street/index.html")[0].decode()
    assert 'srclang="fr"' not in page and "Espoir" not in page


def test_catalogue_text_is_escaped_in_the_published_pages(site):
    evil = '<script>alert(1)</script>" onmouseover="x'
    site.lib.edit_film("hope-street", title=evil, summary="' OR 1=1 -- <img src=x onerror=alert(2)>")
    site.lib.approve("hope-street", by="Morag Stewart")
    ok(site.cli("publish"))
    for key in ("launch/index.html", "launch/hope-street/index.html"):
        page = get(site.s3, site.bucket, key)[0].decode()
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    doc = manifest(site.s3, site.bucket)
    assert evil in [f["title"] for f in doc["films"]]


# --- faults ----------------------------------------------------------------------------------


def test_a_changed_local_derivative_is_not_uploaded_and_named(site):
    files = site.lib.derivatives("hope-street")
    proxy = Path(next(f["path"] for f in files if f["kind"] == "proxy"))
    data = bytearray(proxy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    proxy.write_bytes(bytes(data))
    r = site.cli("publish")
    refused(r, str(proxy), 1)
    assert "does not match" in r.err
    objects = listing(site.s3, site.bucket)
    assert not any(k.endswith(".mp4") and k.startswith("launch/hope-street/proxy-") and
                   k.split(".")[-2] == hashlib.sha256(bytes(data)).hexdigest()[:8] for k in objects)  # fmt: skip
    assert "launch/index.html" not in objects and "launch/films.json" not in objects  # no page points anywhere
    assert all(key not in [k for _, k in publications(site.lib)] for key in ("index.html", "films.json"))


def test_bad_targets(site, s3):
    bad = [
        ("s3://", "not a valid bucket name"),
        ("s3://Bad_Bucket/x", "not a valid bucket name"),
        (f"s3://{site.bucket}/a/../b", "'..'"),
        ("s3://user:secret@bucket/x", "credentials must not be part of the URL"),
        ("ftp://host/x", "expected s3://BUCKET/PREFIX or file:///PATH"),
        (f"s3://{site.bucket}/x?acl=public", "query"),
        ("file://remote-host/srv/site", "local path"),
        (f"s3://{site.bucket}/" + "deep/" * 100, f"at most 500 characters once normalised (it has {len(site.bucket) + 506})"),
        ("file:///srv/" + "x" * 600, "at most 500 characters once normalised"),
    ]
    for url, message in bad:
        refused(site.cli("publish", "--target", url), message, 2)
    refused(site.cli("publish", "--target", "s3://no-such-bucket-here/x"), "does not exist", 2)
    assert publications(site.lib) == []


def test_wrong_credentials_are_refused(site, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    r = site.cli("publish")
    refused(r, "refused the credentials", 2)
    assert "not-the-secret" not in r.err + r.out
    assert publications(site.lib) == []


def test_a_server_that_is_down(site, tmp_path):
    down = SeaweedFS(tmp_path)  # never started: its port answers nothing
    cfg = site.cfg.read_text().replace(site.s3.endpoint, down.endpoint)
    site.cfg.write_text(cfg)
    r = site.cli("publish")
    refused(r, "is not answering", 1)
    assert publications(site.lib) == []
    with site.lib.session() as s:
        assert s.scalars(select(PublishLock)).all() == []  # the lock was released
    down.stop()


def test_server_killed_mid_upload_then_back(lib_dir, clip, tmp_path, creds, monkeypatch):
    own = SeaweedFS(tmp_path).start()  # a server of its own, to kill
    try:
        bucket = own.make_bucket("kill-test")
        cfg = configure(lib_dir, f"s3://{bucket}/launch", own.endpoint, extra="threads = 1\n")
        lib = Library.open(cfg, env={})
        for i in range(3):
            make_publishable(lib, f"film-{i}", clip, work=tmp_path)
        proc = _slow_publish(cfg, after=4)
        _wait_for(lambda: len(listing(own, bucket)) >= 4)
        own.kill()
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1 and "not answering" in err and "Traceback" not in err, err
        recorded = publications(lib)
        assert 4 <= len(recorded) < 20
        own.start()
        own.wait_serving(bucket)  # volumes loaded: reads no longer answer 500
        present = listing(own, bucket)
        assert {f"launch/{k}" for _, k in recorded} <= set(present)  # nothing recorded that is not there
        assert "launch/films.json" not in present
        runner = _runner(cfg)
        again = ok(runner("publish", "--json")).json()
        assert again["unchanged"] >= len(recorded) and again["uploaded"] > 0
        assert ok(runner("publish", "verify", "--json")).json()["ok"]
        lib.close()
    finally:
        own.stop()


SLOW = """
import os, signal, sys
from medialib.publish import targets
real, count = targets.S3Target.put, [0]
def put_then_stop(self, item, pool=None):  # fault injection: pause the publish after N uploads
    result = real(self, item, pool)
    count[0] += 1
    if count[0] == {after}:
        os.kill(os.getpid(), signal.SIGSTOP)
    return result
targets.S3Target.put = put_then_stop
from medialib.cli import run
sys.argv = ["medialib", "--config", {cfg!r}, "publish"]
run()
"""


def _slow_publish(cfg: Path, after: int) -> subprocess.Popen[str]:
    """`medialib publish` in a child that stops itself (SIGSTOP) after ``after`` uploads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    return subprocess.Popen([sys.executable, "-c", SLOW.format(after=after, cfg=str(cfg))], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent)  # fmt: skip


def _wait_for(condition, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_publish_converges_and_a_second_one_is_refused_meanwhile(site):
    proc = _slow_publish(site.cfg, after=3)
    try:
        _wait_for(lambda: len(listing(site.s3, site.bucket)) >= 3)
        _wait_for(lambda: open(f"/proc/{proc.pid}/stat").read().split()[2] == "T")
        # The stopped publish holds the lock: a second one is refused, changing nothing.
        refused(site.cli("publish"), "another publish to s3://", 1)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    half = listing(site.s3, site.bucket)
    assert "launch/films.json" not in half and "launch/index.html" not in half
    # The lock of a process that is gone is taken over; the rerun converges.
    result = ok(site.cli("publish", "--json")).json()
    # What landed before the kill is adopted by its server-side checksum, not sent again.
    assert result["unchanged"] >= 3 and result["uploaded"] == len(result["uploads"])
    report = ok(site.cli("publish", "verify", "--json")).json()
    assert report["ok"] and not report["unexpected"]
    with site.lib.session() as s:
        assert s.scalars(select(PublishLock)).all() == []


# --- the folder target, verify and multipart ----------------------------------------------------


def test_folder_target_and_verify_finds_every_kind_of_damage(lib_dir, clip, tmp_path, monkeypatch):
    out = tmp_path / "site"
    cfg = configure(lib_dir, out.as_uri(), None)
    lib = Library.open(cfg, env={})
    make_publishable(lib, "hope-street", clip, title="Hope Street", work=tmp_path)
    cli = _runner(cfg)
    ok(cli("publish"))
    doc = json.loads((out / "films.json").read_text())
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(
        [f["key"] for f in doc["files"]] + ["films.json"])  # fmt: skip
    assert ok(cli("publish", "verify", "--json")).json()["ok"]
    poster = next(out / f["key"] for f in doc["files"] if f["key"].endswith(".jpg"))
    poster.write_bytes(b"x" * poster.stat().st_size)
    vtt = next(out / f["key"] for f in doc["files"] if "/captions." in f["key"])
    vtt.unlink()
    (out / "hope-street" / "extra.txt").write_text("not ours")
    r = cli("publish", "verify", "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["missing"] == [str(vtt.relative_to(out))]
    assert [d["key"] for d in report["different"]] == [str(poster.relative_to(out))]
    assert report["unexpected"] == ["hope-street/extra.txt"]
    # publish repairs all three: the missing and changed ones are re-sent, the stranger removed.
    ok(cli("publish"))
    assert ok(cli("publish", "verify", "--json")).json()["ok"]
    lib.close()


def test_multipart_upload_checksums_and_abort(bucket, creds, tmp_path):
    target = S3Target(parse_target(f"s3://{bucket}/big"), S3Options(endpoint_url=creds.endpoint, path_style=True,
                                                                     part_size=5 << 20, threads=4))  # fmt: skip
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(12 << 20))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        checksum = target.put(Item("a.mp4", "video/mp4", IMMUTABLE, sha, path.stat().st_size, path=path), pool)
        assert checksum.endswith("-3")
        state = target.stat("a.mp4")
        assert state.size == 12 << 20 and state.checksum == checksum  # the server's composite agrees
        with pytest.raises(Exception, match="does not match"):
            target.put(Item("b.mp4", "video/mp4", IMMUTABLE, "0" * 64, path.stat().st_size, path=path), pool)
    client = creds.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) in ([], None)  # aborted
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["big/a.mp4"]
    body = client.get_object(Bucket=bucket, Key="big/a.mp4")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha
    # A corrupted body is refused by the server itself (the checksum header), nothing stored.
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="BadDigest"):
        client.put_object(Bucket=bucket, Key="big/c", Body=b"abc",
                          ChecksumSHA256=base64.b64encode(hashlib.sha256(b"abd").digest()).decode())  # fmt: skip
    target.close()


@pytest.mark.parametrize(("url", "normal"), [
    ("s3://launch", "s3://launch/"),
    ("s3://launch/", "s3://launch/"),
    ("s3://launch/a//b/", "s3://launch/a/b/"),
    ("file:///srv/site/", "file:///srv/site"),
])  # fmt: skip
def test_target_urls_normalise(url: str, normal: str) -> None:
    assert parse_target(url).url == normal


def test_publish_needs_no_lock_left_behind_by_a_dead_process(site):
    with site.lib.transaction() as s:
        s.add(PublishLock(target=f"s3://{site.bucket}/launch/", holder=f"{os.uname().nodename}:999999"))
    ok(site.cli("publish"))
    with site.lib.session() as s:
        assert s.scalars(select(PublishLock)).all() == []


def test_the_launch_script_previews_publishes_and_verifies(lib_dir, clip, tmp_path):
    out = tmp_path / "launch-site"
    cfg = configure(lib_dir, out.as_uri(), None)
    lib = Library.open(cfg, env={})
    make_publishable(lib, "hope-street", clip, title="Hope Street", work=tmp_path)
    make_publishable(lib, "the-allotment", clip, title="The Allotment", work=tmp_path)
    launch = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    lib.edit_film("the-allotment", publish_at=launch)
    lib.close()
    script = Path(__file__).parent.parent / "examples" / "launch.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "--config", str(cfg), *args], capture_output=True,
                              text=True, env=env, timeout=120)  # fmt: skip

    preview = run("--launch", launch.isoformat())
    assert preview.returncode == 0, preview.stderr
    assert "2 film(s) go live" in preview.stdout and "+ the-allotment" in preview.stdout
    assert not out.exists()  # a preview changes nothing
    done = run("--launch", launch.isoformat(), "--go")
    assert done.returncode == 0, done.stderr
    assert "Verified" in done.stdout and f"hope-street: {(out / 'hope-street' / 'index.html').as_uri()}" in done.stdout
    assert "Still under embargo now, live at the launch time: the-allotment" in done.stdout
    assert json.loads((out / "films.json").read_text())["films"][0]["slug"] == "hope-street"
    bad = run("--launch", "someday")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


class FlakyProxy(FaultProxy):
    """Fault injection: a proxy to the S3 server that answers the first attempt of every third
    distinct request with 503 SlowDown (so a client that retries always gets through)."""

    def __init__(self, upstream: str) -> None:
        import threading

        self.seen: set[tuple[str, str]] = set()
        self.failed = 0
        lock = threading.Lock()

        def decide(method: str, path: str) -> tuple[int, str, str] | None:
            with lock:  # the first attempt of every third distinct request fails
                fail = (method, path) not in self.seen and len(self.seen) % 3 == 2
                self.seen.add((method, path))
                self.failed += fail
            return (503, "SlowDown", "Please reduce your request rate.") if fail else None

        super().__init__(upstream, decide)


def test_transient_errors_are_retried(site):
    flaky = FlakyProxy(site.s3.endpoint)
    try:
        site.cfg.write_text(site.cfg.read_text().replace(site.s3.endpoint, flaky.endpoint))
        result = ok(site.cli("publish", "--json")).json()
        assert result["uploaded"] > 10 and flaky.failed >= 5  # those requests failed once, and were retried
        assert ok(site.cli("publish", "verify", "--json")).json()["ok"]
    finally:
        flaky.close()
