"""Anomaly check benchmark: the robust anomaly check (rolling median and MAD) against the anomaly windows that
the Numenta Anomaly Benchmark labels, beside a plain rolling z-score (mean and standard deviation) on the same
windows and thresholds, in one run.

Run by hand from the project root:

    .venv/bin/python bench/anomaly.py

Data: the seven NAB files shipped with the tests (tests/data/nab; naive stamps taken as UTC, as the `file`
source does) and NAB's labelled windows (`anomaly_windows.json`, both ends included). Each file is scored
whole, as the daily check scores it with the stored days before each partition. Figures:
- point precision: the share of flagged readings that lie inside a labelled window (by chance it is the share
  of all readings inside one: the "base" column);
- event precision: flagged readings less than an hour apart form one event; the share of events that touch a
  labelled window;
- recall: the share of labelled windows holding at least one flagged reading.

Tables go to stdout and to bench/results/anomaly.md.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from datahub_assets.engine.anomaly import anomalies
from datahub_assets.engine.schema import TS, VALUE, clean

NAB = Path(__file__).resolve().parent.parent / "tests" / "data" / "nab"
RESULTS = Path(__file__).resolve().parent / "results" / "anomaly.md"
EVENT_GAP = timedelta(hours=1)
WINDOWS = (timedelta(days=1), timedelta(days=3))
THRESHOLDS = (3.0, 4.0, 5.0, 6.0, 8.0)
DEFAULT = (timedelta(days=3), 5.0)  # the catalog's default rule
MIN_POINTS = 12

Detector = Callable[[pl.LazyFrame, timedelta, float], pl.DataFrame]


def robust(readings: pl.LazyFrame, window: timedelta, threshold: float) -> pl.DataFrame:
    return anomalies(readings, window=window, threshold=threshold, min_points=MIN_POINTS).select(TS).collect()


def zscore(readings: pl.LazyFrame, window: timedelta, threshold: float) -> pl.DataFrame:
    """The plain peer: distance from the rolling mean in rolling standard deviations, same trailing window."""
    rolling = {"window_size": window, "min_samples": MIN_POINTS, "closed": "both"}
    mean = pl.col(VALUE).rolling_mean_by(TS, **rolling)  # type: ignore[arg-type]
    std = pl.col(VALUE).rolling_std_by(TS, **rolling)  # type: ignore[arg-type]
    score = pl.when(std > 0).then((pl.col(VALUE) - mean).abs() / std)
    return readings.filter(score > threshold).select(TS).collect()


DETECTORS: dict[str, Detector] = {"engine: rolling median + MAD": robust, "peer: rolling mean + std": zscore}


@dataclass
class Tally:
    readings: int = 0
    inside: int = 0
    flagged: int = 0
    flagged_inside: int = 0
    events: int = 0
    events_inside: int = 0
    windows: int = 0
    found: int = 0
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self) -> list[str]:
        def share(a: int, b: int) -> str:
            return f"{a / b:.2f}" if b else "-"
        return [str(self.flagged), share(self.flagged_inside, self.flagged), share(self.events_inside, self.events),
                f"{self.found}/{self.windows}", share(self.found, self.windows), share(self.inside, self.readings)]


def load(name: str) -> tuple[pl.DataFrame, list[tuple[datetime, datetime]]]:
    readings = clean(pl.scan_csv(NAB / name, try_parse_dates=True).rename({"timestamp": TS})).collect()
    windows = json.loads((NAB / "anomaly_windows.json").read_text())[name]
    return readings, [(datetime.fromisoformat(a).replace(tzinfo=UTC), datetime.fromisoformat(b).replace(tzinfo=UTC))
                      for a, b in windows]


def within(windows: list[tuple[datetime, datetime]]) -> pl.Expr:
    return pl.any_horizontal([pl.col(TS).is_between(a, b) for a, b in windows]) if windows else pl.lit(False)


def tally(readings: pl.DataFrame, windows: list[tuple[datetime, datetime]], detect: Detector,
          window: timedelta, threshold: float) -> Tally:
    began = time.perf_counter()
    flagged = detect(readings.lazy(), window, threshold)
    seconds = time.perf_counter() - began
    marked = flagged.with_columns(within(windows).alias("inside"),
                                  (pl.col(TS).diff() >= EVENT_GAP).fill_null(True).cum_sum().alias("event"))
    events = marked.group_by("event").agg(pl.col("inside").any())
    return Tally(
        readings=readings.height, inside=readings.filter(within(windows)).height,
        flagged=flagged.height, flagged_inside=int(marked["inside"].sum()),
        events=events.height, events_inside=int(events["inside"].sum()),
        windows=len(windows), found=sum(flagged.filter(pl.col(TS).is_between(a, b)).height > 0 for a, b in windows),
        seconds=seconds,
    )


HEAD = ["flagged", "point precision", "event precision", "windows found", "recall", "base"]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    files = {name: load(name) for name in json.loads((NAB / "anomaly_windows.json").read_text())}
    out = [f"## Anomaly check against NAB's labels ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
           f"- {platform.platform()}, Python {platform.python_version()}, polars {pl.__version__}",
           f"- {len(files)} files, {sum(r.height for r, _ in files.values()):,} readings, "
           f"{sum(len(w) for _, w in files.values())} labelled windows; min_points {MIN_POINTS}", ""]
    summary = []
    for label, detect in DETECTORS.items():
        for window in WINDOWS:
            for threshold in THRESHOLDS:
                total = Tally()
                for readings, windows in files.values():
                    total.add(tally(readings, windows, detect, window, threshold))
                mark = " (default)" if (window, threshold) == DEFAULT and detect is robust else ""
                summary.append([label + mark, f"{window.days}d", f"{threshold:g}", *total.row(),
                                f"{total.seconds * 1000:.0f}"])
    out += ["### All seven files", "", table(["method", "window", "threshold", *HEAD, "ms"], summary), ""]
    per_file = []
    for name, (readings, windows) in files.items():
        for label, detect in DETECTORS.items():
            per_file.append([name.removesuffix(".csv"), label, *tally(readings, windows, detect, *DEFAULT).row()])
    out += [f"### Per file, window {DEFAULT[0].days}d, threshold {DEFAULT[1]:g}", "",
            table(["file", "method", *HEAD], per_file), ""]
    text = "\n".join(out)
    print(text)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
