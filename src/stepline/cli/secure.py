"""`stepline serve`'s security options: who may call it (--credentials), HTTPS (--tls-cert, --tls-key), and the
origins whose pages may call it (--cors-origin).

Without credentials the server answers anyone who reaches it, so it serves only on loopback addresses unless
--allow-unauthenticated says that is meant.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
from typing import Any

from stepline.security.cors import origin_of
from stepline.security.credentials import CredentialsError, load_credentials
from stepline.security.gate import Authenticator


class SecurityError(Exception):
    """Security options that cannot be used; the message says why in one line."""


def add_security_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--credentials", metavar="FILE",
                       help="require every API request to be signed (SigV4) with a key of this AWS "
                            "shared-credentials file, and the console to be signed in to (or STEPLINE_CREDENTIALS)")
    serve.add_argument("--allow-unauthenticated", action="store_true",
                       help="serve without --credentials on an address other than loopback")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM; with --tls-key)")
    serve.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert (PEM)")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                       help="let the pages of this origin (https://ops.example.com) call the API (CORS; repeatable, "
                            "or comma separated; or STEPLINE_CORS_ORIGINS). Default: none")


def security_of(args: argparse.Namespace) -> dict[str, Any]:
    """serve()'s `authenticator`, `tls_cert`, `tls_key` and `cors_origins`; SecurityError when the options cannot
    be used."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SecurityError("--tls-cert and --tls-key go together: give both")
    if args.tls_cert:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise SecurityError(f"cannot use --tls-cert {args.tls_cert} with --tls-key {args.tls_key}: "
                                f"{error.strerror or error}") from None
    path = args.credentials or os.environ.get("STEPLINE_CREDENTIALS")
    authenticator = None
    if path:
        try:
            authenticator = Authenticator(load_credentials(path), secure_cookies=bool(args.tls_cert))
        except CredentialsError as error:
            raise SecurityError(str(error)) from None
    elif not _is_loopback(args.host) and not args.allow_unauthenticated:
        raise SecurityError(f"refusing to serve on {args.host} without authentication (anyone who reaches it could "
                            "read and run every workflow): give --credentials FILE, or --allow-unauthenticated")
    return {"authenticator": authenticator, "tls_cert": args.tls_cert, "tls_key": args.tls_key,
            "cors_origins": _cors_origins(args.cors_origin or [os.environ.get("STEPLINE_CORS_ORIGINS", "")])}


def _cors_origins(values: list[str]) -> frozenset[str]:
    origins = set()
    for value in (origin.strip() for values in values for origin in values.split(",")):
        if not value:
            continue
        origin = origin_of(value)
        if origin is None or origin != value.lower().rstrip("/"):
            raise SecurityError(f"--cors-origin {value}: an origin is a scheme, a host and an optional port, "
                                "such as https://ops.example.com or http://localhost:3000")
        origins.add(origin)
    return frozenset(origins)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
