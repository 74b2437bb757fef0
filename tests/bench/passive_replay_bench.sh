#!/usr/bin/env bash
# Times connwatch's pcap replay against tcpdump reading the same file with the same filter.
#
#   tests/bench/passive_replay_bench.sh [BUILD_DIR]        (default build/default)
#
# Generates (once, cached in $BENCH_DIR, default /tmp/connwatch-bench) a capture of >= 5 million
# SYN/FIN/RST segments over >= 100k distinct flows, checks replay's counts against what the
# generator wrote, then runs each reader $RUNS times (default 3; the file is in the page cache
# after the first read), also connwatch with --threads 2, and prints packets/s of each, the
# ratios (wall and CPU time), and connwatch's peak RSS with
# max_flows = 262144. Targets: ratio >= 1.0, RSS <= 64 MiB. Not part of ctest.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/default}
bench=$build/tests/probes/passive/passive-replay-bench
[[ -x $bench ]] || { echo "build $bench first: cmake --build $build --target passive-replay-bench"; exit 1; }
command -v tcpdump >/dev/null || { echo "tcpdump not installed"; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time not installed (Debian package: time)"; exit 1; }

dir=${BENCH_DIR:-/tmp/connwatch-bench}
connections=${CONNECTIONS:-1300000}
runs=${RUNS:-3}
pcap=$dir/control-$connections.pcap
mkdir -p "$dir"
# Each run's outputs stay its own: two runs at once share only the cached capture.
work=$(mktemp -d "$dir/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [[ ! -s $pcap || ! -s $pcap.expected.json ]]; then
  "$bench" generate "$pcap" --connections "$connections" > "$pcap.expected.json"
fi
filter='(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or (ip6 and ip6[6] == 6 and (ip6[53] & 0x07) != 0)'
filter="($filter) or (vlan and (($filter) or (vlan and ($filter))))"  # what replay uses on Ethernet

# Wall seconds, CPU seconds (user + system) and peak RSS (KiB) of one command, from GNU time.
# Both times are printed: on a machine shared with other work the wall clock measures the
# neighbours too, the CPU time much less so.
measure() {
  local log=$work/time.log
  /usr/bin/time -v -o "$log" "$@" > "$work/out.txt" 2> "$work/err.txt"
  local elapsed rss user system
  elapsed=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  user=$(awk -F': ' '/User time/ {print $2}' "$log")
  system=$(awk -F': ' '/System time/ {print $2}' "$log")
  # h:mm:ss or m:ss.ss -> seconds
  python3 -c "import sys; p=[float(x) for x in sys.argv[1].split(':')]; print(sum(v*60**i for i,v in enumerate(reversed(p))), float(sys.argv[3]) + float(sys.argv[4]), sys.argv[2])" "$elapsed" "$rss" "$user" "$system"
}

cat "$pcap" > /dev/null  # warm the page cache for both readers
packets=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['packets'])" "$pcap.expected.json")
flows=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['flows_distinct'])" "$pcap.expected.json")
echo "capture: $pcap ($(du -h "$pcap" | cut -f1)), $packets packets, $flows distinct flows"

check_counts() {
  python3 - "$pcap.expected.json" "$work/out.txt" <<'EOF'
import json, sys
expected = json.load(open(sys.argv[1]))
actual = json.load(open(sys.argv[2]))
for key in ("packets", "connections", "resets", "time_wait_entries", "closes", "malformed", "truncated"):
    if expected[key] != actual[key]:
        sys.exit(f"replay counted {key}={actual[key]}, the generator wrote {expected[key]}")
EOF
}

best_cw=999999; best_td=999999; cpu_cw=999999; cpu_td=999999; rss_cw=0; rss_td=0
best_t2=999999; cpu_t2=999999; rss_t2=0
for ((run = 1; run <= runs; run++)); do
  read -r seconds cpu rss < <(measure "$bench" replay "$pcap" --max-flows 262144)
  check_counts
  best_cw=$(python3 -c "print(min($best_cw, $seconds))"); cpu_cw=$(python3 -c "print(min($cpu_cw, $cpu))")
  rss_cw=$((rss > rss_cw ? rss : rss_cw))
  read -r seconds cpu rss < <(measure "$bench" replay "$pcap" --max-flows 262144 --threads 2)
  check_counts
  best_t2=$(python3 -c "print(min($best_t2, $seconds))"); cpu_t2=$(python3 -c "print(min($cpu_t2, $cpu))")
  rss_t2=$((rss > rss_t2 ? rss : rss_t2))
  read -r seconds cpu rss < <(measure tcpdump -r "$pcap" -w /dev/null "$filter")
  best_td=$(python3 -c "print(min($best_td, $seconds))"); cpu_td=$(python3 -c "print(min($cpu_td, $cpu))")
  rss_td=$((rss > rss_td ? rss : rss_td))
done

python3 - "$packets" "$best_cw" "$best_td" "$rss_cw" "$rss_td" "$cpu_cw" "$cpu_td" "$best_t2" "$cpu_t2" "$rss_t2" <<'EOF'
import sys
packets, cw, td, rss_cw, rss_td = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu_cw, cpu_td = float(sys.argv[6]), float(sys.argv[7])
t2, cpu_t2, rss_t2 = float(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10])
print(f"connwatch replay: {packets / cw:>12,.0f} packets/s  ({cw:.2f} s wall, {cpu_cw:.2f} s CPU, peak RSS {rss_cw / 1024:.1f} MiB)")
print(f"tcpdump -w null: {packets / td:>12,.0f} packets/s  ({td:.2f} s wall, {cpu_td:.2f} s CPU, peak RSS {rss_td / 1024:.1f} MiB)")
ratio = td / cw
print(f"ratio (connwatch / tcpdump throughput), wall: {ratio:.2f}x  target >= 1.0x: {'ok' if ratio >= 1.0 else 'MISSED'}")
print(f"ratio (connwatch / tcpdump throughput), CPU:  {cpu_td / cpu_cw:.2f}x")
print(f"connwatch --threads 2: {packets / t2:>12,.0f} packets/s  ({t2:.2f} s wall, {cpu_t2:.2f} s CPU, peak RSS {rss_t2 / 1024:.1f} MiB)")
print(f"ratio --threads 2 / tcpdump, wall: {td / t2:.2f}x  target >= 1.0x: {'ok' if td / t2 >= 1.0 else 'MISSED'}")
print(f"peak RSS target <= 64 MiB: {'ok' if max(rss_cw, rss_t2) <= 64 * 1024 else 'MISSED'}")
EOF
