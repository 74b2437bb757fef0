#include "probes/kernel/connect_trace.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {

namespace {

constexpr std::string_view kMarker = ": inet_sock_set_state: ";
constexpr std::string_view kEvent = "events/sock/inet_sock_set_state";
constexpr std::string_view kInstancePrefix = "connwatch-";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int> number(std::string_view s) {
  int value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value < 0) return std::nullopt;
  return value;
}

// "key=value" among the space-separated fields after the marker.
std::optional<std::string_view> field(std::string_view fields, std::string_view key) {
  std::size_t at = 0;
  while (at < fields.size()) {
    std::size_t end = fields.find(' ', at);
    if (end == std::string_view::npos) end = fields.size();
    const std::string_view token = fields.substr(at, end - at);
    if (token.size() > key.size() && token.substr(0, key.size()) == key &&
        token[key.size()] == '=') {
      return token.substr(key.size() + 1);
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::error_code write_file(const std::filesystem::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int saved = errno;
  ::close(fd);
  if (n < 0) return {saved, std::generic_category()};
  return {};
}

bool in_initial_pid_namespace() {
  // "NSpid:\t1234" has one column in the initial pid namespace, one per level below it.
  std::string status;
  if (read_proc_file("/proc/self/status", status, 1 << 16)) return false;
  const auto nspid = status_field(status, "NSpid");
  if (!nspid) return true;  // before Linux 4.1: no pid namespaces reported
  return nspid->find_first_of(" \t") == std::string_view::npos;
}

bool process_exists(std::string_view instance_name) {
  const auto pid = number(instance_name.substr(kInstancePrefix.size()));
  if (!pid || *pid == 0) return false;
  return ::kill(*pid, 0) == 0 || errno == EPERM;
}

}  // namespace

std::optional<ConnectEvent> parse_connect_trace_line(std::string_view line) {
  const auto marker = line.find(kMarker);
  if (marker == std::string_view::npos) return std::nullopt;
  const std::string_view fields = line.substr(marker + kMarker.size());
  if (field(fields, "protocol") != "IPPROTO_TCP" || field(fields, "oldstate") != "TCP_CLOSE" ||
      field(fields, "newstate") != "TCP_SYN_SENT") {
    return std::nullopt;
  }
  // The head: "<comm>-<tid> (<tgid>) [<cpu>] <flags> <timestamp>".
  std::string_view head = line.substr(0, marker);
  const auto cpu = head.rfind(" [");
  if (cpu == std::string_view::npos) return std::nullopt;
  head = trim(head.substr(0, cpu));
  ConnectEvent e;
  if (!head.empty() && head.back() == ')') {
    const auto open = head.rfind('(');
    if (open == std::string_view::npos) return std::nullopt;
    const std::string_view tgid = trim(head.substr(open + 1, head.size() - open - 2));
    if (const auto n = number(tgid)) e.tgid = *n;
    head = trim(head.substr(0, open));
  }
  const auto dash = head.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  const auto tid = number(head.substr(dash + 1));
  if (!tid || *tid == 0) return std::nullopt;
  e.tid = *tid;
  e.comm = std::string(head.substr(0, dash));

  const auto family = field(fields, "family");
  const auto dport = field(fields, "dport");
  if (!family || !dport) return std::nullopt;
  const auto port = number(*dport);
  if (!port || *port == 0 || *port > 65535) return std::nullopt;
  std::optional<IpAddress> address;
  if (*family == "AF_INET") {
    if (const auto d = field(fields, "daddr")) address = IpAddress::parse(*d);
    if (address && address->family() != IpFamily::kIpv4) return std::nullopt;
  } else if (*family == "AF_INET6") {
    if (const auto d = field(fields, "daddrv6")) address = IpAddress::parse(*d);
    if (address && address->family() == IpFamily::kIpv6) {
      // A dual-stack socket to ::ffff:a.b.c.d shares the IPv4 tables (net/ip_address.h).
      address = IpAddress::v6_unmapped(address->bytes());
    } else {
      address.reset();
    }
  }
  if (!address) return std::nullopt;
  e.destination = Endpoint{*address, static_cast<std::uint16_t>(*port)};
  return e;
}

std::optional<std::filesystem::path> tracefs_mount_point(std::string_view mountinfo) {
  // "36 25 0:12 / /sys/kernel/tracing rw,nosuid,... shared:15 - tracefs tracefs rw"
  std::size_t at = 0;
  while (at < mountinfo.size()) {
    std::size_t end = mountinfo.find('\n', at);
    if (end == std::string_view::npos) end = mountinfo.size();
    const std::string_view line = mountinfo.substr(at, end - at);
    at = end + 1;
    const auto sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    if (line.substr(sep + 3).substr(0, 8) != "tracefs ") continue;
    // Fields: id parent major:minor root mountpoint ...
    std::size_t pos = 0;
    std::string_view mount_point;
    for (int i = 0; i < 5 && pos <= line.size(); ++i) {
      std::size_t next = line.find(' ', pos);
      if (next == std::string_view::npos) next = line.size();
      if (i == 3 && line.substr(pos, next - pos) != "/") break;  // a bind of a subdirectory
      if (i == 4) mount_point = line.substr(pos, next - pos);
      pos = next + 1;
    }
    // Mount points with spaces are octal-escaped ("\040"): not ours to decode, skip them.
    if (!mount_point.empty() && mount_point.find('\\') == std::string_view::npos) {
      return std::filesystem::path(std::string(mount_point));
    }
  }
  return std::nullopt;
}

std::error_code ConnectTracer::open(ConnectTracer& into, ConnectTraceOptions options) {
  into.close();
  if (!in_initial_pid_namespace()) return std::make_error_code(std::errc::operation_not_supported);
  // tracefs through a descriptor: a private mount, detached at once (no other process sees it,
  // none is left behind if connwatch dies, and no other run can unmount it underneath), else the
  // host's own mount.
  std::string temporary = (std::filesystem::temp_directory_path() / "connwatch-tracefs-XXXXXX");
  if (::mkdtemp(temporary.data()) != nullptr) {
    if (::mount("nodev", temporary.c_str(), "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) ==
        0) {
      into.root_fd_ = ::open(temporary.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      ::umount2(temporary.c_str(), MNT_DETACH);
    }
    ::rmdir(temporary.c_str());
  }
  if (into.root_fd_ < 0) {
    std::string mountinfo;
    if (auto ec = read_proc_file(options.mountinfo, mountinfo, 1 << 22)) return ec;
    const auto found = tracefs_mount_point(mountinfo);
    if (!found) return std::make_error_code(std::errc::no_such_file_or_directory);
    into.root_fd_ = ::open(found->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into.root_fd_ < 0) return {errno, std::generic_category()};
  }
  const std::filesystem::path root =
      std::filesystem::path("/proc/self/fd") / std::to_string(into.root_fd_);
  std::error_code ec;
  if (!std::filesystem::exists(root / kEvent, ec)) {
    into.close();
    return std::make_error_code(std::errc::no_such_file_or_directory);
  }
  // Instances of a connwatch that died without closing: their pid is gone.
  for (const auto& entry : std::filesystem::directory_iterator(root / "instances", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kInstancePrefix, 0) == 0 && name != options.instance && !process_exists(name)) {
      (void)write_file(entry.path() / kEvent / "enable", "0");
      ::rmdir(entry.path().c_str());
    }
  }
  into.instance_dir_ = root / "instances" / options.instance;
  if (::mkdir(into.instance_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    const std::error_code failed(errno, std::generic_category());
    into.instance_dir_.clear();
    into.close();
    return failed;
  }
  const auto dir = into.instance_dir_;
  (void)write_file(dir / "options/record-tgid", "1");  // absent before 4.14: tgid read from /proc
  (void)write_file(dir / "buffer_size_kb", std::to_string(options.buffer_kib_per_cpu));
  for (const auto& [file, text] : std::array<std::pair<std::string_view, std::string_view>, 2>{
           {{"filter", "newstate == 2 && protocol == 6"}, {"enable", "1"}}}) {
    if (auto failed = write_file(dir / kEvent / file, text)) {
      into.close();
      return failed;
    }
  }
  into.pipe_fd_ = ::open((dir / "trace_pipe").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (into.pipe_fd_ < 0) {
    const std::error_code failed(errno, std::generic_category());
    into.close();
    return failed;
  }
  return {};
}

ConnectTracer::~ConnectTracer() { close(); }

ConnectTracer::ConnectTracer(ConnectTracer&& other) noexcept { *this = std::move(other); }

ConnectTracer& ConnectTracer::operator=(ConnectTracer&& other) noexcept {
  if (this == &other) return *this;
  close();
  instance_dir_ = std::move(other.instance_dir_);
  root_fd_ = other.root_fd_;
  other.root_fd_ = -1;
  pipe_fd_ = other.pipe_fd_;
  partial_ = std::move(other.partial_);
  unparsed_ = other.unparsed_;
  other.instance_dir_.clear();
  other.pipe_fd_ = -1;
  return *this;
}

std::error_code ConnectTracer::read(std::vector<ConnectEvent>& into) {
  if (pipe_fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  std::array<char, 1 << 16> buffer;
  for (int reads = 0; reads < 256; ++reads) {  // at most 16 MiB a call: the rest stays queued
    const ssize_t n = ::read(pipe_fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return {};
      return {errno, std::generic_category()};
    }
    if (n == 0) return {};
    partial_.append(buffer.data(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl = partial_.find('\n'); nl != std::string::npos;
         nl = partial_.find('\n', start)) {
      const std::string_view line(partial_.data() + start, nl - start);
      if (auto e = parse_connect_trace_line(line)) {
        into.push_back(std::move(*e));
      } else if (!trim(line).empty()) {
        ++unparsed_;
      }
      start = nl + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() > 4096) {  // no line is this long: drop it rather than grow
      partial_.clear();
      ++unparsed_;
    }
  }
  return {};
}

std::uint64_t ConnectTracer::overruns() const {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& cpu : std::filesystem::directory_iterator(instance_dir_ / "per_cpu", ec)) {
    std::string stats;
    if (read_proc_file(cpu.path() / "stats", stats, 4096)) continue;
    const auto at = stats.find("overrun: ");
    if (at == std::string::npos) continue;
    std::uint64_t n = 0;
    const char* begin = stats.data() + at + 9;
    std::from_chars(begin, stats.data() + stats.size(), n);
    total += n;
  }
  return total;
}

void ConnectTracer::close() {
  if (pipe_fd_ >= 0) {
    ::close(pipe_fd_);
    pipe_fd_ = -1;
  }
  if (!instance_dir_.empty()) {
    (void)write_file(instance_dir_ / kEvent / "enable", "0");
    ::rmdir(instance_dir_.c_str());
    instance_dir_.clear();
  }
  if (root_fd_ >= 0) {
    ::close(root_fd_);  // a private mount goes with its last reference
    root_fd_ = -1;
  }
  partial_.clear();
}

}  // namespace connwatch::kernel
