#include "probes/passive/capture_file.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "probes/passive/capture_filter.h"
#include "probes/passive/dissector.h"
#include "probes/passive/replay.h"

namespace connwatch::passive {
namespace {

const std::filesystem::path kPcaps =
    std::filesystem::path(CONNWATCH_SOURCE_DIR) / "tests/probes/passive/pcaps";
// The shared field cases (../shared/cases beside the checkout), when present.
const std::filesystem::path kSharedCases =
    std::filesystem::path(CONNWATCH_SOURCE_DIR) / "../shared/cases";

std::vector<std::filesystem::path> fixtures() {
  std::vector<std::filesystem::path> files;
  for (const auto& dir : {kPcaps, kSharedCases}) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string ext = entry.path().extension().string();
      if (ext == ".pcap" || ext == ".pcapng") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<CaptureRecord> read_all(std::span<const std::uint8_t> file, CaptureFileError& error,
                                    std::vector<CaptureInterface>* interfaces = nullptr) {
  CaptureFileReader reader(file);
  std::vector<CaptureRecord> records;
  if (reader.open()) {
    CaptureRecord record;
    while (reader.next(record)) records.push_back(record);
  }
  error = reader.error();
  if (interfaces != nullptr) *interfaces = reader.interfaces();
  return records;
}

TEST(CaptureFileReader, ReadsEveryFixtureRecordForRecordAsLibpcapDoes) {
  const auto files = fixtures();
  ASSERT_GE(files.size(), 30u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const std::vector<std::uint8_t> bytes = read_bytes(path);
    CaptureFileError error;
    const std::vector<CaptureRecord> records = read_all(bytes, error);
    EXPECT_FALSE(error) << error.to_string();

    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    ASSERT_NE(handle, nullptr) << errbuf;
    std::size_t index = 0;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(handle, &header, &data) == 1) {
      ASSERT_LT(index, records.size());
      const CaptureRecord& record = records[index++];
      EXPECT_EQ(record.bytes.size(), header->caplen);
      EXPECT_EQ(record.wire_length, header->len);
      EXPECT_EQ(record.time.count(),
                std::int64_t{header->ts.tv_sec} * 1000000 + header->ts.tv_usec);
      EXPECT_EQ(std::memcmp(record.bytes.data(), data, header->caplen), 0);
    }
    pcap_close(handle);
    EXPECT_EQ(index, records.size());
  }
}

// Replay selects by the dissector (CaptureFilter::selects) instead of running the program the
// kernel runs live: on every fixture packet both must agree, or replay would count what live
// capture never sees.
TEST(CaptureFilter, DissectorSelectionEqualsTheBpfProgramOnEveryFixturePacket) {
  std::size_t packets = 0;
  std::size_t passed = 0;
  std::size_t by_program = 0;  // truncated or malformed: the program itself decided
  for (const auto& path : fixtures()) {
    SCOPED_TRACE(path.string());
    const std::vector<std::uint8_t> bytes = read_bytes(path);
    CaptureFileError error;
    std::vector<CaptureInterface> interfaces;
    const std::vector<CaptureRecord> records = read_all(bytes, error, &interfaces);
    for (const CaptureRecord& record : records) {
      const auto link = link_type_from_linktype(interfaces[record.interface].linktype);
      ASSERT_TRUE(link);
      std::string filter_error;
      const auto filter = CaptureFilter::for_link(*link, filter_error);
      ASSERT_TRUE(filter) << filter_error;
      const DissectResult dissected = dissect(record.bytes, *link);
      pcap_pkthdr header{};
      header.caplen = static_cast<bpf_u_int32>(record.bytes.size());
      header.len = record.wire_length;
      const bool program = filter->matches(header, record.bytes.data());
      EXPECT_EQ(filter->selects(dissected, record.bytes, record.wire_length), program)
          << "record at byte " << record.offset << ", dissected as "
          << to_string(dissected.outcome);
      ++packets;
      passed += program ? 1 : 0;
      if (dissected.outcome == DissectOutcome::kTruncated ||
          dissected.outcome == DissectOutcome::kMalformed) {
        ++by_program;
      }
    }
  }
  EXPECT_GT(packets, 300u);
  EXPECT_GT(passed, 250u);
  EXPECT_LT(passed, packets);          // the noise fixtures hold packets the filter drops
  EXPECT_LT(by_program, packets / 4);  // the dissector decides for almost all
}

// Little builders for synthetic files, in either byte order.
class Bytes {
 public:
  explicit Bytes(bool big_endian = false) : big_(big_endian) {}
  Bytes& u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  Bytes& u16(std::uint16_t v) {
    return big_ ? u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v))
                : u8(static_cast<std::uint8_t>(v)).u8(static_cast<std::uint8_t>(v >> 8));
  }
  Bytes& u32(std::uint32_t v) {
    return big_ ? u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v))
                : u16(static_cast<std::uint16_t>(v)).u16(static_cast<std::uint16_t>(v >> 16));
  }
  Bytes& raw(std::span<const std::uint8_t> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Bytes& pad4() {
    while (out_.size() % 4 != 0) out_.push_back(0);
    return *this;
  }
  Bytes& append(const Bytes& other) { return raw(other.out_); }
  std::size_t size() const { return out_.size(); }
  const std::vector<std::uint8_t>& bytes() const { return out_; }

 private:
  bool big_;
  std::vector<std::uint8_t> out_;
};

