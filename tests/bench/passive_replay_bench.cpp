// passive-replay-bench: generates a large capture of TCP control segments and times connwatch's
// replay over it (tests/bench/passive_replay_bench.sh runs it beside tcpdump).
//
//   passive-replay-bench generate FILE [--connections N] [--clients C] [--seed S]
//       Writes an Ethernet pcap of N connections (SYN/FIN/RST segments only, as the capture
//       filter would pass them) from C client addresses x 28232 ephemeral ports, interleaved
//       ~600 at a time, and prints the counts replay must report as JSON.
//   passive-replay-bench replay FILE [--max-flows N] [--threads N]
//       Replays FILE through connwatch::passive::replay_file and prints the counts plus
//       {"seconds": wall time of the replay, "packets_per_second": ...}.
#include <arpa/inet.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "probes/passive/replay.h"

namespace {

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct Event {
  std::int64_t time_us;
  std::uint64_t order;  // ties keep generation order
  std::uint32_t client_ip;
  std::uint16_t client_port;
  std::uint16_t server_port;
  bool from_client;
  std::uint8_t flags;
  std::uint32_t seq;
  std::uint32_t ack;
  std::uint16_t payload;

  bool operator>(const Event& other) const {
    return time_us != other.time_us ? time_us > other.time_us : order > other.order;
  }
};

class PcapWriter {
 public:
  explicit PcapWriter(const std::string& path) : file_(std::fopen(path.c_str(), "wb")) {
    if (file_ == nullptr) {
      std::perror(path.c_str());
      std::exit(1);
    }
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
    const std::uint32_t header[] = {0xA1B2C3D4, 0x00040002, 0, 0, 65535, 1};  // LINKTYPE_ETHERNET
    std::fwrite(header, sizeof(header), 1, file_);
  }
  ~PcapWriter() { std::fclose(file_); }

  void write(const Event& e, std::uint16_t ip_id) {
    // SYNs carry the usual 20 bytes of options (MSS, SACK, timestamps, window scale); the rest
    // carry timestamps (12 bytes), as Linux sends them.
    const std::size_t options = (e.flags & kSyn) ? 20 : 12;
    const std::size_t tcp_length = 20 + options;
    std::uint8_t frame[14 + 20 + 40] = {};
    frame[0] = 0x02;
    frame[6] = 0x02;
    frame[11] = 1;
    frame[12] = 0x08;  // IPv4
    std::uint8_t* ip = frame + 14;
    ip[0] = 0x45;
    const auto total = static_cast<std::uint16_t>(20 + tcp_length + e.payload);
    ip[2] = static_cast<std::uint8_t>(total >> 8);
    ip[3] = static_cast<std::uint8_t>(total);
    ip[4] = static_cast<std::uint8_t>(ip_id >> 8);
    ip[5] = static_cast<std::uint8_t>(ip_id);
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    const std::uint32_t client = htonl(e.client_ip);
    const std::uint32_t server = htonl(0x0A000002);  // 10.0.0.2
    std::memcpy(ip + 12, e.from_client ? &client : &server, 4);
    std::memcpy(ip + 16, e.from_client ? &server : &client, 4);
    std::uint8_t* tcp = ip + 20;
    const std::uint16_t sport = htons(e.from_client ? e.client_port : e.server_port);
    const std::uint16_t dport = htons(e.from_client ? e.server_port : e.client_port);
    const std::uint32_t seq = htonl(e.seq);
    const std::uint32_t ack = htonl(e.ack);
    std::memcpy(tcp, &sport, 2);
    std::memcpy(tcp + 2, &dport, 2);
    std::memcpy(tcp + 4, &seq, 4);
    std::memcpy(tcp + 8, &ack, 4);
    tcp[12] = static_cast<std::uint8_t>((tcp_length / 4) << 4);
    tcp[13] = e.flags;
    tcp[14] = 0xFF;
    tcp[15] = 0xFF;
    // The capture keeps headers only (snaplen 128 covers them); the wire length includes data.
    const std::uint32_t caplen = static_cast<std::uint32_t>(14 + 20 + tcp_length);
    const std::uint32_t record[] = {static_cast<std::uint32_t>(e.time_us / 1000000),
                                    static_cast<std::uint32_t>(e.time_us % 1000000), caplen,
                                    caplen + e.payload};
    std::fwrite(record, sizeof(record), 1, file_);
    std::fwrite(frame, caplen, 1, file_);
  }

