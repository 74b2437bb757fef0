#include "probes/passive/capture_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "probes/passive/prefetch.h"

namespace connwatch::passive {
namespace {

constexpr std::uint32_t kPcapMicro = 0xA1B2C3D4;
constexpr std::uint32_t kPcapNano = 0xA1B23C4D;
constexpr std::uint32_t kPcapModified = 0xA1B2CD34;  // Kuznetzov's: 8 more bytes per record
constexpr std::size_t kPcapFileHeader = 24;

constexpr std::uint32_t kSectionHeaderBlock = 0x0A0D0D0A;  // the same in both byte orders
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint32_t kInterfaceDescriptionBlock = 1;
constexpr std::uint32_t kPacketBlock = 2;  // obsolete, still written by old tools
constexpr std::uint32_t kSimplePacketBlock = 3;
constexpr std::uint32_t kEnhancedPacketBlock = 6;
constexpr std::size_t kBlockOverhead = 12;  // type, length, trailing length
constexpr std::uint16_t kOptionEnd = 0;
constexpr std::uint16_t kOptionTsresol = 9;
constexpr std::uint16_t kOptionTsoffset = 14;

class CaptureFileCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "capture_file"; }
  std::string message(int value) const override {
    switch (static_cast<CaptureFileErrc>(value)) {
      case CaptureFileErrc::kNotACapture:
        return "not a pcap or pcapng file";
      case CaptureFileErrc::kUnsupportedVersion:
        return "unsupported file format version";
      case CaptureFileErrc::kTruncatedHeader:
        return "file ends inside a header";
      case CaptureFileErrc::kTruncatedRecord:
        return "file ends inside a packet record";
      case CaptureFileErrc::kRecordTooLong:
        return "captured length above 262144 bytes";
      case CaptureFileErrc::kBadBlockLength:
        return "invalid pcapng block length";
      case CaptureFileErrc::kBadBlockBody:
        return "pcapng block body shorter than its fields";
      case CaptureFileErrc::kUnknownInterface:
        return "packet of an undescribed interface";
    }
    return "unknown capture file error";
  }
};

// Records are read in file order, so every line up to kReadAhead bytes past the record being read
// is asked for (read_ahead()): it is cached when its record comes, where the hardware prefetcher
// would stop at the page edge (replay maps the pages ahead, MappedFile::populate_before, so the
// hint never falls on an unmapped page). 2 KiB measured best in
// tests/bench/passive_replay_bench.sh (4 and 8 KiB: the same; 1 KiB: about 3% more CPU).
constexpr std::size_t kReadAhead = 2048;

std::uint32_t load32(const std::uint8_t* at) {
  std::uint32_t value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}

std::uint16_t load16(const std::uint8_t* at) {
  std::uint16_t value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}

// Microseconds since the epoch of a timestamp in `units_per_second`, truncated like libpcap's
// conversion to microsecond precision. Unsigned arithmetic: a nonsense timestamp wraps, never UB.
PacketTime to_packet_time(std::uint64_t seconds, std::uint64_t fraction,
                          std::uint64_t units_per_second) {
  constexpr std::uint64_t kMicro = 1000000;
  // fraction < units_per_second: exact while fraction * 10^6 fits 64 bits (resolutions down to
  // 2^-44 s), else (finer, seen only in fuzzed files) scaled the other way round.
  const std::uint64_t micros = units_per_second <= UINT64_MAX / kMicro
                                   ? fraction * kMicro / units_per_second
                                   : fraction / (units_per_second / kMicro);
  return PacketTime(static_cast<std::int64_t>(seconds * 1000000 + micros));
}

}  // namespace

const std::error_category& capture_file_category() {
  static const CaptureFileCategory category;
  return category;
}

std::error_code make_error_code(CaptureFileErrc errc) {
  return {static_cast<int>(errc), capture_file_category()};
}

std::string CaptureFileError::to_string() const {
  return code.message() + " at byte " + std::to_string(offset);
}

std::string_view to_string(CaptureFileFormat format) {
  switch (format) {
    case CaptureFileFormat::kPcap:
      return "pcap";
    case CaptureFileFormat::kPcapng:
      return "pcapng";
  }
  return "pcap";
}

CaptureFileReader::CaptureFileReader(std::span<const std::uint8_t> file) : file_(file) {}

bool CaptureFileReader::fail(CaptureFileErrc errc, std::uint64_t offset) {
  error_ = {make_error_code(errc), offset};
  position_ = file_.size();  // every later next() ends at once
  return false;
}