// A pcapng block: type, length, body (padded), length.
Bytes block(bool big, std::uint32_t type, const Bytes& body) {
  Bytes padded = body;
  padded.pad4();
  const auto length = static_cast<std::uint32_t>(padded.size() + 12);
  Bytes out(big);
  out.u32(type).u32(length).append(padded).u32(length);
  return out;
}

Bytes section(bool big) {
  Bytes body(big);
  body.u32(0x1A2B3C4D).u16(1).u16(0).u32(0xFFFFFFFF).u32(0xFFFFFFFF);
  return block(big, 0x0A0D0D0A, body);
}

Bytes interface(bool big, std::uint16_t linktype, std::uint32_t snaplen, int tsresol = -1,
                std::int64_t tsoffset = 0) {
  Bytes body(big);
  body.u16(linktype).u16(0).u32(snaplen);
  if (tsresol >= 0) body.u16(9).u16(1).u8(static_cast<std::uint8_t>(tsresol)).pad4();
  if (tsoffset != 0) {
    const auto value = static_cast<std::uint64_t>(tsoffset);
    body.u16(14).u16(8);
    if (big) {
      body.u32(static_cast<std::uint32_t>(value >> 32)).u32(static_cast<std::uint32_t>(value));
    } else {
      body.u32(static_cast<std::uint32_t>(value)).u32(static_cast<std::uint32_t>(value >> 32));
    }
  }
  body.u16(0).u16(0);
  return block(big, 1, body);
}

Bytes enhanced(bool big, std::uint32_t id, std::uint64_t timestamp,
               std::span<const std::uint8_t> data, std::uint32_t wire = 0) {
  Bytes body(big);
  body.u32(id)
      .u32(static_cast<std::uint32_t>(timestamp >> 32))
      .u32(static_cast<std::uint32_t>(timestamp))
      .u32(static_cast<std::uint32_t>(data.size()))
      .u32(wire != 0 ? wire : static_cast<std::uint32_t>(data.size()))
      .raw(data);
  return block(big, 6, body);
}

std::vector<CaptureRecord> pcap_records(const std::filesystem::path& path) {
  static std::vector<std::vector<std::uint8_t>> keep;  // records point into the bytes
  keep.push_back(read_bytes(path));
  CaptureFileError error;
  return read_all(keep.back(), error);
}

