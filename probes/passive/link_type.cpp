#include "probes/passive/link_type.h"

#include <pcap/pcap.h>

namespace connwatch::passive {

std::string_view to_string(LinkType link) {
  switch (link) {
    case LinkType::kEthernet:
      return "ethernet";
    case LinkType::kLinuxSll:
      return "linux_sll";
    case LinkType::kLinuxSll2:
      return "linux_sll2";
    case LinkType::kNull:
      return "null";
    case LinkType::kLoop:
      return "loop";
    case LinkType::kRaw:
      return "raw";
    case LinkType::kIpv4:
      return "ipv4";
    case LinkType::kIpv6:
      return "ipv6";
    case LinkType::kNflog:
      return "nflog";
  }
  return "unknown";
}

int to_dlt(LinkType link) {
  switch (link) {
    case LinkType::kEthernet:
      return DLT_EN10MB;
    case LinkType::kLinuxSll:
      return DLT_LINUX_SLL;
    case LinkType::kLinuxSll2:
      return DLT_LINUX_SLL2;
    case LinkType::kNull:
      return DLT_NULL;
    case LinkType::kLoop:
      return DLT_LOOP;
    case LinkType::kRaw:
      return DLT_RAW;
    case LinkType::kIpv4:
      return DLT_IPV4;
    case LinkType::kIpv6:
      return DLT_IPV6;
    case LinkType::kNflog:
      return DLT_NFLOG;
  }
  return -1;
}

std::optional<LinkType> link_type_from_dlt(int dlt) {
  switch (dlt) {
    case DLT_EN10MB:
      return LinkType::kEthernet;
    case DLT_LINUX_SLL:
      return LinkType::kLinuxSll;
    case DLT_LINUX_SLL2:
      return LinkType::kLinuxSll2;
    case DLT_NULL:
      return LinkType::kNull;
    case DLT_LOOP:
      return LinkType::kLoop;
    case DLT_RAW:
      return LinkType::kRaw;
    case DLT_IPV4:
      return LinkType::kIpv4;
    case DLT_IPV6:
      return LinkType::kIpv6;
    case DLT_NFLOG:
      return LinkType::kNflog;
    default:
      return std::nullopt;
  }
}

namespace {
constexpr std::uint32_t kLinktypeRaw = 101;  // pcap-linktype(7); DLT_RAW is 12 or 14
}  // namespace

std::optional<LinkType> link_type_from_linktype(std::uint32_t linktype) {
  if (linktype == kLinktypeRaw) return LinkType::kRaw;
  if (linktype > 0xFFFF) return std::nullopt;
  return link_type_from_dlt(static_cast<int>(linktype));
}

std::string linktype_name(std::uint32_t linktype) {
  const int dlt = linktype == kLinktypeRaw ? DLT_RAW : static_cast<int>(linktype);
  const char* name = linktype <= 0xFFFF ? pcap_datalink_val_to_name(dlt) : nullptr;
  return name != nullptr ? name : std::to_string(linktype);
}

}  // namespace connwatch::passive
