// What the kernel collectors need to know; the agent maps the [sockets] config table onto it.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>

namespace connwatch::kernel {

struct KernelOptions {
  std::chrono::milliseconds interval{5000};  // [sockets] interval
  std::size_t max_destinations = 20;         // [sockets] max_destinations: top-K with own series
  // Where procfs is mounted. Tests point it at a directory of captured files; the agent keeps
  // /proc, which shows the network namespace the agent runs in.
  std::filesystem::path proc_root = "/proc";
};

}  // namespace connwatch::kernel
