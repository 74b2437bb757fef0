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
#include "probes/passive/packet_fanout.h"

namespace connwatch::passive {
namespace {

PacketTime packet_time(const timeval& ts) {
  return std::chrono::seconds(ts.tv_sec) + std::chrono::microseconds(ts.tv_usec);
}

constexpr int kNflogSnaplen = 65535;

// libpcap's NFLOG reader (pcap-netfilter-linux.c) blocks in recv() and ignores pcap_breakloop:
// such handles are polled before each dispatch.
bool is_nflog(const std::string& interface) { return interface.starts_with("nflog"); }

// Why `capture` cannot run on several threads ("" when it can): see the header.
std::string threads_refusal(const CaptureOptions& capture) {
  if (capture.threads <= 1) return "";
  if (capture.interface == "any") {
    return "capture.threads > 1 needs a named interface: on \"any\" the copies of a forwarded "
           "or NATed packet hash to different threads and would be counted twice";
  }
  if (is_nflog(capture.interface)) {
    return "capture.threads > 1 needs a packet interface: NFLOG cannot use PACKET_FANOUT";
  }
  return "";
}

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
      metrics_(metrics),
      peers_(std::make_shared<PeerResetCounts>(tracker_options_.max_peers, metrics)) {
  make_lanes(static_cast<std::size_t>(std::max(capture_.threads, 1)));
  if (metrics_ != nullptr) metrics_->capture_up().Set(0);
  for (auto& lane : lanes_) publish(*lane);
}

LiveCapture::~LiveCapture() { stop(); }

std::string LiveCapture::thread_name(const Lane& lane) const {
  if (lanes_.size() == 1) return capture_.interface;
  return fmt::format("{} (thread {} of {})", capture_.interface, lane.index + 1, lanes_.size());
}

void LiveCapture::make_lanes(std::size_t threads) {
  const std::lock_guard lock(published_mutex_);
  for (auto& lane : lanes_) {
    PassiveSnapshot counts = lane->pipeline->snapshot();
    counts.peers.clear();
    counts.flows = 0;
    accumulate(retired_, counts);
  }
  lanes_.clear();  // the old pipelines take their flows out of the flows gauge
  const FlowTrackerOptions each = shard_options(tracker_options_, threads);
  for (std::size_t i = 0; i < threads; ++i) {
    auto lane = std::make_unique<Lane>();
    lane->index = i;
    lane->pipeline = std::make_unique<PacketPipeline>(LinkType::kLinuxSll2, each, metrics_, peers_);
    lane->applied = pending_serial_.load();
    lanes_.push_back(std::move(lane));
  }
}

bool LiveCapture::start() {
  if (!lanes_.empty() && lanes_.front()->thread.joinable()) return up();
  std::vector<Opened> opened;
  std::uint16_t group = 0;
  std::string error;
  if (open_handles(capture_, opened, group, error)) {
    {
      const std::lock_guard lock(fanout_mutex_);
      group_ = lanes_.size() > 1 ? std::optional(group) : std::nullopt;
    }
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      adopt(*lanes_[i], opened[i].handle, opened[i].link);
      lanes_[i]->ignore_before = opened[i].joined;
      set_up(*lanes_[i]);
    }
  } else {
    for (auto& lane : lanes_) set_down(*lane, error);
  }
  for (auto& lane : lanes_) publish(*lane);
  start_threads();
  return up();
}

void LiveCapture::start_threads() {
  {
    const std::lock_guard lock(reconfigure_mutex_);
    threads_running_ = true;
  }
  // Created here, on the caller's thread, never by a capture thread: they inherit its network
  // namespace and capabilities, and drop_privileges() (agent/privileges.h) finds them all.
  for (auto& lane : lanes_) {
    Lane& l = *lane;
    l.thread = std::jthread([this, &l](std::stop_token stop) { run(l, std::move(stop)); });
  }
}

void LiveCapture::halt() {
  for (auto& lane : lanes_) {
    if (lane->thread.joinable()) lane->thread.request_stop();
  }
  for (auto& lane : lanes_) {
    if (lane->thread.joinable()) lane->thread.join();
    close_handle(*lane);
  }
  {
    const std::lock_guard lock(reconfigure_mutex_);
    threads_running_ = false;
  }
}

void LiveCapture::stop() {
  halt();
  const std::lock_guard lock(published_mutex_);
  for (auto& lane : lanes_) lane->up = false;
  update_up_locked();
}

void LiveCapture::reconfigure(const FlowTrackerOptions& tracker) {
  std::unique_lock lock(reconfigure_mutex_);
  tracker_options_ = tracker;
  const std::uint64_t serial = pending_serial_.load() + 1;
  if (threads_running_) {
    pending_ = tracker;
    pending_serial_ = serial;
    {
      // Under the handle lock, so a retry wait cannot miss the new serial; breakloop ends a
      // dispatch that would otherwise wait for the next packet (TPACKET_V3 polls without a
      // timeout and an empty ring block never times out).
      const std::lock_guard handle_lock(handle_mutex_);
      for (auto& lane : lanes_) {
        if (lane->handle != nullptr) pcap_breakloop(lane->handle);
      }
    }
    wake_.notify_all();
    const auto applied = [&] {
      if (!threads_running_) return true;
      for (const auto& lane : lanes_) {
        if (lane->applied < serial) return false;
      }
      return true;
    };
    if (!reconfigure_done_.wait_for(lock, std::chrono::seconds(5), applied)) {
      spdlog::warn(
          "passive capture on {}: a capture thread is busy; the new options apply after its "
          "current batch",
          capture_.interface);
      return;
    }
    if (threads_running_) return;
  }
  // No thread runs: applied here.
  pending_.reset();
  pending_serial_ = serial;
  const FlowTrackerOptions each = shard_options(tracker, lanes_.size());
  for (auto& lane : lanes_) {
    lane->pipeline->reconfigure(each);
    lane->applied = serial;
    publish(*lane);
  }
}

void LiveCapture::apply_pending(Lane& lane) {
  if (lane.applied >= pending_serial_.load()) return;  // racy read: rechecked under the lock
  {
    const std::lock_guard lock(reconfigure_mutex_);
    if (pending_ && lane.applied < pending_serial_.load()) {
      lane.pipeline->reconfigure(shard_options(*pending_, lanes_.size()));
    }
    lane.applied = pending_serial_.load();
  }
  reconfigure_done_.notify_all();
  publish(lane);
}

bool LiveCapture::reopen(const CaptureOptions& capture, std::string& error) {
  std::vector<Opened> opened;
  std::uint16_t group = 0;
  if (!open_handles(capture, opened, group, error)) return false;
  halt();
  // On the same interface the old handles saw every packet up to here, and so did the new ones
  // since they opened: each new thread starts after the newest packet the old ones counted of
  // its flows. With the same thread count the group is filled in the same order, so thread i
  // keeps thread i's flows; with another count any thread may have had them.
  const std::size_t threads = opened.size();
  std::vector<PacketTime> counted(threads);
  if (capture.interface != capture_.interface) {
    // Other packets: nothing was counted twice.
  } else if (threads == lanes_.size()) {
    for (std::size_t i = 0; i < threads; ++i) counted[i] = lanes_[i]->last_packet;
  } else {
    PacketTime newest{};
    for (const auto& lane : lanes_) newest = std::max(newest, lane->last_packet);
    std::fill(counted.begin(), counted.end(), newest);
  }
  capture_ = capture;
  if (threads != lanes_.size()) make_lanes(threads);
  {
    const std::lock_guard lock(fanout_mutex_);
    group_ = threads > 1 ? std::optional(group) : std::nullopt;
  }
  for (std::size_t i = 0; i < threads; ++i) {
    Lane& lane = *lanes_[i];
    adopt(lane, opened[i].handle, opened[i].link);
    lane.ignore_before = opened[i].joined;
    if (counted[i] != PacketTime{}) {
      lane.ignore_before = std::max(lane.ignore_before, counted[i] + std::chrono::microseconds(1));
    }
    lane.last_packet = counted[i];
    set_up(lane);
  }
  {
    const std::lock_guard lock(published_mutex_);
    last_error_.clear();
    warned_ = false;
  }
  for (auto& lane : lanes_) publish(*lane);
  start_threads();
  return true;
}

std::string LiveCapture::last_error() const {
  const std::lock_guard lock(published_mutex_);
  return last_error_;
}

PassiveSnapshot LiveCapture::snapshot() const {
  PassiveSnapshot total;
  {
    const std::lock_guard lock(published_mutex_);
    total = retired_;
    for (const auto& lane : lanes_) accumulate(total, lane->published);
  }
  total.capture_up = up();
  total.peers = peers_->snapshot();
  return total;
}

bool LiveCapture::open_handles(const CaptureOptions& capture, std::vector<Opened>& opened,
                               std::uint16_t& group, std::string& error) {
  const std::string refusal = threads_refusal(capture);
  if (!refusal.empty()) {
    error = refusal;
    return false;
  }
  const auto threads = static_cast<std::size_t>(std::max(capture.threads, 1));
  const auto fail = [&](std::size_t index, const std::string& why) {
    for (const Opened& o : opened) pcap_close(o.handle);
    opened.clear();
    error = threads > 1 ? fmt::format("thread {} of {}: {}", index + 1, threads, why) : why;
    return false;
  };
  for (std::size_t i = 0; i < threads; ++i) {
    Opened o;
    std::string why;
    o.handle = open_handle(capture, o.link, why);
    if (o.handle == nullptr) return fail(i, why);
    opened.push_back(o);
    if (threads == 1) break;
    std::error_code joined;
    if (i == 0) {
      const std::optional<std::uint16_t> id = create_fanout_group(pcap_fileno(o.handle), joined);
      if (id) group = *id;
    } else {
      joined = join_fanout_group(pcap_fileno(o.handle), group);
    }
    if (joined) return fail(i, fanout_error_text(joined, group));
    // What reached this socket before it joined, the group's members had too (the first one
    // was alone: nothing to ignore).
    if (i > 0) opened.back().joined = wall_clock();
  }
  return true;
}

bool LiveCapture::open_lane(Lane& lane, std::string& error) {
  error = threads_refusal(capture_);
  if (!error.empty()) return false;
  LinkType link = LinkType::kLinuxSll2;
  pcap_t* handle = open_handle(capture_, link, error);
  if (handle == nullptr) return false;
  if (lanes_.size() > 1) {
    const std::lock_guard lock(fanout_mutex_);
    std::error_code joined;
    if (group_) {
      joined = join_fanout_group(pcap_fileno(handle), *group_);
    } else if (const auto id = create_fanout_group(pcap_fileno(handle), joined)) {
      group_ = *id;
    }
    if (joined) {
      error = fanout_error_text(joined, group_.value_or(0));
      pcap_close(handle);
      return false;
    }
  }
  adopt(lane, handle, link);
  // The threads still in the group counted what reached this socket before it joined.
  if (lanes_.size() > 1) lane.ignore_before = wall_clock();
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

void LiveCapture::adopt(Lane& lane, pcap_t* handle, LinkType link) {
  {
    const std::lock_guard lock(handle_mutex_);
    lane.handle = handle;
  }
  lane.poll_first = is_nflog(capture_.interface);
  lane.pipeline->set_link_type(link);
  lane.last_ps_drop = 0;
  lane.last_ps_ifdrop = 0;
  refresh_local_addresses(lane);
  if (lanes_.size() == 1) {
    spdlog::info("passive capture on {} ({}, snaplen {}, buffer {} MiB)", capture_.interface,
                 to_string(link), pcap_snapshot(handle), capture_.buffer_size >> 20);
  } else if (lane.index == 0) {
    std::uint16_t group = 0;
    {
      const std::lock_guard lock(fanout_mutex_);
      group = group_.value_or(0);
    }
    spdlog::info(
        "passive capture on {} ({}, snaplen {}, buffer {} MiB per thread, {} threads in "
        "PACKET_FANOUT group {})",
        capture_.interface, to_string(link), pcap_snapshot(handle), capture_.buffer_size >> 20,
        lanes_.size(), group);
  }
}

void LiveCapture::close_handle(Lane& lane) {
  const std::lock_guard lock(handle_mutex_);
  if (lane.handle != nullptr) {
    pcap_close(lane.handle);
    lane.handle = nullptr;
  }
}

// Peers are the non-local end of a connection; without pkttype (Ethernet captures) the tracker
// needs this host's addresses to tell which end that is.
void LiveCapture::refresh_local_addresses(Lane& lane) {
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
  lane.pipeline->tracker().set_local_addresses(std::move(addresses));
}

void LiveCapture::update_up_locked() {
  bool all = !lanes_.empty();
  for (const auto& lane : lanes_) all = all && lane->up;
  up_ = all;
  if (metrics_ != nullptr) metrics_->capture_up().Set(all ? 1 : 0);
}

void LiveCapture::set_up(Lane& lane) {
  const std::lock_guard lock(published_mutex_);
  lane.up = true;
  update_up_locked();
  if (up_) {
    if (warned_) spdlog::info("passive capture on {} is up again", capture_.interface);
    warned_ = false;
    last_error_.clear();
  }
}

void LiveCapture::set_down(Lane& lane, const std::string& error) {
  const std::lock_guard lock(published_mutex_);
  lane.up = false;
  update_up_locked();
  last_error_ = error;
  if (!warned_) {
    spdlog::warn(
        "passive capture on {} unavailable: {}; connwatch_capture_up is 0, retrying every {}-{} s",
        thread_name(lane), error, capture_.retry_initial.count() / 1000.0,
        capture_.retry_max.count() / 1000.0);
    warned_ = true;
  } else {
    spdlog::debug("passive capture on {} still unavailable: {}", thread_name(lane), error);
  }
}

void LiveCapture::publish(Lane& lane) {
  lane.pipeline->flush();
  PassiveSnapshot snapshot = lane.pipeline->snapshot();
  snapshot.peers.clear();  // shared by the lanes: snapshot() takes them once
  const std::lock_guard lock(published_mutex_);
  lane.published = std::move(snapshot);
}

void LiveCapture::on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data) {
  auto* lane = reinterpret_cast<Lane*>(user);
  const PacketTime time = packet_time(header->ts);
  if (time < lane->ignore_before) return;
  lane->last_packet = time;
  lane->pipeline->on_packet(std::span<const std::uint8_t>(data, header->caplen), time);
}

void LiveCapture::read_stats(Lane& lane) {
  pcap_stat stats{};
  if (pcap_stats(lane.handle, &stats) != 0) return;
  // Cumulative since the handle opened; ps_ifdrop is only maintained in promiscuous mode on
  // Linux and stays 0 otherwise (pcap_stats(3PCAP)).
  const std::uint64_t drop = stats.ps_drop;
  const std::uint64_t ifdrop = stats.ps_ifdrop;
  lane.pipeline->add_drops(drop >= lane.last_ps_drop ? drop - lane.last_ps_drop : drop,
                           ifdrop >= lane.last_ps_ifdrop ? ifdrop - lane.last_ps_ifdrop : ifdrop);
  lane.last_ps_drop = drop;
  lane.last_ps_ifdrop = ifdrop;
}

void LiveCapture::run(Lane& lane, std::stop_token stop) {
  const std::stop_callback on_stop(stop, [this, &lane] {
    const std::lock_guard lock(handle_mutex_);
    if (lane.handle != nullptr) pcap_breakloop(lane.handle);
  });
  std::chrono::milliseconds backoff = capture_.retry_initial;
  const auto pending = [this, &lane] { return lane.applied < pending_serial_.load(); };
  const auto wait = [&](std::chrono::milliseconds duration) {
    std::unique_lock lock(handle_mutex_);
    wake_.wait_for(lock, stop, duration, pending);
  };

  while (!stop.stop_requested()) {
    apply_pending(lane);
    if (lane.handle == nullptr) {
      std::string error;
      if (!open_lane(lane, error)) {
        set_down(lane, error);
        publish(lane);
        wait(backoff);
        backoff = std::min(backoff * 2, capture_.retry_max);
        continue;
      }
      set_up(lane);
      if (stop.stop_requested()) break;  // the stop callback may have missed this handle
    }
    backoff = capture_.retry_initial;
    // A reconfigure() that came while the handle was still null could not breakloop it.
    if (pending()) continue;

    int count = 0;
    pollfd ready{pcap_get_selectable_fd(lane.handle), POLLIN, 0};
    if (!lane.poll_first || ::poll(&ready, 1, static_cast<int>(capture_.timeout.count())) > 0) {
      count =
          pcap_dispatch(lane.handle, -1, &LiveCapture::on_packet, reinterpret_cast<u_char*>(&lane));
    }
    if (count == PCAP_ERROR_BREAK) continue;  // stop() or reconfigure() woke the loop
    if (count < 0) {
      // The interface went down or was deleted (pcap-linux.c reports ENETDOWN/ENODEV here).
      const std::string error = pcap_geterr(lane.handle);
      close_handle(lane);
      set_down(lane, error);
      publish(lane);
      wait(backoff);
      backoff = std::min(backoff * 2, capture_.retry_max);
      continue;
    }
    read_stats(lane);
    lane.pipeline->expire(wall_clock());
    publish(lane);
  }
  if (lane.handle != nullptr) read_stats(lane);
  close_handle(lane);
  publish(lane);
  if (lanes_.size() > 1) {
    spdlog::info("passive capture on {}: stopped after {} packets", thread_name(lane),
                 lane.pipeline->snapshot().packets);
  }
  reconfigure_done_.notify_all();
}

}  // namespace connwatch::passive
