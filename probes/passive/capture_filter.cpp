#include "probes/passive/capture_filter.h"

#include <cstdint>
#include <stdexcept>
#include <utility>

#include "probes/passive/dissector.h"

namespace connwatch::passive {
namespace {

// Keep the whole packet: snaplen cuts it afterwards (libpcap's own programs return the snaplen,
// at most MAXIMUM_SNAPLEN = 262144).
constexpr std::uint32_t kAccept = 262144;
constexpr std::uint32_t kTcpControlFlags = 0x07;  // FIN | SYN | RST

constexpr std::uint32_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint32_t kEtherTypeIpv6 = 0x86DD;
constexpr std::uint32_t kVlanTpids[] = {0x8100, 0x88A8, 0x9100};  // 802.1Q, 802.1ad, legacy QinQ

// Scratch memory slots.
constexpr std::uint32_t kSaved = 0;
constexpr std::uint32_t kCursor = 1;
constexpr std::uint32_t kLowByte = 2;

// A forward-only assembler: labels are bound once, jumps resolve when the program is finished.
class Assembler {
 public:
  using Label = int;
  static constexpr Label kNext = -1;  // fall through to the next instruction

  Label label() {
    targets_.push_back(-1);
    return static_cast<Label>(targets_.size() - 1);
  }
  void bind(Label label) { targets_.at(static_cast<std::size_t>(label)) = position(); }

  void stmt(std::uint16_t code, std::uint32_t k = 0) { code_.push_back({code, 0, 0, k}); }
  void ld_abs(std::uint16_t size, std::uint32_t k) { stmt(BPF_LD | size | BPF_ABS, k); }
  void ld_ind(std::uint16_t size, std::uint32_t k) { stmt(BPF_LD | size | BPF_IND, k); }
  void alu(std::uint16_t op, std::uint32_t k) { stmt(BPF_ALU | op | BPF_K, k); }
  void add_x() { stmt(BPF_ALU | BPF_ADD | BPF_X); }
  void ret(std::uint32_t k) { stmt(BPF_RET | BPF_K, k); }
  void jump_always(Label target) {
    fixups_.push_back({position(), target, Fixup::kAlways});
    stmt(BPF_JMP | BPF_JA);
  }
  void jump(std::uint16_t op, std::uint32_t k, Label if_true, Label if_false) {
    fixups_.push_back({position(), if_true, Fixup::kTrue});
    fixups_.push_back({position(), if_false, Fixup::kFalse});
    code_.push_back({static_cast<std::uint16_t>(BPF_JMP | op | BPF_K), 0, 0, k});
  }

  std::vector<bpf_insn> finish() {
    for (const Fixup& fixup : fixups_) {
      if (fixup.target == kNext) continue;
      const int target = targets_.at(static_cast<std::size_t>(fixup.target));
      const int offset = target - fixup.at - 1;
      if (target < 0 || offset < 0) throw std::logic_error("capture filter: unbound label");
      bpf_insn& insn = code_[static_cast<std::size_t>(fixup.at)];
      switch (fixup.which) {
        case Fixup::kAlways:
          insn.k = static_cast<std::uint32_t>(offset);
          break;
        case Fixup::kTrue:
        case Fixup::kFalse:
          if (offset > 255) throw std::logic_error("capture filter: conditional jump too far");
          (fixup.which == Fixup::kTrue ? insn.jt : insn.jf) = static_cast<std::uint8_t>(offset);
          break;
      }
    }
    return std::move(code_);
  }

 private:
  struct Fixup {
    enum Which { kAlways, kTrue, kFalse };
    int at;
    Label target;
    Which which;
  };
  int position() const { return static_cast<int>(code_.size()); }

