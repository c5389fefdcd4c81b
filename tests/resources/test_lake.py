"""The lake (DESIGN section 5): hive layout, atomic writes, reads by Polars and DuckDB, local and on S3."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from botocore.exceptions import ClientError

import resources.lake as lake_module
from resources.lake import LakeError, ParquetLake
from tests.conftest import S3_BUCKET
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, list_keys

DAYS = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
TS = pl.Datetime("us", "UTC")


def day_frame(day: date, rows: int = 4, offset: float = 0.0) -> pl.DataFrame:
    """`rows` readings on `day`, every 6 hours; values encode the day so mix-ups show."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pl.DataFrame(
        {
            "ts": pl.Series([start + timedelta(hours=6 * i) for i in range(rows)], dtype=TS),
            "value": pl.Series([day.day * 100 + i + offset for i in range(rows)], dtype=pl.Float64),
        }
    )


def files_under(root: Path) -> set[Path]:
    """Every file under the root, dot-folders (`.staging`) included."""
    return {p for p in root.rglob("*") if p.is_file()}


def duckdb_rows(glob: str) -> list[tuple[date, int, float]]:
    """(hive date, epoch microseconds, value) of every row DuckDB reads from the glob, sorted by time."""
    with duckdb.connect() as con:
        return con.execute(
            "SELECT date, epoch_us(ts), value FROM read_parquet(?, hive_partitioning = true) ORDER BY ts",
            [glob],
        ).fetchall()


def expected_rows(frames: dict[date, pl.DataFrame]) -> list[tuple[date, int, float]]:
    return [
        (day, int(ts.timestamp() * 1_000_000), value)
        for day, frame in sorted(frames.items())
        for ts, value in frame.iter_rows()
    ]


# -- local folder ------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def lake(root: Path) -> ParquetLake:
    return ParquetLake(root=str(root))


@pytest.fixture
def dataset(lake: ParquetLake) -> str:
    return lake.dataset("acme", "raw", "meter", "urn_acme_m1_power")


def test_path_layout_is_exactly_the_hive_layout(lake: ParquetLake, root: Path, dataset: str) -> None:
    assert dataset == f"{root}/acme/raw/meter/urn_acme_m1_power"
    assert lake.partition(dataset, date(2024, 3, 1)) == f"{dataset}/date=2024-03-01/data.parquet"

    written = lake.write(dataset, date(2024, 3, 1), day_frame(date(2024, 3, 1)))

    expected = root / "acme" / "raw" / "meter" / "urn_acme_m1_power" / "date=2024-03-01" / "data.parquet"
    assert written == str(expected)
    assert files_under(root) == {expected}
    assert [p.name for p in (root / ".staging").iterdir()] == []


def test_write_read_round_trip(lake: ParquetLake, dataset: str) -> None:
    frame = day_frame(DAYS[0])
    lake.write(dataset, DAYS[0], frame)

    back = lake.read(dataset, DAYS[0])

    assert back.schema == pl.Schema({"ts": TS, "value": pl.Float64})
    assert back.equals(frame)
    assert lake.exists(dataset, DAYS[0])
    assert not lake.exists(dataset, DAYS[1])
    with pytest.raises(LakeError, match="not materialized"):
        lake.read(dataset, DAYS[1])


def test_days_lists_partitions_sorted_and_ignores_others(lake: ParquetLake, dataset: str) -> None:
    assert lake.days(dataset) == []  # no folder yet
    for day in (DAYS[2], DAYS[0], DAYS[1]):
        lake.write(dataset, day, day_frame(day))
    Path(dataset, "date=2024-02-28").mkdir()  # a day folder without its data file
    Path(dataset, "date=garbage").mkdir()
    Path(dataset, "notes.txt").write_text("not a partition")

    assert lake.days(dataset) == DAYS


def test_scan_over_several_days(lake: ParquetLake, dataset: str) -> None:
    frames = {day: day_frame(day) for day in DAYS}
    for day, frame in frames.items():
        lake.write(dataset, day, frame)

    scanned = lake.scan(dataset, [DAYS[0], date(2024, 2, 1), DAYS[2]])  # a missing day is left out
    assert scanned is not None
    assert scanned.collect().sort("ts").equals(pl.concat([frames[DAYS[0]], frames[DAYS[2]]]))
    assert lake.scan(dataset, [date(2024, 2, 1)]) is None


