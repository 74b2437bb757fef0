// Access to tests/probes/kernel/testdata: captured netlink replies and /proc samples.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace connwatch::kernel::testing {

inline std::filesystem::path testdata_dir() {
  return std::filesystem::path(CONNWATCH_SOURCE_DIR) / "tests/probes/kernel/testdata";
}

inline std::vector<std::uint8_t> read_testdata(const std::string& name) {
  std::ifstream in(testdata_dir() / name, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string read_testdata_text(const std::string& name) {
  std::ifstream in(testdata_dir() / name, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace connwatch::kernel::testing