  std::vector<bpf_insn> code_;
  std::vector<int> targets_;
  std::vector<Fixup> fixups_;
};

using Label = Assembler::Label;
constexpr Label kNext = Assembler::kNext;

// X = X + A, with A = the byte at the old cursor + `next_offset` (the next header type).
void advance(Assembler& a, std::uint32_t link, std::uint32_t next_offset) {
  a.add_x();
  a.stmt(BPF_ST, kCursor);
  a.ld_ind(BPF_B, link + next_offset);
  a.stmt(BPF_LDX | BPF_MEM, kCursor);
}

// At a TCP header (X = its offset): accept when SYN, FIN or RST is set.
void tcp_flags_test(Assembler& a, std::uint32_t link) {
  const Label yes = a.label();
  const Label no = a.label();
  a.ld_ind(BPF_B, link + 13);
  a.jump(BPF_JSET, kTcpControlFlags, yes, no);
  a.bind(yes);
  a.ret(kAccept);
  a.bind(no);
  a.ret(0);
}

// At an IPv4 header: protocol TCP, first fragment, then the header length from the IHL.
void ipv4(Assembler& a, std::uint32_t link) {
  const Label reject = a.label();
  a.ld_ind(BPF_B, link + 9);
  a.jump(BPF_JEQ, 6, kNext, reject);
  a.ld_ind(BPF_H, link + 6);
  a.jump(BPF_JSET, 0x1FFF, reject, kNext);
  a.ld_ind(BPF_B, link);
  a.alu(BPF_AND, 0x0F);
  a.alu(BPF_LSH, 2);
  a.add_x();
  a.stmt(BPF_MISC | BPF_TAX);
  tcp_flags_test(a, link);
  a.bind(reject);
  a.ret(0);
}

// At an IPv6 header: the fixed header, then up to kMaxIpv6ExtensionHeaders extension headers,
// one unrolled step each, as dissector.cpp walks them.
void ipv6(Assembler& a, std::uint32_t link) {
  a.ld_ind(BPF_B, link + 6);
  a.stmt(BPF_ST, kSaved);
  a.stmt(BPF_MISC | BPF_TXA);
  a.alu(BPF_ADD, 40);
  a.stmt(BPF_MISC | BPF_TAX);
  a.stmt(BPF_LD | BPF_MEM, kSaved);
  // A = the type of the header at X.
  for (int step = 0; step <= kMaxIpv6ExtensionHeaders; ++step) {
    const Label tcp = a.label();
    const Label reject = a.label();
    a.jump(BPF_JEQ, 6, tcp, kNext);
    if (step == kMaxIpv6ExtensionHeaders) {  // the dissector's bound: only TCP may follow
      a.ret(0);
      a.bind(tcp);
      tcp_flags_test(a, link);
      break;
    }
    const Label fragment = a.label();
    const Label ah = a.label();
    const Label generic = a.label();
    const Label step_forward = a.label();
    a.jump(BPF_JEQ, 44, fragment, kNext);
    a.jump(BPF_JEQ, 51, ah, kNext);
    // Hop-by-hop, routing, destination options, mobility, HIP, shim6: (length + 1) * 8 bytes.
    for (const std::uint32_t type : {0u, 43u, 60u, 135u, 139u, 140u}) {
      a.jump(BPF_JEQ, type, generic, kNext);
    }
    a.ret(0);
    a.bind(tcp);
    tcp_flags_test(a, link);
    a.bind(fragment);  // 8 bytes; a non-first fragment holds no TCP header (RFC 8200 §4.5)
    a.ld_ind(BPF_H, link + 2);
    a.jump(BPF_JSET, 0xFFF8, reject, kNext);
    a.stmt(BPF_LD | BPF_IMM, 8);
    a.jump_always(step_forward);
    a.bind(ah);  // (length + 2) * 4 bytes (RFC 4302 §2.2)
    a.ld_ind(BPF_B, link + 1);
    a.alu(BPF_ADD, 2);
    a.alu(BPF_LSH, 2);
    a.jump_always(step_forward);
    a.bind(reject);
    a.ret(0);
    a.bind(generic);
    a.ld_ind(BPF_B, link + 1);
    a.alu(BPF_ADD, 1);
    a.alu(BPF_LSH, 3);
    a.bind(step_forward);
    advance(a, link, 0);
  }
}

// A = EtherType at the link header's end (X = 0): walks up to kMaxVlanTags tags, then IPv4/IPv6.
void ethertype(Assembler& a, std::uint32_t link) {
  const Label v4 = a.label();
  const Label v6 = a.label();
  for (int tags = 0;; ++tags) {
    a.jump(BPF_JEQ, kEtherTypeIpv4, v4, kNext);
    a.jump(BPF_JEQ, kEtherTypeIpv6, v6, kNext);
    if (tags == kMaxVlanTags) break;
    const Label tag = a.label();
    for (const std::uint32_t tpid : kVlanTpids) a.jump(BPF_JEQ, tpid, tag, kNext);
    a.ret(0);
    a.bind(tag);  // TCI(2) + inner EtherType(2)
    a.ld_ind(BPF_H, link + 2);
    a.stmt(BPF_ST, kSaved);
    a.stmt(BPF_MISC | BPF_TXA);
    a.alu(BPF_ADD, 4);
    a.stmt(BPF_MISC | BPF_TAX);
    a.stmt(BPF_LD | BPF_MEM, kSaved);
  }
  a.ret(0);
  a.bind(v4);
  ipv4(a, link);
  a.bind(v6);
  ipv6(a, link);
}

// A = IP version nibble's byte at X = 0.
void by_version(Assembler& a, std::uint32_t link) {
  const Label v4 = a.label();
  const Label v6 = a.label();
  a.ld_abs(BPF_B, link);
  a.alu(BPF_RSH, 4);
  a.jump(BPF_JEQ, 4, v4, kNext);
  a.jump(BPF_JEQ, 6, v6, kNext);
  a.ret(0);
  a.bind(v4);
  ipv4(a, link);
  a.bind(v6);
  ipv6(a, link);
}

// DLT_NULL / DLT_LOOP: the address family in either byte order (dissector.cpp null_header).
void null_family(Assembler& a) {
  constexpr std::uint32_t kLink = 4;
  const Label v4 = a.label();
  const Label v6 = a.label();
  const auto swapped = [](std::uint32_t value) { return __builtin_bswap32(value); };
  a.ld_abs(BPF_W, 0);
  a.jump(BPF_JEQ, 2, v4, kNext);  // AF_INET
  a.jump(BPF_JEQ, swapped(2), v4, kNext);
  for (const std::uint32_t family : {10u, 24u, 28u, 30u}) {
    a.jump(BPF_JEQ, family, v6, kNext);
    a.jump(BPF_JEQ, swapped(family), v6, kNext);
  }
  a.ret(0);
  a.bind(v4);
  ipv4(a, kLink);
  a.bind(v6);
  ipv6(a, kLink);
}

// DLT_NFLOG: walks up to kMaxNflogTlvs little-endian TLVs for NFULA_PAYLOAD (type 9), then the
// family byte of the NFLOG header picks IPv4 or IPv6 (dissector.cpp nflog).
void nflog(Assembler& a) {
  constexpr std::uint32_t kLink = 4;
  const Label payload = a.label();
  for (int tlv = 0; tlv < kMaxNflogTlvs; ++tlv) {
    const Label skip = a.label();
    const Label found = a.label();
    a.ld_ind(BPF_B, kLink + 3);  // type, high byte: flag bits masked off
    a.alu(BPF_AND, 0x3F);
    a.jump(BPF_JEQ, 0, kNext, skip);
    a.ld_ind(BPF_B, kLink + 2);
    a.jump(BPF_JEQ, 9, found, skip);
    a.bind(found);
    a.jump_always(payload);
    a.bind(skip);  // X += (length + 3) & ~3
    a.stmt(BPF_STX, kCursor);
    a.ld_ind(BPF_B, kLink);
    a.stmt(BPF_ST, kLowByte);
    a.ld_ind(BPF_B, kLink + 1);
    a.alu(BPF_LSH, 8);
    a.stmt(BPF_LDX | BPF_MEM, kLowByte);
    a.add_x();
    a.alu(BPF_ADD, 3);
    a.alu(BPF_AND, ~std::uint32_t{3});
    a.stmt(BPF_LDX | BPF_MEM, kCursor);
    a.add_x();
    a.stmt(BPF_MISC | BPF_TAX);
  }
  a.ret(0);
  a.bind(payload);
  const Label v4 = a.label();
  const Label v6 = a.label();
  a.stmt(BPF_MISC | BPF_TXA);
  a.alu(BPF_ADD, 4);
  a.stmt(BPF_MISC | BPF_TAX);
  a.ld_abs(BPF_B, 0);
  a.jump(BPF_JEQ, 2, v4, kNext);   // AF_INET
  a.jump(BPF_JEQ, 10, v6, kNext);  // AF_INET6
  a.ret(0);
  a.bind(v4);
  ipv4(a, kLink);
  a.bind(v6);
  ipv6(a, kLink);
}

}  // namespace

std::vector<bpf_insn> capture_filter_program(LinkType link) {
  Assembler a;
  a.stmt(BPF_LDX | BPF_IMM, 0);
  switch (link) {
    case LinkType::kEthernet:
      a.ld_abs(BPF_H, 12);
      ethertype(a, 14);
      break;
    case LinkType::kLinuxSll:
      a.ld_abs(BPF_H, 14);  // protocol: SKF_AD_PROTOCOL on a live cooked socket
      ethertype(a, 16);
      break;
    case LinkType::kLinuxSll2:
      a.ld_abs(BPF_H, 0);
      ethertype(a, 20);
      break;
    case LinkType::kNull:
    case LinkType::kLoop:
      null_family(a);
      break;
    case LinkType::kRaw:
    case LinkType::kIpv4:
    case LinkType::kIpv6:
      by_version(a, 0);
      break;
    case LinkType::kNflog:
      nflog(a);
      break;
  }
  return a.finish();
}

std::optional<CaptureFilter> CaptureFilter::for_link(LinkType link, std::string& error) {
  std::vector<bpf_insn> program = capture_filter_program(link);
  if (bpf_validate(program.data(), static_cast<int>(program.size())) == 0) {
    error = std::string("capture filter for ") + std::string(to_string(link)) + " is invalid BPF";
    return std::nullopt;
  }
  return CaptureFilter(std::move(program));
}

std::optional<CaptureFilter> CaptureFilter::compile(pcap_t* handle, std::string& error) {
  const int dlt = pcap_datalink(handle);
  const std::optional<LinkType> link = link_type_from_dlt(dlt);
  if (!link) {
    const char* name = pcap_datalink_val_to_name(dlt);
    error = std::string("unsupported link type ") + (name ? name : std::to_string(dlt));
    return std::nullopt;
  }
  return for_link(*link, error);
}

CaptureFilter::CaptureFilter(std::vector<bpf_insn> instructions)
    : instructions_(std::move(instructions)) {
  program_.bf_len = static_cast<u_int>(instructions_.size());
  program_.bf_insns = instructions_.data();
}

CaptureFilter::CaptureFilter(CaptureFilter&& other) noexcept
    : instructions_(std::move(other.instructions_)) {
  program_.bf_len = static_cast<u_int>(instructions_.size());
  program_.bf_insns = instructions_.data();
  other.program_ = bpf_program{};
}

CaptureFilter& CaptureFilter::operator=(CaptureFilter&& other) noexcept {
  if (this != &other) {
    instructions_ = std::move(other.instructions_);
    program_.bf_len = static_cast<u_int>(instructions_.size());
    program_.bf_insns = instructions_.data();
    other.program_ = bpf_program{};
  }
  return *this;
}

}  // namespace connwatch::passive
