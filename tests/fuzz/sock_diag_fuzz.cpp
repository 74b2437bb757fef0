// Fuzzes every parser of probes/kernel: the sock_diag netlink reply parser (with the streaming
// aggregator behind it) and the /proc text parsers. The first byte picks the parser; the rest is
// its input. Seeds: tests/fuzz/corpus/sock_diag/ (real captures and /proc samples, prefixed).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "net/endpoint.h"
#include "probes/kernel/connect_trace.h"
#include "probes/kernel/conntrack_usage.h"
#include "probes/kernel/ephemeral_port_range.h"
#include "probes/kernel/file_descriptor_usage.h"
#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/socket_owners.h"
#include "probes/kernel/socket_table_aggregator.h"
#include "probes/kernel/tcp_event_counter.h"

namespace {

using namespace connwatch::kernel;

// Checks that hold for any input; a violation aborts so the fuzzer reports it.
void check(bool ok) {
  if (!ok) std::abort();
}

struct Counting final : SocketVisitor {
  explicit Counting(SocketTableAggregator& a) : aggregator(a) {}
  void on_socket(const SocketRecord& s) override {
    ++count;
    aggregator.on_socket(s);
    check(!s.remote.to_string().empty());
  }
  SocketTableAggregator& aggregator;
  std::size_t count = 0;
};

void fuzz_sock_diag(std::span<const std::uint8_t> bytes) {
  EphemeralPortRange range;
  range.low = 1024;  // a wide range so more sockets reach the ports table
  range.high = 65535;
  PortSet listening;
  listening.set(8080);
  // Two collections over the same bytes: the second finds every cookie remembered.
  SocketCounterHistory history(/*max_sockets=*/64);
  SocketTableAggregator first(range, listening, /*max_tracked=*/64, &history);
  Counting first_visitor(first);
  parse_sock_diag(bytes, first_visitor);
  history.finish_collection();
  SocketTableAggregator aggregator(range, listening, /*max_tracked=*/64, &history);
  Counting visitor(aggregator);
  const auto result = parse_sock_diag(bytes, visitor);
  check(result.sockets == visitor.count);
  check(!(result.done && result.error));
  const auto summary = aggregator.summarize(3);
  std::uint64_t by_state = 0;
  for (const auto n : summary.by_state) by_state += n;
  check(by_state == summary.sockets && summary.sockets == visitor.count);
  check(summary.time_wait.size() <= 3 && summary.ports_in_use.size() <= 3);
  std::uint64_t time_wait = summary.time_wait_other;
  for (const auto& d : summary.time_wait) time_wait += d.sockets;
  // Every TIME_WAIT socket counts under some destination, the server side's too (issue 16.5).
  check(time_wait == summary.count(TcpState::kTimeWait));
  check(summary.quality.size() <= 3);
  for (const auto& d : summary.quality) check(d.rtt_mean_seconds <= d.rtt_max_seconds);
  for (const auto& d : summary.ports_in_use) check(d.utilization >= 0 && d.utilization <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 11) {
    case 0:
      fuzz_sock_diag(bytes);
      break;
    case 1: {
      TcpEventCounts counts{};
      (void)parse_proc_net_snmp(text, counts);
      break;
    }
    case 2: {
      TcpEventCounts counts{};
      (void)parse_proc_net_netstat(text, counts);
      break;
    }
    case 3: {
      FileDescriptorUsage usage;
      (void)parse_file_nr(text, usage);
      break;
    }
    case 4: {
      EphemeralPortRange range;
      if (!parse_ip_local_port_range(text, range)) check(range.low <= range.high);
      check(range.usable() <= range.size());
      break;
    }
    case 5: {
      EphemeralPortRange range;
      (void)parse_ip_local_reserved_ports(text, range);
      check(range.usable() <= range.size());
      break;
    }
    case 6: {
      std::uint64_t value = 0;
      (void)parse_sysctl_number(text, value);
      break;
    }
    case 7:
      (void)parse_socket_link(text);
      break;
    case 8:
      if (const auto e = Endpoint::parse(text)) check(Endpoint::parse(e->to_string()) == e);
      break;
    case 9:
      if (const auto e = parse_connect_trace_line(text)) {
        check(e->tid > 0 && e->tgid >= 0 && e->destination.port != 0 && e->comm.size() < size);
      }
      break;
    case 10:
      if (const auto p = tracefs_mount_point(text)) check(!p->empty());
      break;
  }
  return 0;
}
