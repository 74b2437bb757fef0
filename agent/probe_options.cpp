#include "agent/probe_options.h"

#include <chrono>

namespace connwatch::agent {

passive::CaptureOptions capture_options(const config::CaptureSettings& capture) {
  passive::CaptureOptions options;
  options.interface = capture.interface;
  options.snaplen = capture.snaplen;
  // The loader bounds buffer_size; pcap_set_buffer_size takes an int.
  options.buffer_size = static_cast<int>(capture.buffer_size);
  options.threads = capture.threads;
  return options;
}

passive::FlowTrackerOptions tracker_options(const config::CaptureSettings& capture) {
  passive::FlowTrackerOptions options;
  options.max_flows = capture.max_flows;
  options.flow_idle_timeout =
      std::chrono::duration_cast<std::chrono::seconds>(capture.flow_idle_timeout);
  options.established_timeout =
      std::chrono::duration_cast<std::chrono::seconds>(capture.established_timeout);
  options.ports = capture.ports;
  options.max_peers = static_cast<std::size_t>(capture.max_peers);
  return options;
}

kernel::KernelOptions kernel_options(const config::SocketsSettings& sockets) {
  kernel::KernelOptions options;
  options.interval = std::chrono::duration_cast<std::chrono::milliseconds>(sockets.interval);
  options.max_destinations = static_cast<std::size_t>(sockets.max_destinations);
  options.all_namespaces = sockets.namespaces == config::SocketNamespaces::kAll;
  options.max_namespaces = static_cast<std::size_t>(sockets.max_namespaces);
  return options;
}

}  // namespace connwatch::agent