std::uint16_t CaptureFileReader::u16(std::size_t at) const {
  const std::uint16_t value = load16(file_.data() + at);
  return swapped_ ? __builtin_bswap16(value) : value;
}

void CaptureFileReader::read_ahead(std::size_t at) {
  // Every line once, whatever the records' lengths: one prefetch a record skipped every third
  // line of 86-byte records (6% more replay time), and long records span several.
  const std::size_t until = std::min(at + kReadAhead, file_.size());
  if (read_ahead_ < at) read_ahead_ = at & ~std::size_t{63};
  for (; read_ahead_ < until; read_ahead_ += 64) prefetch_line(file_.data() + read_ahead_);
}

std::uint32_t CaptureFileReader::u32(std::size_t at) const {
  const std::uint32_t value = load32(file_.data() + at);
  return swapped_ ? __builtin_bswap32(value) : value;
}

bool CaptureFileReader::open() {
  if (file_.size() < 4) return fail(CaptureFileErrc::kNotACapture, 0);
  if (load32(file_.data()) == kSectionHeaderBlock) {
    format_ = CaptureFileFormat::kPcapng;
    if (file_.size() < kBlockOverhead) return fail(CaptureFileErrc::kTruncatedHeader, 0);
    const std::uint32_t magic = load32(file_.data() + 8);
    if (magic != kByteOrderMagic && magic != __builtin_bswap32(kByteOrderMagic)) {
      return fail(CaptureFileErrc::kNotACapture, 0);
    }
    return true;  // next() reads the section header like any other block
  }
  return open_pcap();
}

bool CaptureFileReader::open_pcap() {
  const std::uint32_t magic = load32(file_.data());
  std::uint64_t units = 1000000;
  for (const bool swapped : {false, true}) {
    const auto native = [&](std::uint32_t value) {
      return swapped ? __builtin_bswap32(value) : value;
    };
    if (magic == native(kPcapMicro) || magic == native(kPcapNano) ||
        magic == native(kPcapModified)) {
      swapped_ = swapped;
      if (magic == native(kPcapNano)) units = 1000000000;
      if (magic == native(kPcapModified)) record_header_ = 24;
      break;
    }
    if (swapped) return fail(CaptureFileErrc::kNotACapture, 0);
  }
  if (file_.size() < kPcapFileHeader) return fail(CaptureFileErrc::kTruncatedHeader, 0);
  if (u16(4) != 2) return fail(CaptureFileErrc::kUnsupportedVersion, 0);
  CaptureInterface interface;
  interface.snaplen = u32(16);
  interface.linktype = u32(20) & 0xFFFF;  // the upper bits carry FCS length flags
  interface.units_per_second = units;
  interfaces_.push_back(interface);
  position_ = kPcapFileHeader;
  return true;
}

bool CaptureFileReader::next(CaptureRecord& record) {
  if (position_ >= file_.size()) return false;
  return format_ == CaptureFileFormat::kPcap ? next_pcap(record) : next_pcapng(record);
}

bool CaptureFileReader::next_pcap(CaptureRecord& record) {
  const std::size_t at = position_;
  if (file_.size() - at < record_header_) return fail(CaptureFileErrc::kTruncatedHeader, at);
  const std::uint32_t seconds = u32(at);
  const std::uint32_t fraction = u32(at + 4);
  std::uint32_t captured = u32(at + 8);
  const std::uint32_t wire = u32(at + 12);
  if (captured > kMaxCapturedLength) return fail(CaptureFileErrc::kRecordTooLong, at);
  if (file_.size() - at - record_header_ < captured) {
    return fail(CaptureFileErrc::kTruncatedRecord, at);
  }
  position_ = at + record_header_ + captured;
  read_ahead(at);
  const CaptureInterface& interface = interfaces_.front();
  // libpcap cuts a record longer than the file's snaplen down to it (old Solaris wrote those).
  if (interface.snaplen != 0 && captured > interface.snaplen) captured = interface.snaplen;
  record.bytes = file_.subspan(at + record_header_, captured);
  record.wire_length = wire;
  record.time = to_packet_time(seconds, fraction, interface.units_per_second);
  record.interface = 0;
  record.offset = at;
  return true;
}

