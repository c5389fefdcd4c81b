"""The lake: Parquet partitions in a hive layout, on a local folder or under `s3://bucket/prefix`.

`<root>/<tenant>/<layer>/<name...>/date=YYYY-MM-DD/data.parquet` (DESIGN section 5). Writes are atomic:
locally staged under `<root>/.staging/` and moved in with `os.replace`; on S3 one PUT of the whole object.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import PrivateAttr

DATA_FILE = "data.parquet"
HISTORY_FILE = "history.parquet"  # every version of the partition's readings; not matched by `**/data.parquet`
_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_PART = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LakeError(RuntimeError):
    pass


class ParquetLake(dg.ConfigurableResource):
    """One path rule for every reader and writer: assets, checks and the API."""

    root: str = ".datahub/lake"
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    _s3: Any = PrivateAttr(default=None)

    # -- layout -------------------------------------------------------------------------------------
    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def dataset(self, tenant: str, layer: str, *name: str) -> str:
        """The folder of one dataset: `<root>/<tenant>/<layer>/<name...>`; every part is checked."""
        for part in (tenant, layer, *name):
            if not _PART.match(part):
                raise LakeError(f"invalid lake path part {part!r}")
        return "/".join([self.root.rstrip("/"), tenant, layer, *name])

    def partition(self, dataset: str, day: date, file: str = DATA_FILE) -> str:
        return f"{dataset}/date={day.isoformat()}/{file}"

    # -- writes -------------------------------------------------------------------------------------
    def write(self, dataset: str, day: date, frame: pl.DataFrame, file: str = DATA_FILE) -> str:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd", statistics=True)
        return self.write_bytes(self.partition(dataset, day, file), buffer.getvalue())

    def write_bytes(self, uri: str, data: bytes) -> str:
        """Replace the object at `uri` whole: readers see the old bytes or the new, never a mix."""
        if self.is_s3:
            bucket, key = _split_s3(uri)
            self._client().put_object(Bucket=bucket, Key=key, Body=data)
            return uri
        staging = Path(self.root) / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = staging / f"{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return str(target)

    def delete_partition(self, dataset: str, day: date) -> list[str]:
        """Remove a partition's files (its data, history or CSV); the URIs removed."""
        folder = f"{dataset}/date={day.isoformat()}"
        if self.is_s3:
            bucket, prefix = _split_s3(folder + "/")
            client = self._client()
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
            for start in range(0, len(keys), 1000):
                client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})
            return [f"s3://{bucket}/{k}" for k in keys]
        path = Path(folder)
        removed = [str(f) for f in sorted(path.iterdir()) if f.is_file()] if path.is_dir() else []
        for file in removed:
            Path(file).unlink()
        if path.is_dir():
            path.rmdir()
        return removed

    # -- reads --------------------------------------------------------------------------------------
    def days(self, dataset: str, file: str = DATA_FILE) -> list[date]:
        """The days with a partition (holding `file`), sorted."""
        if self.is_s3:
            # One listing: the keys `date=YYYY-MM-DD/data.parquet` themselves, no request per day.
            bucket, prefix = _split_s3(dataset + "/")
            names = []
            for page in self._client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    folder, _, name = item["Key"][len(prefix):].partition("/")
                    if name == file:
                        names.append(folder)
        else:
            root = Path(dataset)
            names = [p.name for p in root.iterdir() if (p / file).is_file()] if root.is_dir() else []
        return sorted(date.fromisoformat(m.group(1)) for n in names if (m := _DAY_DIR.match(n)))

    def exists(self, dataset: str, day: date, file: str = DATA_FILE) -> bool:
        uri = self.partition(dataset, day, file)
        if self.is_s3:
            bucket, key = _split_s3(uri)
            # The exact key sorts first among keys it prefixes; `data.parquet.partial` alone is no partition.
            listing = self._client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
            return any(item["Key"] == key for item in listing.get("Contents", []))
        return Path(uri).is_file()

    def existing(self, dataset: str, days: Sequence[date]) -> list[date]:
        """Those of `days` that have a partition, in the given order."""
        return list(self.versions(dataset, days))

    def versions(self, dataset: str, days: Sequence[date]) -> dict[date, str]:
        """Those of `days` that have a partition, in the given order, each with a token that changes whenever
        its data file is rewritten (local: modification time and size; S3: the ETag): one look per day."""
        out: dict[date, str] = {}
        for day in days:
            uri = self.partition(dataset, day)
            if self.is_s3:
                bucket, key = _split_s3(uri)
                listing = self._client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
                found = next((i for i in listing.get("Contents", []) if i["Key"] == key), None)
                if found is not None:
                    out[day] = str(found.get("ETag", "")) + ":" + str(found.get("Size", ""))
            else:
                try:
                    stat = os.stat(uri)
                except OSError:
                    continue
                out[day] = f"{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"
        return out

    def scan(self, dataset: str, days: Sequence[date]) -> pl.LazyFrame | None:
        """The given days' partitions as one lazy frame (None when none of them exists)."""
        return self.scan_existing(dataset, self.existing(dataset, days))

    def scan_existing(self, dataset: str, days: Sequence[date], file: str = DATA_FILE) -> pl.LazyFrame | None:
        """`scan` for days already known to have a partition (no second check per day)."""
        if not days:
            return None
        uris = [self.partition(dataset, d, file) for d in days]
        return pl.scan_parquet(uris, storage_options=self.storage_options(), hive_partitioning=False)

    def read_file(self, dataset: str, day: date, file: str) -> pl.DataFrame | None:
        """One file of a partition (e.g. its history), or None when there is none."""
        if not self.exists(dataset, day, file):
            return None
        frame = self.scan_existing(dataset, [day], file)
        return None if frame is None else frame.collect()

    def modified(self, dataset: str, day: date) -> datetime | None:
        """When the partition's data file was last written (None when there is none)."""
        uri = self.partition(dataset, day)
        if self.is_s3:
            bucket, key = _split_s3(uri)
            try:
                stamp = self._client().head_object(Bucket=bucket, Key=key)["LastModified"]
            except Exception:  # absent (404) or unreadable
                return None
            return stamp.astimezone(UTC) if isinstance(stamp, datetime) else None
        path = Path(uri)
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.is_file() else None

    def read(self, dataset: str, day: date) -> pl.DataFrame:
        frame = self.scan(dataset, [day])
        if frame is None:
            raise LakeError(f"partition {day} of {dataset.removeprefix(self.root)} is not materialized")
        return frame.collect()

    def storage_options(self) -> dict[str, str] | None:
        """Options for Polars' own object-store reader (None on a local folder)."""
        if not self.is_s3:
            return None
        return s3_storage_options(self.s3_endpoint, self.s3_access_key, self.s3_secret_key, self.s3_region)

    def check(self) -> None:
        """Raise unless the lake's root can be listed (readiness)."""
        if self.is_s3:
            bucket, _ = _split_s3(self.root + "/")
            self._client().head_bucket(Bucket=bucket)
        else:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = self._new_client()
        return self._s3

    def _new_client(self) -> Any:
        from dagster_aws.s3 import S3Resource

        return S3Resource(
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.s3_access_key,
            aws_secret_access_key=self.s3_secret_key,
            region_name=self.s3_region,
        ).get_client()


def s3_storage_options(
    endpoint: str | None, access_key: str | None, secret_key: str | None, region: str
) -> dict[str, str]:
    options = {"aws_region": region}
    if endpoint:
        options["aws_endpoint_url"] = endpoint
        options["aws_allow_http"] = str(endpoint.startswith("http://")).lower()
    if access_key:
        options["aws_access_key_id"] = access_key
    if secret_key:
        options["aws_secret_access_key"] = secret_key
    return options


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
