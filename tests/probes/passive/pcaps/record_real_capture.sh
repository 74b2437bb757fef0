#!/usr/bin/env bash
# Records real_lo_eth.pcap (DLT_EN10MB on lo) and real_any_sll2.pcap (DLT_LINUX_SLL2 on "any")
# of real_traffic.py in a throw-away network namespace, then prints what tcpdump sees so the
# counts in MANIFEST can be checked by hand. Needs root; touches nothing outside the namespace.
set -euo pipefail
cd "$(dirname "$0")"
[[ $(id -u) -eq 0 ]] || { echo "needs root (ip netns, tcpdump)"; exit 77; }

ns="cw-passive-rec-$$"
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up

ip netns exec "$ns" tcpdump -i lo -s 128 -U -w real_lo_eth.pcap 'tcp' 2>/dev/null &
lo_pid=$!
ip netns exec "$ns" tcpdump -i any -y LINUX_SLL2 -s 128 -U -w real_any_sll2.pcap 'tcp' 2>/dev/null &
any_pid=$!
sleep 1
ip netns exec "$ns" python3 real_traffic.py
sleep 1
kill -INT "$lo_pid" "$any_pid"
wait "$lo_pid" "$any_pid" || true

filter='(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or (ip6 and ip6[6] == 6 and (ip6[53] & 0x07) != 0)'
for f in real_lo_eth.pcap real_any_sll2.pcap; do
  echo "== $f: $(tcpdump -nr "$f" 2>/dev/null | wc -l) packets, $(tcpdump -nr "$f" "$filter" 2>/dev/null | wc -l) SYN/FIN/RST"
  tcpdump -nr "$f" "$filter" 2>/dev/null
done
