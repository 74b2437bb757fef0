// Source "sock_diag": the kernel's TCP socket tables over NETLINK_SOCK_DIAG, IPv4 and IPv6.
#include "probes/kernel/collectors.h"
#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/sock_diag_socket.h"
#include "probes/kernel/socket_table_aggregator.h"

namespace connwatch::kernel {

std::error_code collect_sock_diag(const KernelOptions& options, KernelSnapshot& snapshot) {
  // Without the sysctls (port_range failed) use the kernel's default range rather than nothing:
  // ports in use would otherwise vanish exactly when something is wrong.
  const EphemeralPortRange range = snapshot.port_range.value_or(EphemeralPortRange{});

  SockDiagSocket socket;
  if (auto ec = socket.open()) return ec;
  std::vector<std::uint8_t> buffer(kSockDiagBufferSize);

  // Listeners first, in their own (cheap: the kernel walks only the listening hash) dump, so that
  // every socket of the main dump can be told outgoing or accepted whatever order it comes in.
  ListeningPorts listening;
  for (const IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    if (auto ec =
            read_sock_diag(socket, family, state_mask({TcpState::kListen}), listening, buffer)) {
      return ec;
    }
  }

  SocketCounterHistory* history = options.socket_history;
  SocketTableAggregator aggregator(range, listening.ports(),
                                   SocketTableAggregator::kMaxTrackedDestinations, history);
  SockDiagReadStats stats;
  // tcp_info rides in the same dump (INET_DIAG_INFO): about 240 more bytes per full socket, no
  // second walk of the tables.
  const std::uint8_t extensions = history != nullptr ? kSockDiagInfoExtension : 0;
  for (const IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    if (auto ec = read_sock_diag(socket, family, all_states_mask(), aggregator, buffer, &stats,
                                 extensions)) {
      if (history != nullptr) history->abandon_collection();
      return ec;
    }
  }
  if (history != nullptr) history->finish_collection();
  if (stats.interrupted) aggregator.mark_interrupted();
  snapshot.sockets = aggregator.summarize(options.max_destinations);
  return {};
}

}  // namespace connwatch::kernel
