#include "exporters/diagnose_output.h"

#include <fcntl.h>
#include <prometheus/collectable.h>
#include <prometheus/gateway.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

namespace connwatch::exporters {

namespace {

class FixedFamilies : public prometheus::Collectable {
 public:
  explicit FixedFamilies(std::vector<prometheus::MetricFamily> families)
      : families_(std::move(families)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return families_; }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

std::string errno_text(int error) { return std::strerror(error); }

// "http://host:9091/prefix" -> ("http://host", "9091/prefix"): prometheus::Gateway joins host,
// ':' and port, then appends "/metrics/job/...".
std::optional<std::pair<std::string, std::string>> split_url(std::string_view url) {
  std::string_view scheme;
  if (url.starts_with("http://")) {
    scheme = "http://";
  } else if (url.starts_with("https://")) {
    scheme = "https://";
  } else {
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (path.ends_with('/')) path.remove_suffix(1);
  if (authority.empty()) return std::nullopt;
  std::string_view host = authority, port = scheme == "https://" ? "443" : "80";
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
  }
  if (host.empty()) return std::nullopt;
  return std::make_pair(std::string(scheme) + std::string(host),
                        std::string(port) + std::string(path));
}

}  // namespace

std::vector<prometheus::MetricFamily> diagnose_families(const DiagnoseRun& run) {
  prometheus::Registry registry;
  auto& finding = prometheus::BuildGauge()
                      .Name("connwatch_diagnose_finding")
                      .Help(
                          "1 for each finding the last agent --diagnose run raised, by id and "
                          "severity (info, warning, critical)")
                      .Register(registry);
  for (const auto& [id, severity] : run.findings) {
    finding.Add({{"id", id}, {"severity", severity}}).Set(1);
  }
  prometheus::BuildGauge()
      .Name("connwatch_diagnose_last_run_timestamp_seconds")
      .Help("Unix time the last agent --diagnose run finished")
      .Register(registry)
      .Add({})
      .Set(run.finished_unix_seconds);
  prometheus::BuildGauge()
      .Name("connwatch_diagnose_duration_seconds")
      .Help("How long the last agent --diagnose run measured, in seconds")
      .Register(registry)
      .Add({})
      .Set(run.duration_seconds);
  std::vector<prometheus::MetricFamily> families = registry.Collect();
  families.insert(families.end(), run.measured.begin(), run.measured.end());
  return families;
}

std::optional<std::string> write_textfile(const std::string& path,
                                          const std::vector<prometheus::MetricFamily>& families) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  // mkstemp in the target's directory: the rename below stays on one file system.
  std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return "cannot create a temporary file in " + dir.string() + ": " + errno_text(errno);
  ::fchmod(fd, 0644);  // readable by node_exporter's user, as a plain file would be
  const std::string text = prometheus::TextSerializer().Serialize(families);
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return "cannot write " + tmp + ": " + errno_text(error);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return "cannot write " + tmp + ": " + errno_text(error);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return "cannot rename " + tmp + " to " + path + ": " + errno_text(error);
  }
  return std::nullopt;
}

std::optional<std::string> push_to_gateway(const std::string& url, const std::string& instance,
                                           const std::vector<prometheus::MetricFamily>& families) {
  const auto parts = split_url(url);
  if (!parts) return "\"" + url + "\" is not an http:// or https:// URL with a host";
  prometheus::Gateway gateway(parts->first, parts->second, kDiagnoseJob, {{"instance", instance}});
  auto collectable = std::make_shared<FixedFamilies>(families);
  gateway.RegisterCollectable(collectable);
  const int status = gateway.Push();  // PUT: the group holds exactly this run
  if (status >= 200 && status < 300) return std::nullopt;
  if (status < 100) return "cannot reach the Pushgateway at " + url;
  return "the Pushgateway at " + url + " answered HTTP " + std::to_string(status);
}

std::string host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "localhost";
  return name.data();
}

}  // namespace connwatch::exporters
