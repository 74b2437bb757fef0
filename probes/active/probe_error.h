// connwatch's own failure conditions on the probe path, as a boost::system error category, so they
// travel through the same error_code plumbing (and the one classify()) as the kernel's errors.
#pragma once

#include <boost/system/error_code.hpp>
#include <type_traits>

namespace connwatch::active {

enum class ProbeError {
  kDeadlineExceeded = 1,  // our per-phase deadline fired (connect_timeout / request_timeout)
  kNoAddresses,           // the resolver answered with an empty address list
  kUnsolicitedData,       // an idle connection received bytes nobody asked for
  kConnectionClosed,      // a pooled connection was found closed when checked
  kPoolStopped,           // the pool shut down while the attempt waited or ran
};

const boost::system::error_category& probe_error_category();
boost::system::error_code make_error_code(ProbeError e);

}  // namespace connwatch::active

namespace boost::system {
template <>
struct is_error_code_enum<connwatch::active::ProbeError> : std::true_type {};
}  // namespace boost::system
