"""The quick S3 listing without boto3 (medialib.publish.s3list): its signature against botocore's,
its listing against an independent boto3 client on a real server (SeaweedFS), and its fallbacks."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

from medialib.publish import s3list
from medialib.publish.targets import S3Options, S3Target, parse_target
from tests.seaweed import SeaweedFS

ODD_KEYS = ["site/plain.txt", "site/with space.txt", "site/plus+sign.txt", "site/percent%41.txt",
            "site/ünïcødé/naïve.vtt", "site/amp&eq=.txt", "site/tilde~dash-under_dot.txt",
            "site/deep/a/b/c.html", "elsewhere/not-under-the-prefix.txt"]  # fmt: skip


def boto3_listing(s3: SeaweedFS, bucket: str, prefix: str) -> dict[str, int]:
    out, token, client = {}, None, s3.client()
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
        page = client.list_objects_v2(**kw)
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def quick(s3: SeaweedFS, bucket: str, prefix: str, **env: str) -> dict[str, int] | None:
    return s3list.list_prefix(bucket, prefix, endpoint_url=s3.endpoint, region=None, path_style=True,
                              env={**s3.env, **env})  # fmt: skip


def test_the_signature_is_the_one_botocore_computes():
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    now = dt.datetime(2026, 11, 27, 12, 34, 56, tzinfo=dt.timezone.utc)
    query = {"list-type": "2", "prefix": "a b/ü+%~", "max-keys": "1000", "encoding-type": "url",
             "continuation-token": "1/x=y+z"}  # fmt: skip
    for token in (None, "a-session-token"):
        mine = s3list.sign("GET", "127.0.0.1:8333", "/my-bucket", query, access_key="AKIDEXAMPLE",
                           secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region="eu-west-2", now=now,
                           token=token)  # fmt: skip
        # The query goes in as parameters, so botocore encodes it by its own rules.
        request = AWSRequest("GET", "http://127.0.0.1:8333/my-bucket", params=dict(query),
                             headers={"X-Amz-Content-SHA256": s3list.EMPTY_SHA256})  # fmt: skip
        request.context["timestamp"] = now.strftime("%Y%m%dT%H%M%SZ")
        auth = S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "s3",
                           "eu-west-2")  # fmt: skip
        auth._modify_request_before_signing = lambda r: None  # keep the request exactly as built above
        if token:
            request.headers["X-Amz-Security-Token"] = token
        request.headers["X-Amz-Date"] = request.context["timestamp"]
        theirs = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        assert mine["authorization"].endswith(f"Signature={theirs}")
        assert "Credential=AKIDEXAMPLE/20261127/eu-west-2/s3/aws4_request" in mine["authorization"]


def test_the_quick_listing_equals_boto3s_with_odd_keys_and_pages(s3, monkeypatch):
    bucket = s3.make_bucket("quick-" + uuid.uuid4().hex[:10])
    client = s3.client()
    for key in ODD_KEYS:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    many = [f"site/many/{i:04d}.txt" for i in range(1010)]  # more than one page of 1,000
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x" * (len(k) % 7)), many))
    expected = boto3_listing(s3, bucket, "site/")
    assert len(expected) == len(ODD_KEYS) - 1 + 1010
    assert quick(s3, bucket, "site/") == expected
    assert quick(s3, bucket, "site/ünïcødé/") == {"site/ünïcødé/naïve.vtt": len("site/ünïcødé/naïve.vtt".encode())}
    assert quick(s3, bucket, "nothing-here/") == {}

    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    target = S3Target(parse_target(f"s3://{bucket}/site"), S3Options(endpoint_url=s3.endpoint, path_style=True))
    assert target.list() == {k[len("site/"):]: v for k, v in expected.items()}
    assert target._client is None  # listed without loading boto3


def test_every_case_it_does_not_take_falls_back_to_boto3(s3, monkeypatch):
    bucket = s3.make_bucket("fallback-" + uuid.uuid4().hex[:10])
    s3.client().put_object(Bucket=bucket, Key="site/a.txt", Body=b"abc")
    assert quick(s3, bucket, "site/") == {"site/a.txt": 3}
    assert quick(s3, bucket, "site/", AWS_SECRET_ACCESS_KEY="wrong") is None  # refused (403)
    assert quick(s3, "no-such-bucket-" + uuid.uuid4().hex[:8], "site/") is None  # 404
    assert quick(s3, bucket, "site/", AWS_PROFILE="someone") is None  # boto3 reads the profile
    assert quick(s3, bucket, "site/", HTTPS_PROXY="http://127.0.0.1:9") is None
    assert s3list.list_prefix(bucket, "site/", endpoint_url=s3.endpoint, region=None, path_style=False,
                              env=s3.env) is None  # virtual-hosted on a custom endpoint  # fmt: skip
    assert s3list.list_prefix(bucket, "site/", endpoint_url="http://127.0.0.1:9", region=None, path_style=True,
                              env=s3.env, timeout=2) is None  # nothing listening  # fmt: skip
    assert s3list.list_prefix(bucket, "site/", endpoint_url=None, region=None, path_style=False,
                              env=s3.env | {"AWS_DEFAULT_REGION": ""}) is None  # AWS, region unknown  # fmt: skip

    # Through S3Target: the same answer by boto3 when the quick path steps aside.
    for key, value in {**s3.env, "AWS_PROFILE": "medialib-test"}.items():
        monkeypatch.setenv(key, value)
    (config := s3.dir / "aws-config").write_text("[profile medialib-test]\nregion = us-east-1\n")
    (shared := s3.dir / "aws-credentials").write_text(
        f"[medialib-test]\naws_access_key_id = {s3.env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {s3.env['AWS_SECRET_ACCESS_KEY']}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    target = S3Target(parse_target(f"s3://{bucket}/site"), S3Options(endpoint_url=s3.endpoint, path_style=True))
    assert target.list() == {"a.txt": 3} and target._client is not None
    assert target.cleanup() == 0


def test_incomplete_uploads_are_found_without_boto3_and_aborted(s3, monkeypatch):
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = s3.make_bucket("uploads-" + uuid.uuid4().hex[:10])
    client = s3.client()
    started = client.create_multipart_upload(Bucket=bucket, Key="site/big file.mp4")["UploadId"]
    client.create_multipart_upload(Bucket=bucket, Key="other/not-ours.mp4")
    found = s3list.list_uploads(bucket, "site/", endpoint_url=s3.endpoint, region=None, path_style=True, env=s3.env)
    assert found == [("site/big file.mp4", started)]
    target = S3Target(parse_target(f"s3://{bucket}/site"), S3Options(endpoint_url=s3.endpoint, path_style=True))
    assert target.cleanup() == 1
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["other/not-ours.mp4"]
