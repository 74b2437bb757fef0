// What the kernel collectors need to know; the agent maps the [sockets] config table onto it.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>

namespace connwatch::kernel {

class SocketCounterHistory;

struct KernelOptions {
  std::chrono::milliseconds interval{5000};  // [sockets] interval
  std::size_t max_destinations = 20;         // [sockets] max_destinations: top-K with own series
  // Where procfs is mounted. Tests point it at a directory of captured files; the agent keeps
  // /proc, which shows the network namespace the agent runs in.
  std::filesystem::path proc_root = "/proc";
  // Where the namespace's /proc/net files are; empty: proc_root/"net". A collection inside another
  // namespace reads /proc/thread-self/net: /proc/net follows the main thread's namespace.
  std::filesystem::path proc_net;

  // [sockets] namespaces = "all": every network namespace on the host; false: the agent's own.
  bool all_namespaces = false;
  std::size_t max_namespaces = 20;  // [sockets] max_namespaces: top-K with own series

  // Ask sock_diag for tcp_info (INET_DIAG_INFO) and keep per-socket counters in this history
  // between collections (issue 23). Null: no per-destination retransmissions or RTT. Set by
  // KernelCollector per namespace; never owned here.
  SocketCounterHistory* socket_history = nullptr;

  std::filesystem::path net_path(const char* file) const {
    return (proc_net.empty() ? proc_root / "net" : proc_net) / file;
  }
};

}  // namespace connwatch::kernel
