"""Runs that cannot wedge the queue: in-process runs carry their process; a dead process's runs are failed.

`datahub materialize` executes runs in its own process (no run launcher), so Dagster's run monitoring cannot
tell when that process is killed: such a run would stay STARTED forever and hold a slot of the run queue.
Each in-process run is tagged with its host, process id and the process's start time; `fail_dead_runs`
(called when `datahub` starts, and by a sensor the daemon ticks) marks the runs of a process that no longer
exists as failed.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

HOST_TAG = "datahub/host"
PID_TAG = "datahub/pid"
STARTED_TAG = "datahub/pid_started"
_ACTIVE = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
           dg.DagsterRunStatus.CANCELING]


def process_started(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' where /proc is not there)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5), counted after the command name


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the owner of an in-process run."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: process_started(pid)}


def alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or process_started(pid) in ("", started)  # a reused pid is another process


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished in-process runs whose process on this host is gone; their run ids."""
    host = socket.gethostname()
    failed = []
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=_ACTIVE, tags={HOST_TAG: host}))
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or alive(int(pid), run.tags.get(STARTED_TAG, "")):
            continue
        instance.report_run_failed(run, f"the process that ran it ({host}, pid {pid}) is gone; marked failed")
        failed.append(run.run_id)
    return failed