def test_overwrite_replaces_the_partition(lake: ParquetLake, root: Path, dataset: str) -> None:
    lake.write(dataset, DAYS[0], day_frame(DAYS[0], rows=4))
    new = day_frame(DAYS[0], rows=2, offset=0.5)
    lake.write(dataset, DAYS[0], new)

    assert lake.read(dataset, DAYS[0]).equals(new)
    assert files_under(root) == {Path(lake.partition(dataset, DAYS[0]))}


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "", "a b", "x" * 65, "date=2024-01-01", "a\\b"])
@pytest.mark.parametrize("position", ["tenant", "layer", "name"])
def test_invalid_path_parts_are_rejected(lake: ParquetLake, root: Path, bad: str, position: str) -> None:
    parts = {"tenant": "acme", "layer": "raw", "name": "meter"} | {position: bad}
    with pytest.raises(LakeError, match="invalid lake path part"):
        lake.dataset(parts["tenant"], parts["layer"], parts["name"], "slug")
    assert not root.exists()


# -- atomic local writes ------------------------------------------------------------------------------


class _TornFile:
    """A file handle whose `write` puts half the bytes on disk, lets `during` look, then fails."""

    def __init__(self, handle: Any, during: Any) -> None:
        self._handle = handle
        self._during = during

    def __enter__(self) -> _TornFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        self._during()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


@pytest.fixture
def tear_writes(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[Path]]:
    """`tear_writes(during)`: from then on every file the lake opens fails halfway through its write, after
    `during()` ran; returns the list the opened paths are recorded in."""

    def arm(during: Callable[[], object] = lambda: None) -> list[Path]:
        opened: list[Path] = []

        def torn_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> _TornFile:
            opened.append(Path(path))
            return _TornFile(open(path, mode, *args, **kwargs), during)

        # `open` inside resources.lake resolves to this module global before the builtin.
        monkeypatch.setattr(lake_module, "open", torn_open, raising=False)
        return opened

    return arm


def test_failure_mid_write_leaves_the_previous_partition(
    lake: ParquetLake, root: Path, dataset: str, tear_writes: Callable[..., list[Path]]
) -> None:
    old = day_frame(DAYS[0])
    target = Path(lake.partition(dataset, DAYS[0]))
    lake.write(dataset, DAYS[0], old)
    seen_mid_write: list[pl.DataFrame] = []
    opened = tear_writes(during=lambda: seen_mid_write.append(pl.read_parquet(target)))

    with pytest.raises(OSError, match="No space left"):
        lake.write(dataset, DAYS[0], day_frame(DAYS[0], rows=2, offset=0.5))

    # The half-written bytes went to a staging file outside the partition tree, never to the target.
    assert len(opened) == 1
    assert opened[0].parent == root / ".staging"
    assert opened[0] != target
    assert seen_mid_write[0].equals(old)  # a reader during the write saw the old partition whole
    # Afterwards: the old partition, intact; no other file anywhere (staging file removed).
    assert lake.read(dataset, DAYS[0]).equals(old)
    assert pl.read_parquet(target).equals(old)
    assert files_under(root) == {target}
    assert list(root.glob("**/data.parquet")) == [target]
    assert list((root / ".staging").iterdir()) == []


def test_failure_mid_first_write_leaves_no_partition(
    lake: ParquetLake, root: Path, dataset: str, tear_writes: Callable[..., list[Path]]
) -> None:
    tear_writes()
    with pytest.raises(OSError, match="No space left"):
        lake.write(dataset, DAYS[0], day_frame(DAYS[0]))

    assert files_under(root) == set()
    assert not lake.exists(dataset, DAYS[0])
    assert lake.days(dataset) == []
    assert lake.scan(dataset, DAYS) is None


