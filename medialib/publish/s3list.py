"""A quick listing of an S3 prefix without boto3: one signed GET per 1,000 keys.

Publishing with nothing to do is dominated by start-up, and most of boto3's
share of it is spent before and after the one request that matters: importing
botocore and loading the S3 service model (~0.2 s), then parsing the XML reply
through that model (~0.1 s for 1,000 keys). This module sends the same
ListObjectsV2 request, signed with AWS Signature Version 4, through
``http.client`` and reads the reply with ElementTree.

It only takes the simple, common case and says so by returning None, so that
the caller falls back to boto3, which then also produces the error message:

- credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN),
  the first place boto3's own credential chain looks, and no AWS_PROFILE;
- path-style addressing with an endpoint URL, or AWS itself with a known region;
- no HTTP(S) proxy settings;
- any answer but 200 (a wrong region, refused credentials, a missing bucket,
  a server that is down) or an unreadable reply.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import os
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit
from xml.etree import ElementTree

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


class Unsupported(Exception):
    """This case is left to boto3."""


# Whatever goes wrong on the quick path hands the case to boto3 (which words the error).
GIVE_WAY = (Unsupported, OSError, http.client.HTTPException, ElementTree.ParseError, ValueError, KeyError)


def uri_encode(text: str, safe: str = "") -> str:
    """SigV4's URI encoding: every byte but the unreserved characters A-Z a-z 0-9 - _ . ~ as %XX."""
    return quote(text, safe="-_.~" + safe)


def query_string(query: Mapping[str, str]) -> str:
    """The query as SigV4 signs it (sorted, URI-encoded); sent the same way."""
    return "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in sorted(query.items()))


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(method: str, host: str, path: str, query: Mapping[str, str], *, access_key: str, secret_key: str,
         region: str, now: dt.datetime, token: str | None = None, service: str = "s3",
         payload_sha256: str = EMPTY_SHA256) -> dict[str, str]:  # fmt: skip
    """The headers that sign a request with AWS Signature Version 4 (no body).

    ``path`` is the request path as sent, already URI-encoded."""
    stamp = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {"host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": stamp}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([
        method, path, query_string(query),
        "".join(f"{name}:{headers[name].strip()}\n" for name in names),
        ";".join(names), payload_sha256,
    ])  # fmt: skip
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret_key, day, region, service), to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()  # fmt: skip
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")  # fmt: skip
    return headers


def _where(bucket: str, endpoint_url: str | None, region: str | None, path_style: bool,
           env: Mapping[str, str]) -> tuple[str, str, str, str]:  # fmt: skip
    """(scheme, host[:port], request path of the bucket, signing region)."""
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if endpoint_url:
        if not path_style:
            raise Unsupported("virtual-hosted addressing on a custom endpoint")
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise Unsupported("an endpoint URL with a path")
        return parts.scheme, parts.netloc, "/" + uri_encode(bucket), region or "us-east-1"
    if not region:
        raise Unsupported("no region: boto3 finds the bucket's region")
    if path_style:
        return "https", f"s3.{region}.amazonaws.com", "/" + uri_encode(bucket), region
    if "." in bucket:
        raise Unsupported("a dotted bucket name needs path-style addressing over TLS")
    return "https", f"{bucket}.s3.{region}.amazonaws.com", "/", region


def list_prefix(bucket: str, prefix: str, *, endpoint_url: str | None, region: str | None, path_style: bool,
                env: Mapping[str, str] | None = None, timeout: float = 10.0) -> dict[str, int] | None:  # fmt: skip
    """Every key under ``prefix`` with its size, or None where boto3 must do it (see the module text)."""
    out: dict[str, int] = {}
    try:
        with _Bucket(bucket, endpoint_url, region, path_style, os.environ if env is None else env, timeout) as b:
            token: str | None = None
            while True:
                query = {"list-type": "2", "prefix": prefix, "max-keys": "1000", "encoding-type": "url"}
                if token:
                    query["continuation-token"] = token
                token = _read_page(b.get(query), out)
                if token is None:
                    return out
    except GIVE_WAY:
        return None


def list_uploads(bucket: str, prefix: str, *, endpoint_url: str | None, region: str | None, path_style: bool,
                 env: Mapping[str, str] | None = None, timeout: float = 10.0) -> list[tuple[str, str]] | None:  # fmt: skip
    """(key, upload id) of the first 1,000 incomplete multipart uploads under ``prefix``, or None
    where boto3 must look (see the module text)."""
    try:
        with _Bucket(bucket, endpoint_url, region, path_style, os.environ if env is None else env, timeout) as b:
            root = b.get({"uploads": "", "prefix": prefix, "encoding-type": "url"})
        if root.tag != NS + "ListMultipartUploadsResult":
            raise ValueError(f"unexpected reply {root.tag}")
        encoded = (root.findtext(NS + "EncodingType") or "") == "url"
        out = []
        for upload in root.iter(NS + "Upload"):
            key, upload_id = upload.findtext(NS + "Key"), upload.findtext(NS + "UploadId")
            if key is None or upload_id is None:
                raise ValueError("an upload without Key or UploadId")
            out.append((unquote_plus(key) if encoded else key, upload_id))
        return out
    except GIVE_WAY:
        return None


class _Bucket:
    """Signed GETs on one bucket over one connection; Unsupported for anything but a 200."""

    def __init__(self, bucket: str, endpoint_url: str | None, region: str | None, path_style: bool,
                 env: Mapping[str, str], timeout: float) -> None:  # fmt: skip
        access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret or env.get("AWS_PROFILE"):
            raise Unsupported("credentials not in the environment")
        if any(env.get(name) or env.get(name.upper()) for name in PROXY_VARIABLES):
            raise Unsupported("a proxy is configured")
        scheme, self.host, self.path, self.region = _where(bucket, endpoint_url, region, path_style, env)
        self.access, self.secret, self.token = access, secret, env.get("AWS_SESSION_TOKEN")
        if scheme == "https":
            context = ssl.create_default_context(cafile=env.get("AWS_CA_BUNDLE") or None)
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(self.host, timeout=timeout,
                                                                                context=context)  # fmt: skip
        else:
            self.conn = http.client.HTTPConnection(self.host, timeout=timeout)

    def __enter__(self) -> "_Bucket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def get(self, query: Mapping[str, str]) -> Any:
        headers = sign("GET", self.host, self.path, query, access_key=self.access, secret_key=self.secret,
                       region=self.region, now=dt.datetime.now(dt.timezone.utc), token=self.token)  # fmt: skip
        del headers["host"]  # http.client sends it
        target = self.path + "?" + query_string(query)
        self.conn.request("GET", target, headers=headers)
        reply = self.conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise Unsupported(f"HTTP {reply.status}")
        return ElementTree.fromstring(body)


def _read_page(root: Any, out: dict[str, int]) -> str | None:
    """Add one ListObjectsV2 page's keys to ``out``; the continuation token if there is more."""
    if root.tag != NS + "ListBucketResult":
        raise ValueError(f"unexpected reply {root.tag}")
    encoded = (root.findtext(NS + "EncodingType") or "") == "url"
    for obj in root.iter(NS + "Contents"):
        key = obj.findtext(NS + "Key")
        size = obj.findtext(NS + "Size")
        if key is None or size is None:
            raise ValueError("an entry without Key or Size")
        out[unquote_plus(key) if encoded else key] = int(size)
    if (root.findtext(NS + "IsTruncated") or "false").strip().lower() == "true":
        token = root.findtext(NS + "NextContinuationToken")
        if not token:
            raise ValueError("a truncated listing without a continuation token")
        return token
    return None
