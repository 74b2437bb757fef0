// Fuzzes the capture file reader (probes/passive/capture_file.h) on whole files: pcap in both
// byte orders and precisions, pcapng with any blocks. Every record it hands out must lie inside
// the input, records must come in file order, name a described interface and respect the length
// bounds; an error must name an offset inside the input. Each record also goes through the
// dissector and the replay selection, as in `agent --replay`.
//
// Seeds (tests/fuzz/corpus/capture_file/): small fixture files from tests/probes/passive/pcaps.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "probes/passive/capture_file.h"
#include "probes/passive/capture_filter.h"
#include "probes/passive/dissector.h"
#include "probes/passive/link_type.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace connwatch::passive;
  const std::span<const std::uint8_t> file(data, size);
  CaptureFileReader reader(file);
  if (!reader.open()) {
    check(static_cast<bool>(reader.error()));
    check(reader.error().offset <= size);
    return 0;
  }
  CaptureRecord record;
  std::uint64_t last_offset = 0;
  std::size_t records = 0;
  while (reader.next(record)) {
    check(record.bytes.data() >= data);
    check(record.bytes.data() + record.bytes.size() <= data + size);
    check(record.bytes.size() <= CaptureFileReader::kMaxCapturedLength);
    check(record.interface < reader.interfaces().size());
    check(records == 0 || record.offset > last_offset);
    check(record.offset < size);
    last_offset = record.offset;
    ++records;
    const auto link = link_type_from_linktype(reader.interfaces()[record.interface].linktype);
    if (!link) continue;
    std::string error;
    const auto filter = CaptureFilter::for_link(*link, error);
    check(filter.has_value());
    const DissectResult dissected = dissect(record.bytes, *link);
    (void)filter->selects(dissected, record.bytes, record.wire_length);
  }
  if (reader.error()) check(reader.error().offset < size);
  return 0;
}
