#include "probes/passive/live_capture.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <utility>

#include "probes/passive/capture_filter.h"
#include "probes/passive/link_type.h"

namespace connwatch::passive {
namespace {

PacketTime packet_time(const timeval& ts) {
  return std::chrono::seconds(ts.tv_sec) + std::chrono::microseconds(ts.tv_usec);
}

constexpr int kNflogSnaplen = 65535;

PacketTime wall_clock() {
  return std::chrono::duration_cast<PacketTime>(
      std::chrono::system_clock::now().time_since_epoch());
}

std::string activate_error(pcap_t* handle, int status) {
  std::string message = pcap_statustostr(status);
  const std::string detail = pcap_geterr(handle);
  // libpcap often repeats the status text as the detail ("No such device exists").
  if (!detail.empty() && detail != message) message += ": " + detail;
  if (status == PCAP_ERROR_PERM_DENIED) message += " (needs CAP_NET_RAW)";
  return message;
}

}  // namespace

LiveCapture::LiveCapture(CaptureOptions capture, FlowTrackerOptions tracker,
                         PassiveMetrics* metrics)
    : capture_(std::move(capture)),
      tracker_options_(std::move(tracker)),
      pipeline_(std::make_unique<PacketPipeline>(LinkType::kLinuxSll2, tracker_options_, metrics)) {
  pipeline_->set_capture_up(false);
  publish();
}

LiveCapture::~LiveCapture() { stop(); }

bool LiveCapture::start() {
  if (thread_.joinable()) return up();
  std::string error;
  if (open(error)) {
    up_ = true;
    pipeline_->set_capture_up(true);
  } else {
    set_down(error);
  }
  publish();
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
  return up();
}

void LiveCapture::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  close_handle();
}

std::string LiveCapture::last_error() const {
  const std::lock_guard lock(published_mutex_);
  return last_error_;
}

PassiveSnapshot LiveCapture::snapshot() const {
  const std::lock_guard lock(published_mutex_);
  return published_;
}

bool LiveCapture::open(std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_create(capture_.interface.c_str(), errbuf);
  if (handle == nullptr) {
    error = errbuf;
    return false;
  }
  // "nflog:GROUP" (pcap-netfilter-linux.c) receives into a buffer of snaplen + 128 bytes, and the
  // kernel batches several NFLOG messages into one netlink datagram: a small snaplen truncates
  // the batch and loses every message after the first. The NFLOG rule, not snaplen, bounds what
  // is copied (--nflog-size).
  const bool nflog = capture_.interface.starts_with("nflog");
  pcap_set_snaplen(handle, nflog ? std::max(capture_.snaplen, kNflogSnaplen) : capture_.snaplen);
  pcap_set_promisc(handle, 0);
  pcap_set_timeout(handle, static_cast<int>(capture_.timeout.count()));
  pcap_set_buffer_size(handle, capture_.buffer_size);
  // No pcap_set_immediate_mode(): it would force TPACKET_V2 (pcap-linux.c).
  const int status = pcap_activate(handle);
  if (status < 0) {
    error = activate_error(handle, status);
    pcap_close(handle);
    return false;
  }
  if (status > 0) {
    spdlog::debug("passive capture on {}: {}", capture_.interface, activate_error(handle, status));
  }
  if (capture_.interface == "any" && pcap_set_datalink(handle, DLT_LINUX_SLL2) != 0) {
    spdlog::debug("passive capture on any: SLL2 unavailable, using {}",
                  pcap_datalink_val_to_name(pcap_datalink(handle)));
  }
  poll_first_ = nflog;
  const int dlt = pcap_datalink(handle);
  const std::optional<LinkType> link = link_type_from_dlt(dlt);
  if (!link) {
    const char* name = pcap_datalink_val_to_name(dlt);
    error = std::string("unsupported link type ") + (name ? name : std::to_string(dlt));
    pcap_close(handle);
    return false;
  }
  std::optional<CaptureFilter> filter = CaptureFilter::compile(handle, error);
  if (!filter) {
    pcap_close(handle);
    return false;
  }
  if (pcap_setfilter(handle, filter->program()) != 0) {
    error = std::string("cannot set capture filter: ") + pcap_geterr(handle);
    pcap_close(handle);
    return false;
  }
  {
    const std::lock_guard lock(handle_mutex_);
    handle_ = handle;
  }
  pipeline_->set_link_type(*link);
  last_ps_drop_ = 0;
  last_ps_ifdrop_ = 0;
  refresh_local_addresses();
  spdlog::info("passive capture on {} ({}, snaplen {}, buffer {} MiB)", capture_.interface,
               to_string(*link), pcap_snapshot(handle), capture_.buffer_size >> 20);
  return true;
}

void LiveCapture::close_handle() {
  const std::lock_guard lock(handle_mutex_);
  if (handle_ != nullptr) {
    pcap_close(handle_);
    handle_ = nullptr;
  }
}

