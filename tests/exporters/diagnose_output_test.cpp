// exporters/diagnose_output: the families of a diagnose run, the atomic textfile and the
// Pushgateway client's error paths (the fleet test pushes to a real Pushgateway).
#include "exporters/diagnose_output.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace connwatch::exporters {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

DiagnoseRun sample_run() {
  DiagnoseRun run;
  run.findings = {{"connection-refused", "warning"}, {"ephemeral-port-exhaustion", "critical"}};
  run.finished_unix_seconds = 1700000000.5;
  run.duration_seconds = 10.25;
  prometheus::Registry measured;
  prometheus::BuildCounter()
      .Name("connwatch_tcp_resets_total")
      .Help("resets")
      .Register(measured)
      .Add({{"sender", "server"}, {"phase", "handshake"}, {"port", "443"}})
      .Increment(7);
  run.measured = measured.Collect();
  return run;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/connwatch-textfile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(DiagnoseFamilies, FindingsTimestampDurationThenTheMeasuredFamilies) {
  const auto families = diagnose_families(sample_run());
  ASSERT_EQ(families.size(), 4u);
  EXPECT_EQ(families[0].name, "connwatch_diagnose_finding");
  ASSERT_EQ(families[0].metric.size(), 2u);
  for (const auto& m : families[0].metric) {
    EXPECT_EQ(m.gauge.value, 1);
    ASSERT_EQ(m.label.size(), 2u);
  }
  EXPECT_EQ(families[1].name, "connwatch_diagnose_last_run_timestamp_seconds");
  EXPECT_DOUBLE_EQ(families[1].metric.at(0).gauge.value, 1700000000.5);
  EXPECT_EQ(families[2].name, "connwatch_diagnose_duration_seconds");
  EXPECT_DOUBLE_EQ(families[2].metric.at(0).gauge.value, 10.25);
  EXPECT_EQ(families[3].name, "connwatch_tcp_resets_total");
}

TEST(DiagnoseFamilies, NoFindingsMeansNoFindingSeries) {
  // A clean run pushed over an earlier one (PUT replaces the group) clears the old findings.
  DiagnoseRun run;
  run.duration_seconds = 1;
  const auto families = diagnose_families(run);
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "connwatch_diagnose_last_run_timestamp_seconds");
  EXPECT_EQ(families[1].name, "connwatch_diagnose_duration_seconds");
}

TEST_F(TempDir, TextfileReplacesTheOldFileAndLeavesNoTemporaryBehind) {
  const fs::path path = dir_ / "connwatch.prom";
  std::ofstream(path) << "old contents\n";
  ASSERT_EQ(write_textfile(path.string(), diagnose_families(sample_run())), std::nullopt);
  const std::string text = read(path);
  EXPECT_EQ(text.find("old contents"), std::string::npos);
  EXPECT_NE(
      text.find("connwatch_diagnose_finding{id=\"connection-refused\",severity=\"warning\"} 1"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("connwatch_diagnose_duration_seconds 10.25"), std::string::npos) << text;
  EXPECT_NE(
      text.find("connwatch_tcp_resets_total{phase=\"handshake\",port=\"443\",sender=\"server\"} 7"),
      std::string::npos)
      << text;
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "connwatch.prom");
  }
  EXPECT_EQ(entries, 1);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // node_exporter runs as another user
}

TEST_F(TempDir, TextfileInAMissingDirectoryFailsWithTheReasonAndWritesNothing) {
  const auto error = write_textfile((dir_ / "nope" / "x.prom").string(), {});
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("No such file or directory"), std::string::npos) << *error;
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST(PushGateway, RejectsWhatIsNotAnHttpUrl) {
  for (const char* url : {"pushgateway:9091", "ftp://host:9091", "http://", "http://host:abc"}) {
    const auto error = push_to_gateway(url, "host", {});
    ASSERT_TRUE(error.has_value()) << url;
    EXPECT_NE(error->find("is not an http"), std::string::npos) << *error;
  }
}

TEST(PushGateway, NothingListeningIsAnErrorNamingTheUrl) {
  // Port 1 on loopback: nothing listens, the connect is refused at once.
  const auto error = push_to_gateway("http://127.0.0.1:1", "host", diagnose_families({}));
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("http://127.0.0.1:1"), std::string::npos) << *error;
}

TEST(HostName, IsNotEmpty) { EXPECT_FALSE(host_name().empty()); }

}  // namespace
}  // namespace connwatch::exporters
