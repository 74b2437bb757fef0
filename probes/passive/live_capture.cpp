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

// libpcap's NFLOG reader (pcap-netfilter-linux.c) blocks in recv() and ignores pcap_breakloop:
// such handles are polled before each dispatch.
bool is_nflog(const std::string& interface) { return interface.starts_with("nflog"); }

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
  start_thread();
  return up();
}

void LiveCapture::start_thread() {
  {
    const std::lock_guard lock(reconfigure_mutex_);
    thread_running_ = true;
  }
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

void LiveCapture::halt() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  close_handle();
}

void LiveCapture::stop() {
  halt();
  up_ = false;
  pipeline_->set_capture_up(false);
  publish();
}

void LiveCapture::reconfigure(const FlowTrackerOptions& tracker) {
  std::unique_lock lock(reconfigure_mutex_);
  if (thread_running_) {
    pending_ = tracker;
    has_pending_ = true;
    {
      // Under the handle lock, so a retry wait cannot miss has_pending_; breakloop ends a
      // dispatch that would otherwise wait for the next packet (TPACKET_V3 polls without a
      // timeout and an empty ring block never times out).
      const std::lock_guard handle_lock(handle_mutex_);
      if (handle_ != nullptr) pcap_breakloop(handle_);
    }
    wake_.notify_all();
    if (!reconfigure_done_.wait_for(lock, std::chrono::seconds(5),
                                    [this] { return !pending_ || !thread_running_; })) {
      spdlog::warn(
          "passive capture on {}: the capture thread is busy; the new options apply "
          "after its current batch",
          capture_.interface);
      return;
    }
    if (!pending_) return;
    pending_.reset();
    has_pending_ = false;
  }
  tracker_options_ = tracker;
  pipeline_->reconfigure(tracker);
  publish();
}

void LiveCapture::apply_pending() {
  if (!has_pending_.load()) return;
  {
    const std::lock_guard lock(reconfigure_mutex_);
    if (pending_) {
      tracker_options_ = *pending_;
      pipeline_->reconfigure(*pending_);
      pending_.reset();
    }
    has_pending_ = false;
  }
  reconfigure_done_.notify_all();
  publish();
}

bool LiveCapture::reopen(const CaptureOptions& capture, std::string& error) {
  LinkType link = LinkType::kLinuxSll2;
  pcap_t* handle = open_handle(capture, link, error);
  if (handle == nullptr) return false;
  halt();
  capture_ = capture;
  adopt(handle, link);
  warned_ = false;
  up_ = true;
  pipeline_->set_capture_up(true);
  {
    const std::lock_guard lock(published_mutex_);
    last_error_.clear();
  }
  publish();
  start_thread();
  return true;
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
  LinkType link = LinkType::kLinuxSll2;
  pcap_t* handle = open_handle(capture_, link, error);
  if (handle == nullptr) return false;
  adopt(handle, link);
  return true;
}

pcap_t* LiveCapture::open_handle(const CaptureOptions& capture, LinkType& link,
                                 std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_create(capture.interface.c_str(), errbuf);
  if (handle == nullptr) {
    error = errbuf;
    return nullptr;
  }
  // "nflog:GROUP" (pcap-netfilter-linux.c) receives into a buffer of snaplen + 128 bytes, and the
  // kernel batches several NFLOG messages into one netlink datagram: a small snaplen truncates
  // the batch and loses every message after the first. The NFLOG rule, not snaplen, bounds what
  // is copied (--nflog-size).
  const bool nflog = is_nflog(capture.interface);
  pcap_set_snaplen(handle, nflog ? std::max(capture.snaplen, kNflogSnaplen) : capture.snaplen);
  pcap_set_promisc(handle, 0);
  pcap_set_timeout(handle, static_cast<int>(capture.timeout.count()));
  pcap_set_buffer_size(handle, capture.buffer_size);
  // No pcap_set_immediate_mode(): it would force TPACKET_V2 (pcap-linux.c).
  const int status = pcap_activate(handle);
  if (status < 0) {
    error = activate_error(handle, status);
    pcap_close(handle);
    return nullptr;
  }
  if (status > 0) {
    spdlog::debug("passive capture on {}: {}", capture.interface, activate_error(handle, status));
  }
  if (capture.interface == "any" && pcap_set_datalink(handle, DLT_LINUX_SLL2) != 0) {
    spdlog::debug("passive capture on any: SLL2 unavailable, using {}",
                  pcap_datalink_val_to_name(pcap_datalink(handle)));
  }
  const int dlt = pcap_datalink(handle);
  const std::optional<LinkType> found = link_type_from_dlt(dlt);
  if (!found) {
    const char* name = pcap_datalink_val_to_name(dlt);
    error = std::string("unsupported link type ") + (name ? name : std::to_string(dlt));
    pcap_close(handle);
    return nullptr;
  }
  std::optional<CaptureFilter> filter = CaptureFilter::compile(handle, error);
  if (!filter) {
    pcap_close(handle);
    return nullptr;
  }
  if (pcap_setfilter(handle, filter->program()) != 0) {
    error = std::string("cannot set capture filter: ") + pcap_geterr(handle);
    pcap_close(handle);
    return nullptr;
  }
  link = *found;
  return handle;
}

void LiveCapture::adopt(pcap_t* handle, LinkType link) {
  {
    const std::lock_guard lock(handle_mutex_);
    handle_ = handle;
  }
  poll_first_ = is_nflog(capture_.interface);
  pipeline_->set_link_type(link);
  last_ps_drop_ = 0;
  last_ps_ifdrop_ = 0;
  refresh_local_addresses();
  spdlog::info("passive capture on {} ({}, snaplen {}, buffer {} MiB)", capture_.interface,
               to_string(link), pcap_snapshot(handle), capture_.buffer_size >> 20);
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
    wake_.wait_for(lock, stop, duration, [this] { return has_pending_.load(); });
  };

  while (!stop.stop_requested()) {
    apply_pending();
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
    // A reconfigure() that came while handle_ was still null could not breakloop it.
    if (has_pending_.load()) continue;

    int count = 0;
    pollfd ready{pcap_get_selectable_fd(handle_), POLLIN, 0};
    if (!poll_first_ || ::poll(&ready, 1, static_cast<int>(capture_.timeout.count())) > 0) {
      count = pcap_dispatch(handle_, -1, &LiveCapture::on_packet, reinterpret_cast<u_char*>(this));
    }
    if (count == PCAP_ERROR_BREAK) continue;  // stop() or reconfigure() woke the loop
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
  {
    const std::lock_guard lock(reconfigure_mutex_);
    thread_running_ = false;
  }
  reconfigure_done_.notify_all();
}

}  // namespace connwatch::passive
