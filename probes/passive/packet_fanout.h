// PacketFanout: several packet sockets on one interface sharing its packets by flow
// (PACKET_FANOUT, packet(7)), for LiveCapture with capture.threads > 1.
//
// The group is PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG. The kernel picks the member by
// fanout_demux_hash() in net/packet/af_packet.c: reciprocal_scale(__skb_get_hash_symmetric(skb),
// num_members), a hash of the flow that is the same for both directions, so both directions of a
// connection reach one socket and one flow tracker; DEFRAG reassembles IP fragments first so
// every fragment hashes with its flow. The member is the index into the group's array, filled in
// join order: sockets that join in the same order as before land on the same flows.
//
// Group ids are 16 bits and per network namespace; another process's group with the same id
// would either refuse us (EINVAL: other mode, flags or interface) or, worse, share our packets.
// So the first socket asks the kernel for a free id (PACKET_FANOUT_FLAG_UNIQUEID, Linux 4.12)
// and the others join that id: a new group per LiveCapture start and per reopen. A kernel
// without UNIQUEID refuses it with EINVAL; then the id comes from the pid and a per-process
// counter (another id for every group this process makes), trying the next one while the kernel
// says EINVAL or EADDRINUSE (the id is another group's), a few times. That fallback cannot see a
// group of another process that has the same mode on the same interface; UNIQUEID can.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace connwatch::passive {

// The fanout mode and flags above, as PACKET_FANOUT's upper 16 bits.
std::uint16_t fanout_mode();

// Makes `fd` (a bound AF_PACKET socket: pcap_fileno after pcap_activate) the first member of a
// new group with a kernel-chosen id (or, on kernels before 4.12, one derived from the pid);
// returns the id, or nullopt and `error` (setsockopt's errno: ENOMEM no free id; EINVAL the
// socket is not bound, the kernel lacks the mode, or every id tried is taken).
std::optional<std::uint16_t> create_fanout_group(int fd, std::error_code& error);

// Adds `fd` to group `id` (created by create_fanout_group, or created again with that id when
// every member has gone, e.g. after the interface was deleted). Errors: EINVAL (the group has
// another mode, flags or interface: another process uses the id), EALREADY (already a member),
// ENOSPC (the group is full: PACKET_FANOUT_MAX members), EADDRINUSE (kernels that report a
// clash of ids that way).
std::error_code join_fanout_group(int fd, std::uint16_t id);

// A message for a failed create or join: the errno text and what it means here.
std::string fanout_error_text(std::error_code error, std::uint16_t id);

}  // namespace connwatch::passive
