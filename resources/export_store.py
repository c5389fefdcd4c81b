"""Where on-demand exports go: an S3 bucket with presigned SigV4 links, or a local folder served by the API."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

EXPORT_PREFIX = "exports"


class ExportStore(dg.ConfigurableResource):
    bucket: str | None = None
    endpoint: str | None = None
    external_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    local_dir: str = ".datahub/exports"
    expires_in: int = 3600
    link_secret: str | None = None  # signs the API's download links; unset: one generated in `local_dir`
    _client: Any = PrivateAttr(default=None)
    _signer: Any = PrivateAttr(default=None)

    @property
    def is_s3(self) -> bool:
        return bool(self.bucket)

    def put(self, tenant: str, data: bytes, suffix: str = ".parquet") -> str:
        """Store one export whole; returns its name (`<uuid><suffix>`), unique per export."""
        name = f"{uuid.uuid4().hex}{suffix}"
        if self.is_s3:
            self._s3().put_object(Bucket=self.bucket, Key=self.key(tenant, name), Body=data)
            return name
        folder = Path(self.local_dir) / tenant
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".{name}.tmp"
        staging.write_bytes(data)
        os.replace(staging, folder / name)
        return name

    def key(self, tenant: str, name: str) -> str:
        return f"{EXPORT_PREFIX}/{tenant}/{name}"

    def presigned_url(self, tenant: str, name: str) -> str:
        """A SigV4 GET link, signed by a client built for the host clients download from."""
        return str(self._presigner().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.key(tenant, name)}, ExpiresIn=self.expires_in
        ))

    def local_link(self, base_url: str, tenant: str, name: str, *, now: float | None = None) -> str:
        """A download link of the API for a file of `local_dir`: signed (HMAC of tenant, name and expiry) and
        valid for `expires_in` seconds, usable by a plain GET."""
        expires = int(now if now is not None else time.time()) + self.expires_in
        signature = self._signature(tenant, name, expires)
        path = f"/api/datahub/export/files/{tenant}/{name}"
        return f"{base_url.rstrip('/')}{path}?expires={expires}&signature={signature}"

    def verify_link(self, tenant: str, name: str, expires: int, signature: str, *, now: float | None = None) -> str:
        """'' when the link is good; otherwise why not ('signature' or 'expired')."""
        if not hmac.compare_digest(self._signature(tenant, name, expires), signature):
            return "signature"
        return "expired" if (now if now is not None else time.time()) > expires else ""

    def _signature(self, tenant: str, name: str, expires: int) -> str:
        message = f"{tenant}\n{name}\n{expires}".encode()
        return hmac.new(self._secret(), message, hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        if self.link_secret:
            return self.link_secret.encode()
        # One secret per exports folder, shared by every worker process that serves it.
        path = Path(self.local_dir) / ".link-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_name(f".link-secret.{uuid.uuid4().hex}")
            staging.write_text(secrets.token_hex(32))
            staging.chmod(0o600)
            try:
                os.link(staging, path)  # first writer wins; later ones read its secret
            except FileExistsError:
                pass
            finally:
                staging.unlink()
        return path.read_text().strip().encode()

    def local_path(self, tenant: str, name: str) -> Path | None:
        path = Path(self.local_dir) / tenant / name
        return path if path.is_file() else None

    def _s3(self) -> Any:
        if self._client is None:
            from dagster_aws.s3 import S3Resource

            self._client = S3Resource(
                endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key, region_name=self.region,
            ).get_client()
        return self._client

    def _presigner(self) -> Any:
        if self._signer is None:
            import boto3
            from botocore.config import Config

            self._signer = boto3.client(
                "s3",
                endpoint_url=self.external_url or self.endpoint,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                region_name=self.region,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            )
        return self._signer
