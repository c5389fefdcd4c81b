#!/usr/bin/env bash
# Sets up, materializes the demo partitions on the embedded default, then serves the Dagster UI and the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/datahub validate
.venv/bin/datahub materialize --select '*' --partition "${DEMO_PARTITIONS:-all}"
exec .venv/bin/datahub up "$@"
