"""moto's server as the AWS services that Tasks call: one `moto_server` per test process, on a free port of
127.0.0.1, started on first use and stopped at exit.

    endpoint = moto_endpoint()                 # http://127.0.0.1:PORT
    client = aws_client("dynamodb")            # boto3, pointed at it, with test credentials
"""

from __future__ import annotations

import atexit
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MOTO_SERVER = Path(sys.executable).with_name("moto_server")

_endpoint: str | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def moto_endpoint() -> str:
    """The URL of this process's moto server (started on first use)."""
    global _endpoint
    if _endpoint is None:
        port = free_port()
        process = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(process.kill)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)
        _endpoint = url
    return _endpoint


def aws_environment() -> dict[str, str]:
    """The environment that sends a process's AWS calls to the moto server."""
    return {"AWS_ENDPOINT_URL": moto_endpoint(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def aws_client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint(), **CREDENTIALS)