bool CaptureFileReader::next_pcapng(CaptureRecord& record) {
  for (;;) {
    const std::size_t at = position_;
    if (at >= file_.size()) return false;
    const std::size_t left = file_.size() - at;
    if (left < 8) return fail(CaptureFileErrc::kTruncatedHeader, at);
    const std::uint32_t type = load32(file_.data() + at);
    if (type == kSectionHeaderBlock) {
      // The byte-order magic after the length decides how this section, its length included,
      // is read.
      if (left < kBlockOverhead) return fail(CaptureFileErrc::kTruncatedHeader, at);
      const std::uint32_t magic = load32(file_.data() + at + 8);
      if (magic == kByteOrderMagic) {
        swapped_ = false;
      } else if (magic == __builtin_bswap32(kByteOrderMagic)) {
        swapped_ = true;
      } else {
        return fail(CaptureFileErrc::kBadBlockBody, at);
      }
    }
    const std::uint32_t length = u32(at + 4);
    if (length < kBlockOverhead || length % 4 != 0) {
      return fail(CaptureFileErrc::kBadBlockLength, at);
    }
    if (length > left) return fail(CaptureFileErrc::kTruncatedRecord, at);
    if (u32(at + length - 4) != length) return fail(CaptureFileErrc::kBadBlockLength, at);
    position_ = at + length;
    read_ahead(at);
    const std::span<const std::uint8_t> body = file_.subspan(at + 8, length - kBlockOverhead);
    const std::size_t base = at + 8;  // body offsets are file offsets minus this

    switch (u32(at)) {
      case kSectionHeaderBlock:
        if (!section_header(at, length)) return false;
        break;
      case kInterfaceDescriptionBlock:
        if (!interface_description(at, body)) return false;
        break;
      case kEnhancedPacketBlock: {
        if (body.size() < 20) return fail(CaptureFileErrc::kBadBlockBody, at);
        const std::uint32_t captured = u32(base + 12);
        if (captured > body.size() - 20) return fail(CaptureFileErrc::kBadBlockBody, at);
        const std::uint64_t timestamp =
            static_cast<std::uint64_t>(u32(base + 4)) << 32 | u32(base + 8);
        return packet(at, u32(base), timestamp, captured, u32(base + 16),
                      body.subspan(20, captured), record);
      }
      case kPacketBlock: {
        if (body.size() < 20) return fail(CaptureFileErrc::kBadBlockBody, at);
        const std::uint32_t captured = u32(base + 12);
        if (captured > body.size() - 20) return fail(CaptureFileErrc::kBadBlockBody, at);
        const std::uint64_t timestamp =
            static_cast<std::uint64_t>(u32(base + 4)) << 32 | u32(base + 8);
        return packet(at, u16(base), timestamp, captured, u32(base + 16),
                      body.subspan(20, captured), record);
      }
      case kSimplePacketBlock: {
        if (body.size() < 4) return fail(CaptureFileErrc::kBadBlockBody, at);
        if (section_first_interface_ >= interfaces_.size()) {
          return fail(CaptureFileErrc::kUnknownInterface, at);
        }
        // No captured length: the original length, cut by the interface's snaplen and by what
        // the block holds (its padding included, so the snaplen decides when it is set).
        const std::uint32_t wire = u32(base);
        std::uint32_t captured = wire;
        const std::uint32_t snaplen = interfaces_[section_first_interface_].snaplen;
        if (snaplen != 0 && captured > snaplen) captured = snaplen;
        if (captured > body.size() - 4) captured = static_cast<std::uint32_t>(body.size() - 4);
        return packet(at, 0, 0, captured, wire, body.subspan(4, captured), record);
      }
      default:
        break;  // name resolution, statistics, decryption secrets, custom: not packets
    }
  }
}

bool CaptureFileReader::section_header(std::uint64_t at, std::uint32_t length) {
  // magic(4) major(2) minor(2) section length(8)
  if (length < kBlockOverhead + 16) return fail(CaptureFileErrc::kBadBlockBody, at);
  if (u16(static_cast<std::size_t>(at) + 12) != 1) {
    return fail(CaptureFileErrc::kUnsupportedVersion, at);
  }
  section_first_interface_ = interfaces_.size();
  return true;
}

