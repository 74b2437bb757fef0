#include "probes/passive/packet_fanout.h"

#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace connwatch::passive {
namespace {

std::error_code set_fanout(int fd, std::uint32_t value) {
  const int arg = static_cast<int>(value);
  if (::setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
    return {errno, std::system_category()};
  }
  return {};
}

// Kernels before 4.12 (no UNIQUEID): the pid in the upper bits, a per-process counter below.
std::optional<std::uint16_t> create_with_derived_id(int fd, std::error_code& error) {
  static std::atomic<std::uint32_t> counter{0};
  constexpr int kAttempts = 8;
  const auto pid = static_cast<std::uint32_t>(::getpid());
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const auto id = static_cast<std::uint16_t>((pid << 6) + counter.fetch_add(1));
    error = join_fanout_group(fd, id);
    if (!error) return id;
    if (error.value() != EINVAL && error.value() != EADDRINUSE) break;
  }
  return std::nullopt;
}

}  // namespace

std::uint16_t fanout_mode() { return PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG; }

std::optional<std::uint16_t> create_fanout_group(int fd, std::error_code& error) {
  // Id 0 with UNIQUEID: the kernel picks an id no group in this namespace uses and drops the
  // flag from the group's flags, so later members join with fanout_mode() alone.
  const std::uint32_t flags = fanout_mode() | std::uint32_t{PACKET_FANOUT_FLAG_UNIQUEID};
  error = set_fanout(fd, flags << 16);
  if (error.value() == EINVAL) return create_with_derived_id(fd, error);
  if (error) return std::nullopt;
  int value = 0;
  socklen_t size = sizeof(value);
  if (::getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &value, &size) != 0) {
    error = {errno, std::system_category()};
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(static_cast<std::uint32_t>(value) & 0xffff);
}

std::error_code join_fanout_group(int fd, std::uint16_t id) {
  return set_fanout(fd, (std::uint32_t{fanout_mode()} << 16) | id);
}

std::string fanout_error_text(std::error_code error, std::uint16_t id) {
  std::string text = "PACKET_FANOUT group " + std::to_string(id) + ": " + error.message();
  switch (error.value()) {
    case EINVAL:
    case EADDRINUSE:
      text +=
          " (the id is taken by a group with another mode or interface, or the kernel "
          "lacks PACKET_FANOUT_HASH|DEFRAG; set capture.threads = 1)";
      break;
    case ENOSPC:
      text += " (the group is full)";
      break;
    case ENOMEM:
      text += " (no free group id)";
      break;
    default:
      break;
  }
  return text;
}

}  // namespace connwatch::passive
