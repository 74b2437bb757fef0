#include "probes/passive/replay_shards.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "probes/passive/replay.h"

namespace connwatch::passive {
namespace {

const std::filesystem::path kPcaps =
    std::filesystem::path(CONNWATCH_SOURCE_DIR) / "tests/probes/passive/pcaps";

std::vector<std::filesystem::path> fixtures() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kPcaps)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".pcap" || ext == ".pcapng") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::map<std::string, std::uint64_t> peers_of(const PassiveSnapshot& snapshot) {
  std::map<std::string, std::uint64_t> peers;
  for (const PeerResets& peer : snapshot.peers) {
    if (peer.total() > 0) peers[peer.peer] = peer.total();
  }
  return peers;
}

// `--replay --threads N` shards flows across workers; whatever N, every count is one thread's,
// NAT fixtures included (their two views of a connection hash to different workers).
TEST(ReplayShards, CountsEveryFixtureAsOneThreadDoes) {
  const auto files = fixtures();
  ASSERT_GE(files.size(), 30u);
  std::size_t with_duplicates = 0;
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const ReplayResult one = replay_file(path.string(), {}, nullptr, 1);
    ASSERT_TRUE(one.error.empty()) << one.error;
    with_duplicates += one.snapshot.duplicates > 0 ? 1 : 0;
    for (const std::size_t threads : {2, 3, 4}) {
      SCOPED_TRACE(threads);
      const ReplayResult many = replay_file(path.string(), {}, nullptr, threads);
      ASSERT_TRUE(many.error.empty()) << many.error;
      EXPECT_EQ(to_json(many.snapshot), to_json(one.snapshot));
      EXPECT_EQ(many.snapshot.duplicates, one.snapshot.duplicates);
      EXPECT_EQ(many.snapshot.not_tcp, one.snapshot.not_tcp);
      EXPECT_EQ(many.snapshot.resets_suspected_middlebox, one.snapshot.resets_suspected_middlebox);
      EXPECT_EQ(peers_of(many.snapshot), peers_of(one.snapshot));
    }
  }
  EXPECT_GE(with_duplicates, 3u);  // the NAT and "any" fixtures
}

TEST(ReplayShards, KeepsPartialCountsAndTheErrorOfAFileThatBreaksPartWay) {
  std::filesystem::path cut = std::filesystem::path(::testing::TempDir()) / "shards_cut.pcap";
  std::filesystem::copy_file(kPcaps / "client_close_eth.pcap", cut,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, 24 + 8 * 70 + 30);
  const ReplayResult result = replay_file(cut.string(), {}, nullptr, 2);
  EXPECT_TRUE(result.opened);
  EXPECT_NE(result.error.find("at byte 584"), std::string::npos) << result.error;
  EXPECT_EQ(result.snapshot.packets, 8u);
  EXPECT_EQ(result.snapshot.connections, 2u);
}

}  // namespace
}  // namespace connwatch::passive