def test_failed_replace_leaves_the_previous_partition(
    lake: ParquetLake, root: Path, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = day_frame(DAYS[0])
    target = Path(lake.partition(dataset, DAYS[0]))
    lake.write(dataset, DAYS[0], old)
    staged: list[bytes] = []

    def failing_replace(src: Any, dst: Any) -> None:
        staged.append(Path(src).read_bytes())
        assert Path(src).parent == root / ".staging"
        assert Path(dst) == target
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", failing_replace)
    new = day_frame(DAYS[0], rows=2, offset=0.5)
    with pytest.raises(OSError, match="Input/output error"):
        lake.write(dataset, DAYS[0], new)
    monkeypatch.undo()

    assert pl.read_parquet(io.BytesIO(staged[0])).equals(new)  # the whole new file was staged ...
    assert lake.read(dataset, DAYS[0]).equals(old)  # ... but never moved in
    assert files_under(root) == {target}


def test_a_reader_during_a_write_sees_the_old_partition_then_the_new(
    lake: ParquetLake, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = day_frame(DAYS[0]), day_frame(DAYS[0], rows=3, offset=0.25)
    target = Path(lake.partition(dataset, DAYS[0]))
    lake.write(dataset, DAYS[0], old)
    real_replace = os.replace
    seen_before_replace: list[pl.DataFrame] = []

    def observed_replace(src: Any, dst: Any) -> None:
        seen_before_replace.append(pl.read_parquet(target))  # staged file complete, not yet moved in
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", observed_replace)
    lake.write(dataset, DAYS[0], new)
    monkeypatch.undo()

    assert seen_before_replace[0].equals(old)
    assert lake.read(dataset, DAYS[0]).equals(new)


# -- plain Polars and DuckDB read the local layout ----------------------------------------------------


@pytest.fixture
def three_days(lake: ParquetLake, dataset: str) -> dict[date, pl.DataFrame]:
    frames = {day: day_frame(day) for day in DAYS}
    for day, frame in frames.items():
        lake.write(dataset, day, frame)
    (Path(lake.root) / ".staging" / "stale.tmp").write_bytes(b"PAR1 torn")  # e.g. left by a killed run
    return frames


def test_plain_polars_reads_the_hive_layout(root: Path, three_days: dict[date, pl.DataFrame]) -> None:
    frame = pl.scan_parquet(f"{root}/**/data.parquet", hive_partitioning=True).collect().sort("ts")

    assert frame.schema == pl.Schema({"ts": TS, "value": pl.Float64, "date": pl.Date})
    expected = pl.concat([f.with_columns(date=pl.lit(d)) for d, f in sorted(three_days.items())])
    assert frame.equals(expected)


def test_duckdb_reads_the_hive_layout(root: Path, three_days: dict[date, pl.DataFrame]) -> None:
    assert duckdb_rows(f"{root}/**/data.parquet") == expected_rows(three_days)


# -- S3 (moto over HTTP) ------------------------------------------------------------------------------


@pytest.fixture
def s3_lake(s3_endpoint: str) -> ParquetLake:
    """A lake under its own prefix of the session's bucket."""
    return ParquetLake(
        root=f"s3://{S3_BUCKET}/lake-{uuid.uuid4().hex[:8]}",
        s3_endpoint=s3_endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_region=REGION,
    )


@pytest.fixture
def s3_dataset(s3_lake: ParquetLake) -> str:
    return s3_lake.dataset("acme", "raw", "meter", "urn_acme_m1_power")


def _prefix(lake: ParquetLake) -> str:
    return lake.root.removeprefix(f"s3://{S3_BUCKET}/") + "/"


@pytest.mark.integration
def test_s3_write_days_exists_scan_read(s3_lake: ParquetLake, s3_dataset: str, s3: Any) -> None:
    frames = {day: day_frame(day) for day in DAYS}
    assert s3_lake.days(s3_dataset) == []
    for day in (DAYS[2], DAYS[0], DAYS[1]):
        uri = s3_lake.write(s3_dataset, day, frames[day])
        assert uri == f"{s3_lake.root}/acme/raw/meter/urn_acme_m1_power/date={day}/data.parquet"

    prefix = _prefix(s3_lake)
    # One object per partition at its final key, nothing else (no staging or temporary objects).
    assert list_keys(s3, S3_BUCKET, prefix) == [
        f"{prefix}acme/raw/meter/urn_acme_m1_power/date={day}/data.parquet" for day in DAYS
    ]
    assert s3_lake.days(s3_dataset) == DAYS
    assert s3_lake.exists(s3_dataset, DAYS[1])
    assert not s3_lake.exists(s3_dataset, date(2024, 2, 1))

    assert s3_lake.storage_options() == {
        "aws_region": REGION,
        "aws_endpoint_url": s3_lake.s3_endpoint,
        "aws_allow_http": "true",
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
    }
    back = s3_lake.read(s3_dataset, DAYS[1])  # through Polars' object-store reader
    assert back.schema == pl.Schema({"ts": TS, "value": pl.Float64})
    assert back.equals(frames[DAYS[1]])
    scanned = s3_lake.scan(s3_dataset, [DAYS[0], date(2024, 2, 1), DAYS[2]])
    assert scanned is not None
    assert scanned.collect().sort("ts").equals(pl.concat([frames[DAYS[0]], frames[DAYS[2]]]))
    assert s3_lake.scan(s3_dataset, [date(2024, 2, 1)]) is None
    with pytest.raises(LakeError, match="not materialized"):
        s3_lake.read(s3_dataset, date(2024, 2, 1))


@pytest.mark.integration
def test_s3_days_and_exists_need_the_data_file_itself(s3_lake: ParquetLake, s3_dataset: str, s3: Any) -> None:
    s3_lake.write(s3_dataset, DAYS[0], day_frame(DAYS[0]))
    _, key_prefix = s3_dataset.removeprefix("s3://").split("/", 1)
    # Objects in a day "folder" that are not its data file: a day with only these is no partition.
    s3.put_object(Bucket=S3_BUCKET, Key=f"{key_prefix}/date=2024-03-05/data.parquet.partial", Body=b"torn")
    s3.put_object(Bucket=S3_BUCKET, Key=f"{key_prefix}/date=2024-03-06/_SUCCESS", Body=b"")
    s3.put_object(Bucket=S3_BUCKET, Key=f"{key_prefix}/date=garbage/data.parquet", Body=b"")

    assert not s3_lake.exists(s3_dataset, date(2024, 3, 5))
    assert not s3_lake.exists(s3_dataset, date(2024, 3, 6))
    assert s3_lake.days(s3_dataset) == [DAYS[0]]
    assert s3_lake.scan(s3_dataset, [date(2024, 3, 5)]) is None


@pytest.mark.integration
def test_s3_overwrite_replaces_the_whole_object(s3_lake: ParquetLake, s3_dataset: str, s3: Any) -> None:
    s3_lake.write(s3_dataset, DAYS[0], day_frame(DAYS[0], rows=4))
    new = day_frame(DAYS[0], rows=2, offset=0.5)
    uri = s3_lake.write(s3_dataset, DAYS[0], new)

    key = uri.removeprefix(f"s3://{S3_BUCKET}/")
    assert list_keys(s3, S3_BUCKET, _prefix(s3_lake)) == [key]
    assert pl.read_parquet(io.BytesIO(s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read())).equals(new)
    assert s3_lake.read(s3_dataset, DAYS[0]).equals(new)

    payload = b"exact bytes, whole object"
    s3_lake.write_bytes(uri, payload)
    assert s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read() == payload


@pytest.mark.integration
def test_s3_layout_read_by_plain_polars_and_duckdb(
    s3_lake: ParquetLake, s3_dataset: str, s3: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    frames = {day: day_frame(day) for day in DAYS}
    for day, frame in frames.items():
        s3_lake.write(s3_dataset, day, frame)

    polars_frame = (
        pl.scan_parquet(
            f"{s3_lake.root}/**/data.parquet", hive_partitioning=True, storage_options=s3_lake.storage_options()
        )
        .collect()
        .sort("ts")
    )
    assert polars_frame.schema == pl.Schema({"ts": TS, "value": pl.Float64, "date": pl.Date})
    expected = pl.concat([f.with_columns(date=pl.lit(d)) for d, f in sorted(frames.items())])
    assert polars_frame.equals(expected)

    rows = _duckdb_rows_over_httpfs(s3_lake, s3_endpoint)
    if rows is None:
        # No httpfs extension (it is downloaded from extensions.duckdb.org, not PyPI): read the same keys,
        # copied byte for byte with boto3 into the same layout, with DuckDB's hive reader.
        for key in list_keys(s3, S3_BUCKET, _prefix(s3_lake)):
            local = tmp_path / "mirror" / key
            local.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(S3_BUCKET, key, str(local))
        rows = duckdb_rows(f"{tmp_path / 'mirror'}/**/data.parquet")
    assert rows == expected_rows(frames)


def _duckdb_rows_over_httpfs(lake: ParquetLake, endpoint: str) -> list[tuple[date, int, float]] | None:
    """DuckDB reading the S3 layout itself, or None when its httpfs extension cannot be loaded here."""
    with duckdb.connect() as con:
        try:
            con.execute("LOAD httpfs")
        except duckdb.Error:
            try:
                con.execute("INSTALL httpfs")
                con.execute("LOAD httpfs")
            except duckdb.Error:
                return None
        con.execute(
            f"CREATE SECRET moto (TYPE s3, KEY_ID '{ACCESS_KEY}', SECRET '{SECRET_KEY}', REGION '{REGION}', "
            f"ENDPOINT '{endpoint.removeprefix('http://')}', URL_STYLE 'path', USE_SSL false)"
        )
        return con.execute(
            "SELECT date, epoch_us(ts), value FROM read_parquet(?, hive_partitioning = true) ORDER BY ts",
            [f"{lake.root}/**/data.parquet"],
        ).fetchall()


@pytest.mark.integration
def test_s3_check_passes_for_an_existing_bucket_and_fails_for_a_missing_one(
    s3_lake: ParquetLake, s3_endpoint: str
) -> None:
    s3_lake.check()

    missing = ParquetLake(
        root="s3://no-such-bucket/lake",
        s3_endpoint=s3_endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_region=REGION,
    )
    with pytest.raises(ClientError) as failure:
        missing.check()
    assert failure.value.response["Error"]["Code"] in {"404", "NoSuchBucket"}
