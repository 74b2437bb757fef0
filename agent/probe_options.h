// How the config's [capture] and [sockets] tables map onto the probes' own option structs; the
// agent, --replay and --diagnose all go through here so they count the same way.
#pragma once

#include "config/config.h"
#include "probes/kernel/kernel_options.h"
#include "probes/passive/flow_tracker.h"
#include "probes/passive/live_capture.h"

namespace connwatch::agent {

passive::CaptureOptions capture_options(const config::CaptureSettings& capture);
passive::FlowTrackerOptions tracker_options(const config::CaptureSettings& capture);
kernel::KernelOptions kernel_options(const config::SocketsSettings& sockets);

}  // namespace connwatch::agent
