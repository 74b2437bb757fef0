#include "probes/passive/replay.h"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace connwatch::passive {
namespace {

const std::filesystem::path kPcaps =
    std::filesystem::path(CONNWATCH_SOURCE_DIR) / "tests/probes/passive/pcaps";

struct ManifestEntry {
  std::string name;
  std::string file;
  std::map<std::string, std::uint64_t> expected;
};

void PrintTo(const ManifestEntry& entry, std::ostream* out) { *out << entry.file; }

std::vector<ManifestEntry> load_manifest() {
  std::vector<ManifestEntry> entries;
  std::ifstream in(kPcaps / "MANIFEST");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    ManifestEntry entry;
    fields >> entry.name >> entry.file;
    std::string pair;
    while (fields >> pair) {
      const auto equals = pair.find('=');
      entry.expected[pair.substr(0, equals)] = std::stoull(pair.substr(equals + 1));
    }
    entries.push_back(entry);
  }
  return entries;
}

// Every numeric leaf of the JSON object as a dotted path.
void flatten(const nlohmann::json& json, const std::string& prefix,
             std::map<std::string, std::uint64_t>& out) {
  for (const auto& [key, value] : json.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      flatten(value, path, out);
    } else {
      out[path] = value.get<std::uint64_t>();
    }
  }
}

class ReplayManifest : public ::testing::TestWithParam<ManifestEntry> {};

TEST_P(ReplayManifest, CountsWhatTheFixtureHolds) {
  const ManifestEntry& entry = GetParam();
  const std::string path = (kPcaps / entry.file).string();
  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(run_replay(path, ReplayFormat::kJson, {}, out, err), 0) << err.str();
  const nlohmann::json json = nlohmann::json::parse(out.str());
  std::map<std::string, std::uint64_t> actual;
  flatten(json, "", actual);
  ASSERT_EQ(actual.size(), 15u) << "SPEC §2 shape: " << out.str();
  for (const auto& [key, count] : actual) {
    const auto expected = entry.expected.find(key);
    EXPECT_EQ(count, expected == entry.expected.end() ? 0 : expected->second) << key;
  }
  for (const auto& [key, count] : entry.expected) {
    if (key.starts_with("snapshot.")) continue;
    EXPECT_TRUE(actual.contains(key)) << "manifest key not in the JSON: " << key;
  }

  const ReplayResult result = replay_file(path, {}, nullptr);
  const auto extra = [&](const std::string& key) {
    const auto found = entry.expected.find("snapshot." + key);
    return found == entry.expected.end() ? 0 : found->second;
  };
  EXPECT_EQ(result.snapshot.duplicates, extra("duplicates"));
  EXPECT_EQ(result.snapshot.resets_suspected_middlebox, extra("middlebox"));

  // snapshot.peer.ADDRESS=N: when a fixture names peers, those are exactly the peers with resets.
  std::map<std::string, std::uint64_t> expected_peers;
  for (const auto& [key, count] : entry.expected) {
    if (key.starts_with("snapshot.peer.")) expected_peers[key.substr(14)] = count;
  }
  if (!expected_peers.empty()) {
    std::map<std::string, std::uint64_t> peers;
    for (const PeerResets& peer : result.snapshot.peers) {
      if (peer.total() > 0) peers[peer.peer] = peer.total();
    }
    EXPECT_EQ(peers, expected_peers);
  }
}

std::string test_name(const ::testing::TestParamInfo<ManifestEntry>& info) {
  std::string name = info.param.name;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReplayManifest, ::testing::ValuesIn(load_manifest()), test_name);

TEST(Replay, FindsTheManifestAndEveryFileItNames) {
  const std::vector<ManifestEntry> entries = load_manifest();
  ASSERT_GE(entries.size(), 20u);
  for (const ManifestEntry& entry : entries) {
    EXPECT_TRUE(std::filesystem::exists(kPcaps / entry.file)) << entry.file;
  }
}

std::filesystem::path temp_file(const std::string& name, const std::string& bytes) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Replay, ExitsThreeNamingAMissingFile) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_replay("/nonexistent/capture.pcap", ReplayFormat::kJson, {}, out, err), 3);
  EXPECT_TRUE(out.str().empty());
  EXPECT_NE(err.str().find("/nonexistent/capture.pcap"), std::string::npos) << err.str();
}