 private:
  std::FILE* file_;
};

int generate(const std::string& path, std::uint64_t connections, std::uint32_t clients,
             std::uint32_t seed) {
  std::mt19937 random(seed);
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue;
  PcapWriter writer(path);
  nlohmann::json expected = {
      {"packets", 0},
      {"connections", 0},
      {"resets",
       {{"total", 0},
        {"by_sender", {{"client", 0}, {"server", 0}, {"unknown", 0}}},
        {"by_phase", {{"handshake", 0}, {"established", 0}, {"closing", 0}}}}},
      {"time_wait_entries", {{"client", 0}, {"server", 0}}},
      {"closes", {{"fin", 0}, {"reset", 0}}},
      {"malformed", 0},
      {"truncated", 0}};
  auto bump = [&](nlohmann::json& at, std::uint64_t by = 1) { at = at.get<std::uint64_t>() + by; };
  constexpr std::uint32_t kEphemeralPorts = 60999 - 32768 + 1;
  constexpr std::int64_t kSpacingUs = 80;  // one new connection per 80 us: 12.5k conn/s
  const std::uint16_t server_ports[] = {443, 80, 8080};
  std::uint64_t order = 0;
  std::uint16_t ip_id = 0;
  std::uint64_t written = 0;
  const std::int64_t start = 1700000000LL * 1000000;

  const auto flush_until = [&](std::int64_t time_us) {
    while (!queue.empty() && queue.top().time_us <= time_us) {
      writer.write(queue.top(), ++ip_id);
      queue.pop();
      ++written;
    }
  };

  for (std::uint64_t i = 0; i < connections; ++i) {
    const std::int64_t t0 = start + static_cast<std::int64_t>(i) * kSpacingUs;
    flush_until(t0);
    const std::uint64_t slot = i % (static_cast<std::uint64_t>(clients) * kEphemeralPorts);
    const std::uint32_t client_ip =
        0x0A010000 + static_cast<std::uint32_t>(slot / kEphemeralPorts) + 1;
    const auto client_port = static_cast<std::uint16_t>(32768 + slot % kEphemeralPorts);
    const std::uint16_t server_port = server_ports[i % 3];
    std::uint32_t c = random();
    std::uint32_t s = random();
    std::int64_t t = t0;
    // Connections last 5-50 ms, so ~600 are in flight at any time.
    std::uniform_int_distribution<std::int64_t> gap(1000, 12000);
    const auto add = [&](bool from_client, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
                         std::uint16_t payload = 0) {
      queue.push(
          {t, order++, client_ip, client_port, server_port, from_client, flags, seq, ack, payload});
      t += gap(random);
      bump(expected["packets"]);
    };
    const std::uint64_t kind = i % 100;
    if (kind >= 87 && kind < 92) {  // refused
      add(true, kSyn, c, 0);
      add(false, kRst | kAck, 0, c + 1);
      bump(expected["resets"]["by_sender"]["server"]);
      bump(expected["resets"]["by_phase"]["handshake"]);
      bump(expected["resets"]["total"]);
      bump(expected["closes"]["reset"]);
      continue;
    }
    add(true, kSyn, c, 0);
    add(false, kSyn | kAck, s, c + 1);
    ++c;
    ++s;
    bump(expected["connections"]);
    c += 120;         // a request
    if (kind < 80) {  // client closes first (with the last response data acked)
      add(true, kFin | kAck, c, s + 900);
      add(false, kFin | kAck, s + 900, c + 1);
      bump(expected["time_wait_entries"]["client"]);
      bump(expected["closes"]["fin"]);
    } else if (kind < 87) {  // server sends the response with its FIN
      add(false, kFin | kAck | kPsh, s, c, 900);
      add(true, kFin | kAck, c, s + 901);
      bump(expected["time_wait_entries"]["server"]);
      bump(expected["closes"]["fin"]);
    } else if (kind < 96) {  // server resets mid-stream
      add(false, kRst | kAck, s, c);
      bump(expected["resets"]["by_sender"]["server"]);
      bump(expected["resets"]["by_phase"]["established"]);
      bump(expected["resets"]["total"]);
      bump(expected["closes"]["reset"]);
    } else if (kind < 98) {  // FINs cross
      add(true, kFin | kAck, c, s);
      add(false, kFin | kAck, s, c);
      bump(expected["time_wait_entries"]["client"]);
      bump(expected["time_wait_entries"]["server"]);
      bump(expected["closes"]["fin"]);
    } else {  // stale pooled connection: server FIN, client writes, bare RST
      add(false, kFin | kAck, s, c);
      add(false, kRst, s + 1, 0);
      bump(expected["resets"]["by_sender"]["server"]);
      bump(expected["resets"]["by_phase"]["closing"]);
      bump(expected["resets"]["total"]);
      bump(expected["closes"]["reset"]);
    }
  }
  flush_until(INT64_MAX);
  // A 4-tuple repeats when both the client slot and the server port (i mod 3) repeat.
  expected["flows_distinct"] = std::min<std::uint64_t>(
      connections, std::lcm(std::uint64_t{clients} * kEphemeralPorts, std::uint64_t{3}));
  std::cerr << "wrote " << written << " packets of " << connections << " connections to " << path
            << "\n";
  std::cout << expected.dump() << std::endl;
  return 0;
}

int replay(const std::string& path, std::size_t max_flows, std::size_t threads) {
  connwatch::passive::FlowTrackerOptions options;
  options.max_flows = max_flows;
  const auto begin = std::chrono::steady_clock::now();
  const auto result = connwatch::passive::replay_file(path, options, nullptr, threads);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - begin;
  if (!result.error.empty()) {
    std::cerr << result.error << "\n";
    return 3;
  }
  nlohmann::json out = connwatch::passive::to_json(result.snapshot);
  out["seconds"] = seconds.count();
  out["packets_per_second"] = static_cast<double>(result.snapshot.packets) / seconds.count();
  out["flows"] = result.snapshot.flows;
  out["flows_evicted"] = result.snapshot.flows_evicted;
  std::cout << out.dump() << std::endl;
  return 0;
}

int usage() {
  std::cerr
      << "usage: passive-replay-bench generate FILE [--connections N] [--clients C] "
         "[--seed S]\n       passive-replay-bench replay FILE [--max-flows N] [--threads N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string_view command = argv[1];
  const std::string path = argv[2];
  std::uint64_t connections = 1300000;
  std::uint32_t clients = 8;
  std::uint32_t seed = 1;
  std::size_t max_flows = 262144;
  std::size_t threads = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const unsigned long long value = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--connections") {
      connections = value;
    } else if (flag == "--clients") {
      clients = static_cast<std::uint32_t>(value);
    } else if (flag == "--seed") {
      seed = static_cast<std::uint32_t>(value);
    } else if (flag == "--max-flows") {
      max_flows = value;
    } else if (flag == "--threads") {
      threads = value;
    } else {
      return usage();
    }
  }
  if (command == "generate") return generate(path, connections, clients, seed);
  if (command == "replay") return replay(path, max_flows, threads);
  return usage();
}