TEST(CaptureFileReader, ReadsBigEndianNanosecondPcap) {
  const std::vector<std::uint8_t> packet = {0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6};
  Bytes file(/*big_endian=*/true);
  file.u32(0xA1B23C4D).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(101);
  file.u32(1700000000).u32(123456789).u32(10).u32(60).raw(packet);
  file.u32(1700000001).u32(999).u32(10).u32(10).raw(packet);
  CaptureFileError error;
  std::vector<CaptureInterface> interfaces;
  const auto records = read_all(file.bytes(), error, &interfaces);
  EXPECT_FALSE(error) << error.to_string();
  ASSERT_EQ(records.size(), 2u);
  ASSERT_EQ(interfaces.size(), 1u);
  EXPECT_EQ(link_type_from_linktype(interfaces[0].linktype), LinkType::kRaw);
  EXPECT_EQ(records[0].time.count(), 1700000000LL * 1000000 + 123456);
  EXPECT_EQ(records[1].time.count(), 1700000001LL * 1000000);
  EXPECT_EQ(records[0].wire_length, 60u);
  EXPECT_EQ(std::vector<std::uint8_t>(records[0].bytes.begin(), records[0].bytes.end()), packet);
  EXPECT_EQ(records[1].offset, 24u + 16 + 10);
}

TEST(CaptureFileReader, ReadsPcapngWithInterfacesOfDifferentLinkTypesSnaplensAndClocks) {
  const std::vector<std::uint8_t> data(100, 0xAB);
  Bytes file;
  file.append(section(false));
  file.append(interface(false, 1, 0));                          // Ethernet, microseconds
  file.append(interface(false, 101, 40, 9, /*tsoffset=*/100));  // raw IP, ns, cut at 40 bytes
  file.append(block(false, 5, Bytes().u32(0).u32(0)));          // statistics: skipped
  file.append(enhanced(false, 0, 1700000000ULL * 1000000 + 7, data));
  file.append(enhanced(false, 1, 1700000000ULL * 1000000000 + 7000, data, 1500));
  Bytes simple;
  simple.u32(60).raw(std::span(data).first(60));
  file.append(block(false, 3, simple));
  // A second section in the other byte order with its own interface numbering.
  file.append(section(true));
  file.append(interface(true, 113, 65535, 0x80 | 10));  // SLL, 2^-10 s
  file.append(enhanced(true, 0, 1024 * 5 + 512, data));

  CaptureFileError error;
  std::vector<CaptureInterface> interfaces;
  const auto records = read_all(file.bytes(), error, &interfaces);
  EXPECT_FALSE(error) << error.to_string();
  ASSERT_EQ(records.size(), 4u);
  ASSERT_EQ(interfaces.size(), 3u);
  EXPECT_EQ(records[0].interface, 0u);
  EXPECT_EQ(records[0].bytes.size(), 100u);
  EXPECT_EQ(records[0].time.count(), 1700000000LL * 1000000 + 7);
  EXPECT_EQ(records[1].interface, 1u);
  EXPECT_EQ(records[1].bytes.size(), 40u);  // the interface's snaplen
  EXPECT_EQ(records[1].wire_length, 1500u);
  EXPECT_EQ(records[1].time.count(), (1700000000LL + 100) * 1000000 + 7);
  EXPECT_EQ(records[2].interface, 0u);  // a simple packet block: the section's first interface
  EXPECT_EQ(records[2].bytes.size(), 60u);
  EXPECT_EQ(records[3].interface, 2u);
  EXPECT_EQ(records[3].time.count(), 5 * 1000000 + 500000);
  EXPECT_EQ(link_type_from_linktype(interfaces[2].linktype), LinkType::kLinuxSll);
}

// libpcap refuses a pcapng file whose interfaces have different link types; replay reads it and
// dissects each packet by its own interface's framing.
TEST(Replay, CountsAPcapngFileWhoseInterfacesHaveDifferentLinkTypes) {
  const auto records = pcap_records(kPcaps / "refused_eth.pcap");  // 3 refused, Ethernet
  ASSERT_EQ(records.size(), 6u);
  Bytes file;
  file.append(section(false));
  file.append(interface(false, 1, 65535));
  file.append(interface(false, 101, 65535));
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto ts = static_cast<std::uint64_t>(records[i].time.count());
    if (i % 2 == 0) {
      file.append(enhanced(false, 0, ts, records[i].bytes));
    } else {
      file.append(enhanced(false, 1, ts, records[i].bytes.subspan(14)));  // without Ethernet
    }
  }
  const auto path = std::filesystem::path(::testing::TempDir()) / "two_link_types.pcapng";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(file.bytes().data()),
             static_cast<std::streamsize>(file.size()));
  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(run_replay(path.string(), ReplayFormat::kJson, {}, out, err), 0) << err.str();
  const auto json = nlohmann::json::parse(out.str());
  EXPECT_EQ(json["packets"], 6);
  EXPECT_EQ(json["resets"]["by_phase"]["handshake"], 3);
  EXPECT_EQ(json["closes"]["reset"], 3);
}