TEST(Replay, ExitsThreeNamingAFileThatIsNotACapture) {
  const auto path = temp_file("not_a_capture.pcap", "GET / HTTP/1.1\r\n\r\nnot a pcap at all");
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_replay(path.string(), ReplayFormat::kText, {}, out, err), 3);
  EXPECT_NE(err.str().find(path.string()), std::string::npos) << err.str();
}

TEST(Replay, ExitsThreeOnALinkTypeItCannotDissect) {
  std::string bytes = read_bytes(kPcaps / "refused_eth.pcap");
  bytes[20] = 105;  // LINKTYPE_IEEE802_11
  const auto path = temp_file("wifi.pcap", bytes);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_replay(path.string(), ReplayFormat::kJson, {}, out, err), 3);
  EXPECT_NE(err.str().find("unsupported link type"), std::string::npos) << err.str();
}

TEST(Replay, PrintsPartialCountsAndExitsThreeWhenTheFileBreaksPartWay) {
  // client_close_eth: 24-byte file header, then 16 records of 16 + 54 bytes. Cut inside the
  // ninth record: the first two connections (8 packets) are complete.
  std::string bytes = read_bytes(kPcaps / "client_close_eth.pcap");
  bytes.resize(24 + 8 * 70 + 30);
  const auto path = temp_file("cut.pcap", bytes);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_replay(path.string(), ReplayFormat::kJson, {}, out, err), 3);
  const nlohmann::json json = nlohmann::json::parse(out.str());
  EXPECT_EQ(json["packets"], 8);
  EXPECT_EQ(json["connections"], 2);
  EXPECT_EQ(json["time_wait_entries"]["client"], 2);
  EXPECT_NE(err.str().find(path.string()), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("partial"), std::string::npos) << err.str();
}

TEST(Replay, ExitsThreeOnARecordClaimingAnImpossibleLength) {
  std::string bytes = read_bytes(kPcaps / "refused_eth.pcap");
  // Second record's caplen (file header 24 + record 70 + ts 8) -> 0x7FFFFFFF.
  const std::size_t caplen = 24 + 70 + 8;
  bytes[caplen] = '\xff';
  bytes[caplen + 1] = '\xff';
  bytes[caplen + 2] = '\xff';
  bytes[caplen + 3] = '\x7f';
  const auto path = temp_file("huge_record.pcap", bytes);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_replay(path.string(), ReplayFormat::kJson, {}, out, err), 3);
  EXPECT_EQ(nlohmann::json::parse(out.str())["packets"], 1);
}

TEST(Replay, PrintsThePassiveFamiliesInPrometheusFormat) {
  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(
      run_replay((kPcaps / "refused_eth.pcap").string(), ReplayFormat::kPrometheus, {}, out, err),
      0);
  const std::string text = out.str();
  EXPECT_NE(text.find("# TYPE connwatch_tcp_resets_total counter"), std::string::npos) << text;
  EXPECT_NE(
      text.find("connwatch_tcp_resets_total{phase=\"handshake\",port=\"443\",sender=\"server\"} 3"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("connwatch_capture_packets_total 6"), std::string::npos) << text;
  EXPECT_NE(text.find("connwatch_capture_up 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("connwatch_probe_"), std::string::npos);
}

TEST(Replay, PrintsAShortSummaryAsText) {
  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(run_replay((kPcaps / "refused_eth.pcap").string(), ReplayFormat::kText, {}, out, err),
            0);
  EXPECT_NE(out.str().find("resets: 3"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("refused"), std::string::npos) << out.str();
}

TEST(Replay, ReadsFormatNames) {
  EXPECT_EQ(replay_format_from_string("json"), ReplayFormat::kJson);
  EXPECT_EQ(replay_format_from_string("text"), ReplayFormat::kText);
  EXPECT_EQ(replay_format_from_string("prometheus"), ReplayFormat::kPrometheus);
  EXPECT_FALSE(replay_format_from_string("yaml"));
}

TEST(Replay, UsesTheListedPortsForLabels) {
  FlowTrackerOptions options;
  options.ports = {8080};
  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(run_replay((kPcaps / "midstream_resets_eth.pcap").string(), ReplayFormat::kPrometheus,
                       options, out, err),
            0);
  EXPECT_NE(out.str().find("port=\"8080\",sender=\"server\"} 1"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace connwatch::passive
