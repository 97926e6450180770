"""`stepline serve`'s security options, on a real server: HTTPS with a certificate made here, and the refusals
(in one line) of options that cannot be used or of a server open to anyone on another address than loopback."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secured import ALICE, BOB, write_credentials
from serving import REGION, StepLine


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stepline-tests")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_serves_the_signed_api_and_the_console_with_secure_cookies(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = StepLine.start(tmp_path / "stepline.db", options=[
        "--credentials", str(write_credentials(tmp_path / "users")), "--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        assert server.url.startswith("https://127.0.0.1:")
        sfn = boto3.client("stepfunctions", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ALICE[0],
                           aws_secret_access_key=ALICE[1], verify=str(cert),
                           config=Config(retries={"total_max_attempts": 1}))
        assert sfn.list_activities()["activities"] == []
        context = ssl.create_default_context(cafile=str(cert))
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
        connection.request("POST", "/console/login",
                           body=f"access_key_id={ALICE[0]}&secret_access_key={ALICE[1].replace('+', '%2B')}&next=/",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        assert response.status == 303 and response.getheader("location") == "/"
        cookie = response.getheader("set-cookie", "")
        assert cookie.startswith("__Host-stepline-session=")  # only this origin may set it
        assert {"HttpOnly", "Secure", "SameSite=strict"} <= {part.strip() for part in cookie.split(";")}, cookie
        response.read()
        connection.request("GET", "/", headers={"Cookie": cookie.partition(";")[0], "Accept": "text/html"})
        page = connection.getresponse()
        assert page.status == 200 and b'<meta name="stepline-csrf"' in page.read()  # the session, over HTTPS
        connection.close()
        plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError)):  # no plain-text HTTP on the same port
            plain.request("GET", "/console/login")
            plain.getresponse()
        plain.close()
    finally:
        server.stop()


def serve(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stepline.cli.main", "serve", "--port", "0", "--db",
                           str(tmp_path / "stepline.db"), *options], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("options, said", [
    pytest.param(["--host", "0.0.0.0"], "stepline: refusing to serve on 0.0.0.0 without authentication (anyone who "
                 "reaches it could read and run every workflow): give --credentials FILE, or --allow-unauthenticated",
                 id="open-on-every-address"),
    pytest.param(["--credentials", "{tmp}/none"], "stepline: cannot read the credentials file {tmp}/none: [Errno 2] "
                 "No such file or directory: '{tmp}/none'", id="no-credentials-file"),
    pytest.param(["--credentials", "{tmp}/empty"], "stepline: the credentials file {tmp}/empty has no [user] section "
                 "with aws_access_key_id and aws_secret_access_key", id="empty-credentials-file"),
    pytest.param(["--credentials", "{tmp}/keyless"], "stepline: the credentials file {tmp}/keyless: section [carol] "
                 "has no aws_secret_access_key", id="section-without-secret"),
    pytest.param(["--tls-cert", "{tmp}/empty"], "stepline: --tls-cert and --tls-key go together: give both",
                 id="certificate-without-key"),
    pytest.param(["--tls-cert", "{tmp}/empty", "--tls-key", "{tmp}/empty"],
                 "stepline: cannot use --tls-cert {tmp}/empty with --tls-key {tmp}/empty: [SSL]", id="not-a-certificate"),
])
def test_options_that_cannot_be_used_are_refused_in_one_line(tmp_path: Path, options: list[str], said: str) -> None:
    (tmp_path / "empty").write_text("")
    (tmp_path / "keyless").write_text("[carol]\naws_access_key_id = AKIACAROL\n")
    result = serve(tmp_path, *[option.format(tmp=tmp_path) for option in options])
    assert result.returncode == 2
    assert result.stderr.startswith(said.format(tmp=tmp_path)) and result.stderr.count("\n") == 1, result.stderr


def test_serving_on_every_address_without_credentials_is_allowed_when_said(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "stepline.db", options=["--host", "0.0.0.0", "--allow-unauthenticated"])
    try:
        assert server.client().list_activities()["activities"] == []
    finally:
        server.stop()


def test_the_sign_in_link_is_for_the_first_user_without_a_session_token(tmp_path: Path) -> None:
    """A key bound to a session token cannot sign in to the console (the form has no token): nor can its link."""
    users = tmp_path / "users"
    users.write_text(f"[bob]\naws_access_key_id = {BOB[0]}\naws_secret_access_key = {BOB[1]}\n"
                     f"aws_session_token = {BOB[2]}\n\n"
                     f"[alice]\naws_access_key_id = {ALICE[0]}\naws_secret_access_key = {ALICE[1]}\n")
    server = StepLine.start(tmp_path / "stepline.db", options=["--credentials", str(users)])
    try:
        assert server.process.stdout is not None
        line = server.process.stdout.readline()
        assert line.startswith(f"stepline: console sign-in link for alice (works once): {server.url}/console/login?token=")
    finally:
        server.stop()