// Peers are the non-local end of a connection; without pkttype (Ethernet captures) the tracker
// needs this host's addresses to tell which end that is.
void LiveCapture::refresh_local_addresses() {
  std::vector<IpAddress> addresses;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
      if (it->ifa_addr == nullptr) continue;
      if (it->ifa_addr->sa_family == AF_INET) {
        sockaddr_in v4{};
        std::memcpy(&v4, it->ifa_addr, sizeof(v4));
        std::array<std::uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &v4.sin_addr, bytes.size());
        addresses.push_back(IpAddress::v4(bytes));
      } else if (it->ifa_addr->sa_family == AF_INET6) {
        sockaddr_in6 v6{};
        std::memcpy(&v6, it->ifa_addr, sizeof(v6));
        std::array<std::uint8_t, 16> bytes{};
        std::memcpy(bytes.data(), &v6.sin6_addr, bytes.size());
        addresses.push_back(IpAddress::v6(bytes));
      }
    }
    freeifaddrs(list);
  }
  pipeline_->tracker().set_local_addresses(std::move(addresses));
}

void LiveCapture::set_down(const std::string& error) {
  up_ = false;
  pipeline_->set_capture_up(false);
  {
    const std::lock_guard lock(published_mutex_);
    last_error_ = error;
  }
  if (!warned_) {
    spdlog::warn(
        "passive capture on {} unavailable: {}; connwatch_capture_up is 0, retrying every {}-{} s",
        capture_.interface, error, capture_.retry_initial.count() / 1000.0,
        capture_.retry_max.count() / 1000.0);
    warned_ = true;
  } else {
    spdlog::debug("passive capture on {} still unavailable: {}", capture_.interface, error);
  }
}

void LiveCapture::publish() {
  pipeline_->flush();
  PassiveSnapshot snapshot = pipeline_->snapshot();
  const std::lock_guard lock(published_mutex_);
  published_ = std::move(snapshot);
}

void LiveCapture::on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data) {
  auto* self = reinterpret_cast<LiveCapture*>(user);
  self->pipeline_->on_packet(std::span<const std::uint8_t>(data, header->caplen),
                             packet_time(header->ts));
}

void LiveCapture::read_stats() {
  pcap_stat stats{};
  if (pcap_stats(handle_, &stats) != 0) return;
  // Cumulative since the handle opened; ps_ifdrop is only maintained in promiscuous mode on
  // Linux and stays 0 otherwise (pcap_stats(3PCAP)).
  const std::uint64_t drop = stats.ps_drop;
  const std::uint64_t ifdrop = stats.ps_ifdrop;
  pipeline_->add_drops(drop >= last_ps_drop_ ? drop - last_ps_drop_ : drop,
                       ifdrop >= last_ps_ifdrop_ ? ifdrop - last_ps_ifdrop_ : ifdrop);
  last_ps_drop_ = drop;
  last_ps_ifdrop_ = ifdrop;
}

void LiveCapture::run(std::stop_token stop) {
  const std::stop_callback on_stop(stop, [this] {
    const std::lock_guard lock(handle_mutex_);
    if (handle_ != nullptr) pcap_breakloop(handle_);
  });
  std::chrono::milliseconds backoff = capture_.retry_initial;
  const auto wait = [&](std::chrono::milliseconds duration) {
    std::unique_lock lock(handle_mutex_);
    wake_.wait_for(lock, stop, duration, [] { return false; });
  };

  while (!stop.stop_requested()) {
    if (handle_ == nullptr) {
      std::string error;
      if (!open(error)) {
        set_down(error);
        publish();
        wait(backoff);
        backoff = std::min(backoff * 2, capture_.retry_max);
        continue;
      }
      if (warned_) spdlog::info("passive capture on {} is up again", capture_.interface);
      warned_ = false;
      up_ = true;
      pipeline_->set_capture_up(true);
      {
        const std::lock_guard lock(published_mutex_);
        last_error_.clear();
      }
      if (stop.stop_requested()) break;  // the stop callback may have missed this handle
    }
    backoff = capture_.retry_initial;

    int count = 0;
    pollfd ready{pcap_get_selectable_fd(handle_), POLLIN, 0};
    if (!poll_first_ || ::poll(&ready, 1, static_cast<int>(capture_.timeout.count())) > 0) {
      count = pcap_dispatch(handle_, -1, &LiveCapture::on_packet, reinterpret_cast<u_char*>(this));
    }
    if (count == PCAP_ERROR_BREAK) break;
    if (count < 0) {
      // The interface went down or was deleted (pcap-linux.c reports ENETDOWN/ENODEV here).
      const std::string error = pcap_geterr(handle_);
      close_handle();
      set_down(error);
      publish();
      wait(backoff);
      backoff = std::min(backoff * 2, capture_.retry_max);
      continue;
    }
    read_stats();
    pipeline_->expire(wall_clock());
    publish();
  }
  close_handle();
  up_ = false;
  pipeline_->set_capture_up(false);
  publish();
}

}  // namespace connwatch::passive