struct Broken {
  std::string name;
  std::vector<std::uint8_t> bytes;
  CaptureFileErrc errc;
  std::uint64_t offset;
  std::size_t records_before;
};

std::vector<Broken> broken_files() {
  std::vector<Broken> out;
  const std::vector<std::uint8_t> packet(20, 1);
  Bytes pcap;
  pcap.u32(0xA1B2C3D4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1);
  pcap.u32(1).u32(0).u32(20).u32(20).raw(packet);  // a good record at 24
  Bytes cut = pcap;
  cut.u32(2).u32(0).u32(20).u32(20).raw(std::span(packet).first(5));  // at 60
  out.push_back({"cut_record", cut.bytes(), CaptureFileErrc::kTruncatedRecord, 60, 1});
  Bytes cut_header = pcap;
  cut_header.u32(2).u32(0);
  out.push_back({"cut_header", cut_header.bytes(), CaptureFileErrc::kTruncatedHeader, 60, 1});
  Bytes huge = pcap;
  huge.u32(2).u32(0).u32(262145).u32(262145);
  out.push_back({"huge", huge.bytes(), CaptureFileErrc::kRecordTooLong, 60, 1});
  Bytes version;
  version.u32(0xA1B2C3D4).u16(3).u16(0).u32(0).u32(0).u32(65535).u32(1);
  out.push_back({"version", version.bytes(), CaptureFileErrc::kUnsupportedVersion, 0, 0});
  out.push_back({"not_a_capture", {'G', 'E', 'T', ' ', '/'}, CaptureFileErrc::kNotACapture, 0, 0});

  Bytes ng;
  ng.append(section(false)).append(interface(false, 1, 0));
  const std::size_t first_packet = ng.size();
  ng.append(enhanced(false, 0, 1, packet));
  Bytes unknown = ng;
  const std::size_t unknown_at = unknown.size();
  unknown.append(enhanced(false, 7, 1, packet));
  out.push_back(
      {"unknown_interface", unknown.bytes(), CaptureFileErrc::kUnknownInterface, unknown_at, 1});
  Bytes odd_length = ng;
  const std::size_t odd_at = odd_length.size();
  odd_length.u32(6).u32(30).u32(0);
  out.push_back({"odd_length", odd_length.bytes(), CaptureFileErrc::kBadBlockLength, odd_at, 1});
  Bytes past_end = ng;
  const std::size_t past_at = past_end.size();
  past_end.u32(6).u32(4096).u32(0);
  out.push_back({"past_end", past_end.bytes(), CaptureFileErrc::kTruncatedRecord, past_at, 1});
  Bytes caplen_past_body = ng;
  Bytes body;
  body.u32(0).u32(0).u32(0).u32(200).u32(200).raw(packet);
  caplen_past_body.append(block(false, 6, body));
  out.push_back({"caplen_past_body", caplen_past_body.bytes(), CaptureFileErrc::kBadBlockBody,
                 first_packet + 20 + 12 + 20, 1});
  return out;
}

TEST(CaptureFileReader, StopsAtABrokenRecordNamingItsOffsetAndKeepsTheRecordsBefore) {
  for (const Broken& broken : broken_files()) {
    SCOPED_TRACE(broken.name);
    CaptureFileError error;
    const auto records = read_all(broken.bytes, error);
    EXPECT_EQ(error.code, make_error_code(broken.errc)) << error.to_string();
    EXPECT_EQ(error.offset, broken.offset);
    EXPECT_EQ(records.size(), broken.records_before);
    EXPECT_NE(error.to_string().find("at byte " + std::to_string(broken.offset)),
              std::string::npos);
  }
}

}  // namespace
}  // namespace connwatch::passive
