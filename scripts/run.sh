#!/usr/bin/env bash
# Installs dependencies, builds, and runs the agent with config/agent.toml (/metrics on :9873).
# Extra arguments go to the agent, e.g. scripts/run.sh --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
# Capture needs CAP_NET_RAW: as root it runs as is; otherwise capture stays down and the rest runs.
exec build/default/agent/agent --config config/agent.toml "$@"
