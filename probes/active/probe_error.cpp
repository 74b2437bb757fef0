#include "probes/active/probe_error.h"

#include <string>

namespace connwatch::active {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories
// are singletons never deleted through a base pointer); -Wnon-virtual-dtor cannot see that.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class ProbeErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "connwatch.probe"; }
  std::string message(int value) const override {
    switch (static_cast<ProbeError>(value)) {
      case ProbeError::kDeadlineExceeded:
        return "deadline exceeded";
      case ProbeError::kNoAddresses:
        return "the name resolved to no addresses";
      case ProbeError::kUnsolicitedData:
        return "unsolicited bytes on an idle connection";
      case ProbeError::kConnectionClosed:
        return "the pooled connection was closed";
      case ProbeError::kPoolStopped:
        return "the connection pool was stopped";
    }
    return "unknown probe error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& probe_error_category() {
  static const ProbeErrorCategory category;
  return category;
}

boost::system::error_code make_error_code(ProbeError e) {
  return {static_cast<int>(e), probe_error_category()};
}

}  // namespace connwatch::active
