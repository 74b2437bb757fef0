#include "agent/diagnose/own_endpoint.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>

namespace connwatch::agent::diagnose {

namespace {

bool loopback(const std::string& host) {
  if (host == "localhost" || host.ends_with(".localhost") || host == "::1") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace

bool points_at_agent(const config::TargetUrl& url, const config::ListenAddress& listen,
                     const std::vector<std::string>& local) {
  if (url.scheme == config::Scheme::kTcp || url.port != listen.port) return false;
  if (!listen.host.empty() && url.host == listen.host) return true;
  if (loopback(url.host)) {
    // A listener on one non-loopback address does not answer on loopback.
    return listen.host.empty() || loopback(listen.host) || listen.host == "0.0.0.0" ||
           listen.host == "::";
  }
  if (listen.host.empty() || listen.host == "0.0.0.0" || listen.host == "::") {
    return std::find(local.begin(), local.end(), url.host) != local.end();
  }
  return false;
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, text,
                  sizeof text);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, text,
                  sizeof text);
    } else {
      continue;
    }
    out.emplace_back(text);
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace connwatch::agent::diagnose
