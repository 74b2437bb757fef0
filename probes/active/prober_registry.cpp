#include "probes/active/prober_registry.h"

#include <array>

#include "probes/active/http_prober.h"
#include "probes/active/tcp_prober.h"

namespace connwatch::active {
namespace {

constexpr std::array kProbers{
    ProberEntry{config::Scheme::kHttp, "http", false, false, false, &probe_http},
    ProberEntry{config::Scheme::kHttps, "https", true, false, false, &probe_http},
    ProberEntry{config::Scheme::kTcp, "tcp", false, true, true, &probe_tcp},
};

}  // namespace

std::span<const ProberEntry> probers() { return kProbers; }

const ProberEntry* find_prober(config::Scheme scheme) {
  for (const auto& entry : kProbers) {
    if (entry.scheme == scheme) return &entry;
  }
  return nullptr;
}

const ProberEntry* find_prober(std::string_view kind) {
  for (const auto& entry : kProbers) {
    if (entry.kind == kind) return &entry;
  }
  return nullptr;
}

}  // namespace connwatch::active
