// CaptureFileReader: walks the records of a pcap or pcapng file held in memory (a MappedFile),
// without libpcap's per-packet path (two fread()s and a header copy per packet).
//
// Formats (the tcpdump.org / IETF draft-ietf-opsawg-pcap and draft-ietf-opsawg-pcapng layouts):
// - pcap, either byte order, microsecond (0xA1B2C3D4) or nanosecond (0xA1B23C4D) timestamps;
// - pcapng, either byte order per section, several sections, several interfaces per section each
//   with its own link type, snap length, if_tsresol and if_tsoffset; Enhanced, Simple and the
//   obsolete Packet blocks carry packets, every other block is skipped by its length.
//
// Every length field is checked against the bytes that are there before anything is read, as the
// dissector does; an error stops the walk and names the byte offset of the record or block that
// broke (CaptureFileError). Records read before it stay valid: replay keeps partial counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

enum class CaptureFileErrc {
  kNotACapture = 1,     // the first 4 bytes are neither a pcap magic nor a pcapng section
  kUnsupportedVersion,  // pcap major version != 2, pcapng major version != 1
  kTruncatedHeader,     // the file ends inside the file header or a record/block header
  kTruncatedRecord,     // the file ends inside a record's packet bytes or a block's body
  kRecordTooLong,       // a captured length above kMaxCapturedLength
  kBadBlockLength,      // pcapng: a block length < 12, not a multiple of 4, or not repeated
  kBadBlockBody,        // pcapng: a field or option runs past its block's end
  kUnknownInterface,    // pcapng: a packet names an interface no block described
};

const std::error_category& capture_file_category();
std::error_code make_error_code(CaptureFileErrc errc);

}  // namespace connwatch::passive

template <>
struct std::is_error_code_enum<connwatch::passive::CaptureFileErrc> : std::true_type {};

namespace connwatch::passive {

// What stopped a walk, and where: `offset` is the byte offset in the file of the record or block
// whose header or body is wrong.
struct CaptureFileError {
  std::error_code code;
  std::uint64_t offset = 0;

  explicit operator bool() const { return static_cast<bool>(code); }
  // "<message> at byte <offset>"
  std::string to_string() const;
};

enum class CaptureFileFormat : std::uint8_t { kPcap, kPcapng };

std::string_view to_string(CaptureFileFormat format);

// One interface: a pcap file has exactly one, a pcapng file one per Interface Description Block
// (numbered across sections in file order).
struct CaptureInterface {
  std::uint32_t linktype = 0;                // LINKTYPE_* value (the low 16 bits of the field)
  std::uint32_t snaplen = 0;                 // as written; 0 = unlimited
  std::uint64_t units_per_second = 1000000;  // pcapng if_tsresol; pcap: 10^6 or 10^9
  std::int64_t offset_seconds = 0;           // pcapng if_tsoffset
};

struct CaptureRecord {
  std::span<const std::uint8_t> bytes;  // the captured bytes (caplen); points into the file
  std::uint32_t wire_length = 0;        // the packet's length on the wire (len / origlen)
  PacketTime time{};                    // microseconds since the epoch, truncated as libpcap does
  std::uint32_t interface = 0;          // index into CaptureFileReader::interfaces()
  std::uint64_t offset = 0;             // byte offset of the record (pcap) or block (pcapng)
};

class CaptureFileReader {
 public:
  // libpcap's MAXIMUM_SNAPLEN: no capture records more bytes of one packet.
  static constexpr std::uint32_t kMaxCapturedLength = 262144;

  // `file` must outlive the reader and every record it hands out.
  explicit CaptureFileReader(std::span<const std::uint8_t> file);

  // Reads the file header (pcap: interfaces() then holds its one interface) or checks the first
  // section header's magic (pcapng: interfaces appear as next() walks their blocks). False and
  // error() set when the file is not a capture.
  bool open();

  // The next packet record; false at the end of the file or on an error (then error() is set).
  bool next(CaptureRecord& record);

  const CaptureFileError& error() const { return error_; }
  CaptureFileFormat format() const { return format_; }
  const std::vector<CaptureInterface>& interfaces() const { return interfaces_; }
  // Bytes of the file walked so far (the start of the next record).
  std::uint64_t position() const { return position_; }

 private:
  bool fail(CaptureFileErrc errc, std::uint64_t offset);
  bool open_pcap();
  bool next_pcap(CaptureRecord& record);
  bool next_pcapng(CaptureRecord& record);
  bool section_header(std::uint64_t at, std::uint32_t length);
  bool interface_description(std::uint64_t at, std::span<const std::uint8_t> body);
  bool packet(std::uint64_t at, std::uint32_t interface, std::uint64_t timestamp,
              std::uint32_t captured, std::uint32_t wire, std::span<const std::uint8_t> data,
              CaptureRecord& record);

  std::uint16_t u16(std::size_t at) const;
  std::uint32_t u32(std::size_t at) const;
  // Prefetches every line of the file up to kReadAhead bytes past `at` not yet prefetched
  // (capture_file.cpp); never reads it.
  void read_ahead(std::size_t at);

  std::span<const std::uint8_t> file_;
  std::size_t position_ = 0;
  CaptureFileFormat format_ = CaptureFileFormat::kPcap;
  bool swapped_ = false;        // the file's byte order is not this host's
  std::size_t read_ahead_ = 0;  // bytes of the file prefetched so far (read_ahead())
  // pcap: the record header is 16 bytes, or 24 in the Kuznetzov "modified" format.
  std::size_t record_header_ = 16;
  std::vector<CaptureInterface> interfaces_;
  std::size_t section_first_interface_ = 0;  // pcapng: interface numbers restart per section
  CaptureFileError error_;
};

// The file's bytes, mapped read-only (or read, when mapping is not possible: a pipe).
// release_before() hands pages already walked back to the kernel, so a replay of a file of
// gigabytes keeps its resident size flat: the page cache still holds them, this process does not.
class MappedFile {
 public:
  // Empty and `error` set (naming the path) when the file cannot be opened or read.
  static MappedFile open(const std::string& path, std::string& error);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  // Drops the mapping's pages wholly below `offset` from this process (MADV_DONTNEED).
  void release_before(std::size_t offset);
  // Maps the file's pages below `offset` not yet mapped, in one call (MADV_POPULATE_READ, Linux
  // 5.14; ignored by older kernels, where they fault in 64 KiB at a time as they are read).
  void populate_before(std::size_t offset);

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::size_t released_ = 0;
  std::size_t populated_ = 0;
  std::vector<std::uint8_t> copy_;  // when the file could not be mapped
};

}  // namespace connwatch::passive