bool CaptureFileReader::interface_description(std::uint64_t at,
                                              std::span<const std::uint8_t> body) {
  if (body.size() < 8) return fail(CaptureFileErrc::kBadBlockBody, at);
  const std::size_t base = static_cast<std::size_t>(at) + 8;
  CaptureInterface interface;
  interface.linktype = u16(base);
  interface.snaplen = u32(base + 4);
  for (std::size_t option = 8; body.size() - option >= 4;) {
    const std::uint16_t code = u16(base + option);
    const std::size_t size = u16(base + option + 2);
    if (code == kOptionEnd) break;
    const std::size_t padded = (size + 3) & ~std::size_t{3};
    if (padded > body.size() - option - 4) return fail(CaptureFileErrc::kBadBlockBody, at);
    const std::size_t value = base + option + 4;
    if (code == kOptionTsresol && size >= 1) {
      const std::uint8_t resolution = file_[value];
      const unsigned exponent = resolution & 0x7F;
      if ((resolution & 0x80) != 0) {
        if (exponent > 63) return fail(CaptureFileErrc::kBadBlockBody, at);
        interface.units_per_second = std::uint64_t{1} << exponent;
      } else {
        if (exponent > 19) return fail(CaptureFileErrc::kBadBlockBody, at);
        interface.units_per_second = 1;
        for (unsigned i = 0; i < exponent; ++i) interface.units_per_second *= 10;
      }
    } else if (code == kOptionTsoffset && size == 8) {
      const std::uint64_t low = u32(value);
      const std::uint64_t high = u32(value + 4);
      const std::uint64_t both = swapped_ ? (low << 32 | high) : (high << 32 | low);
      interface.offset_seconds = static_cast<std::int64_t>(both);
    }
    option += 4 + padded;
  }
  interfaces_.push_back(interface);
  return true;
}

bool CaptureFileReader::packet(std::uint64_t at, std::uint32_t interface, std::uint64_t timestamp,
                               std::uint32_t captured, std::uint32_t wire,
                               std::span<const std::uint8_t> data, CaptureRecord& record) {
  const std::size_t index = section_first_interface_ + interface;
  if (interface >= interfaces_.size() || index >= interfaces_.size()) {
    return fail(CaptureFileErrc::kUnknownInterface, at);
  }
  if (captured > kMaxCapturedLength) return fail(CaptureFileErrc::kRecordTooLong, at);
  const CaptureInterface& described = interfaces_[index];
  if (described.snaplen != 0 && captured > described.snaplen) {
    data = data.first(described.snaplen);
  }
  const std::uint64_t units = described.units_per_second;
  record.bytes = data;
  record.wire_length = wire;
  record.time =
      to_packet_time(timestamp / units + static_cast<std::uint64_t>(described.offset_seconds),
                     timestamp % units, units);
  record.interface = static_cast<std::uint32_t>(index);
  record.offset = at;
  return true;
}

MappedFile MappedFile::open(const std::string& path, std::string& error) {
  MappedFile file;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return file;
  }
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) {
    file.size_ = static_cast<std::size_t>(info.st_size);
    if (file.size_ == 0) {
      ::close(fd);
      return file;
    }
    void* mapped = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped != MAP_FAILED) {
      ::madvise(mapped, file.size_, MADV_SEQUENTIAL);
      ::close(fd);
      file.data_ = static_cast<const std::uint8_t*>(mapped);
      file.mapped_ = true;
      return file;
    }
  }
  // A pipe or FIFO (or a file that will not map): read it all.
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error = path + ": " + std::strerror(errno);
      ::close(fd);
      return MappedFile{};
    }
    if (got == 0) break;
    file.copy_.insert(file.copy_.end(), chunk, chunk + got);
  }
  ::close(fd);
  file.data_ = file.copy_.data();
  file.size_ = file.copy_.size();
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this == &other) return *this;
  if (mapped_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  copy_ = std::move(other.copy_);
  mapped_ = std::exchange(other.mapped_, false);
  size_ = std::exchange(other.size_, 0);
  released_ = std::exchange(other.released_, 0);
  populated_ = std::exchange(other.populated_, 0);
  data_ = mapped_ ? std::exchange(other.data_, nullptr) : copy_.data();
  other.data_ = nullptr;
  if (!mapped_ && copy_.empty()) data_ = nullptr;
  return *this;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

void MappedFile::release_before(std::size_t offset) {
  if (!mapped_) return;
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t end = std::min(offset, size_) & ~(page - 1);
  if (end <= released_) return;
  ::madvise(const_cast<std::uint8_t*>(data_) + released_, end - released_, MADV_DONTNEED);
  released_ = end;
}

void MappedFile::populate_before(std::size_t offset) {
  if (!mapped_) return;
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t from = std::max(populated_, released_);
  const std::size_t end = std::min((offset + page - 1) & ~(page - 1), size_);
  if (end <= from) return;
  ::madvise(const_cast<std::uint8_t*>(data_) + from, end - from, MADV_POPULATE_READ);
  populated_ = end;
}
}  // namespace connwatch::passive
