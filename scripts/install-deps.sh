#!/usr/bin/env bash
# Installs everything connwatch needs to build, test and run, from Debian 12 packages.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format clang-tidy libclang-rt-14-dev
  # libraries (the fixed stack)
  libboost-dev libpcre2-dev libpcap-dev prometheus-cpp-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcap-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev  # the exporter-toolkit web config (--web.config.file)
  # what the tests meet as a user would: promtool, a real Prometheus, Alertmanager and
  # Pushgateway (the fleet test's alert path and --diagnose --push-gateway), curl, the lab's tools
  prometheus prometheus-alertmanager prometheus-pushgateway
  # /probe is checked against blackbox_exporter on the same module file (agent.probe_endpoint_lab)
  prometheus-blackbox-exporter
  curl iproute2 iptables tcpdump nginx-light procps python3 openssl wrk
  # tcpreplay: the live passive benchmark replays its capture onto a lab veth at top speed
  # (tests/bench/passive_tcpreplay_bench.py)
  tcpreplay
  # setcap and setpriv: the file-capabilities privilege test (tests/agent/agent_privilege_test.py)
  libcap2-bin util-linux
  # JSON schema validation of the diagnose report; YAML for rules and deploy manifests
  python3-jsonschema python3-yaml
  # scripts/package.sh and its test: the .deb (dpkg-shlibdeps), the OCI image (podman, run with
  # the runc runtime: crun refuses hybrid cgroups), CA certificates copied into the image
  dpkg-dev podman runc ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # The Prometheus and nginx packages start services on install; the tests start their own.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for svc in prometheus prometheus-alertmanager prometheus-pushgateway \
             prometheus-blackbox-exporter nginx; do
    $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi
