#include "probes/active/http_method.h"

#include <array>

namespace connwatch::active {

bool is_idempotent_method(std::string_view method) {
  static constexpr std::array<std::string_view, 6> kIdempotent{"GET",   "HEAD", "OPTIONS",
                                                               "TRACE", "PUT",  "DELETE"};
  for (const auto m : kIdempotent) {
    if (m == method) return true;
  }
  return false;
}

}  // namespace connwatch::active
