// The closed label vocabularies of the passive metrics. Each to_string() is the Prometheus label
// value and the JSON key, so a new enumerator cannot be forgotten (-Wswitch-enum).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace connwatch::passive {

// Who sent a RST, by the connection's roles: client = the SYN sender.
enum class ResetSender : std::uint8_t { kClient, kServer, kUnknown };
inline constexpr std::array kResetSenders = {ResetSender::kClient, ResetSender::kServer,
                                             ResetSender::kUnknown};

// When in the connection the RST came. kHandshake includes the RST answering a SYN (refused);
// kClosing is any RST after a FIN in either direction.
enum class ResetPhase : std::uint8_t { kHandshake, kEstablished, kClosing };
inline constexpr std::array kResetPhases = {ResetPhase::kHandshake, ResetPhase::kEstablished,
                                            ResetPhase::kClosing};

enum class CloseHow : std::uint8_t { kFin, kReset };
inline constexpr std::array kCloseHows = {CloseHow::kFin, CloseHow::kReset};

// The role of the side that enters TIME_WAIT (the active closer).
enum class TimeWaitSide : std::uint8_t { kClient, kServer };
inline constexpr std::array kTimeWaitSides = {TimeWaitSide::kClient, TimeWaitSide::kServer};

std::string_view to_string(ResetSender sender);
std::string_view to_string(ResetPhase phase);
std::string_view to_string(CloseHow how);
std::string_view to_string(TimeWaitSide side);

template <typename Enum>
constexpr std::size_t index_of(Enum value) {
  return static_cast<std::size_t>(value);
}

// The `port` label: the server port when it is listed in the options or below 1024, else
// "other", so an ephemeral port never becomes a label value.
class PortLabel {
 public:
  static constexpr PortLabel other() { return PortLabel(kOther); }
  static constexpr PortLabel port(std::uint16_t number) { return PortLabel(number); }

  bool is_other() const { return value_ == kOther; }
  std::uint32_t key() const { return value_; }
  std::string to_string() const;

  friend bool operator==(PortLabel, PortLabel) = default;

 private:
  static constexpr std::uint32_t kOther = 0x10000;
  constexpr explicit PortLabel(std::uint32_t value) : value_(value) {}
  std::uint32_t value_;
};

}  // namespace connwatch::passive
