// FlowTable: per-connection state keyed by FlowKey, bounded by max_flows.
//
// Laid out for a packet path that is one cache miss per packet: an open-addressing index (linear
// probing, backward-shift deletion) whose slots carry a 32-bit hash tag next to the entry
// position, so probing never touches entries; the LRU links in their own array (prev, next, hash
// and last-seen time: 24 bytes a flow) rather than in the entries, so moving a flow to the front
// does not pull its list neighbours' entries in; and the entries themselves. Memory is fixed by
// max_flows: per flow, 2 index slots of 8 bytes (the index is at least twice the table) + 24
// bytes of links + sizeof(Entry) (FlowTracker::kBytesPerFlow adds them up for its state).
//
// Entries sit on one of three LRU lists, each with its own idle timeout (FlowTracker picks the
// list from the flow's state, see FLOWS.md): opening flows, long-lived (established) flows, and
// closed flows that linger only to absorb retransmissions. When the table is full the least
// recently seen closed flow goes first, then the least recently seen of the other two; both
// count as evictions. Idle flows expire by packet time.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "probes/passive/flow_key.h"
#include "probes/passive/prefetch.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

// The LRU list a flow is on, which decides its idle timeout.
enum class FlowList : std::uint8_t { kOpening, kLongLived, kClosed };
inline constexpr std::size_t kFlowLists = 3;

template <typename State>
class FlowTable {
 public:
  struct Entry {
    FlowKey key;
    FlowList list = FlowList::kOpening;
    bool live = false;  // false while on the free list
    State state{};
  };
  // Idle timeouts per list, indexed by FlowList.
  using Timeouts = std::array<PacketTime, kFlowLists>;

  explicit FlowTable(std::size_t max_flows)
      : max_flows_(std::clamp<std::size_t>(max_flows, 1, kMaxFlows)),
        index_(std::bit_ceil(max_flows_ * 2), 0),
        mask_(index_.size() - 1) {
    reserve();
  }

  // The entry for `key`, or nullptr.
  Entry* find(const FlowKey& key) {
    const std::uint32_t hash = key.hash();
    const std::size_t slot = find_slot(key, hash);
    return index_[slot] == 0 ? nullptr : &entries_[position_of(index_[slot])];
  }

  // Prefetch hints for a batch of lookups (see PacketPipeline): first the index slot, then,
  // once that is cached, the entry it points to. Never required for correctness.
  void prefetch_slot(std::uint32_t hash) const { prefetch_line(&index_[hash & mask_]); }
  // Looks at the home slot and the one after it only (at the load factor of at most 1/2, a
  // flow's slot is one of those two in about 9 cases of 10), without branches: the probe loop
  // this replaced mispredicted on most packets.
  void prefetch_entry(std::uint32_t hash) const {
    const std::size_t home = hash & mask_;
    const std::uint64_t first = index_[home];
    const std::uint64_t second = index_[(home + 1) & mask_];
    const std::uint64_t value = hash_of(first) == hash ? first : second;
    // An empty slot (0) points at entry 0: a harmless hint.
    const std::uint32_t position = value == 0 ? 0 : position_of(value);
    if (entries_.empty()) return;
    prefetch_line(&entries_[position]);
    prefetch_line(reinterpret_cast<const char*>(&entries_[position]) + 64);
    prefetch_line(&links_[position]);
  }

  // The entry for `key`, inserting a fresh State when absent (evicting first when full). The
  // entry becomes the most recently seen. References stay valid until the next insert.
  Entry& find_or_insert(const FlowKey& key, PacketTime now, bool& inserted) {
    return find_or_insert(key, key.hash(), now, inserted);
  }
  Entry& find_or_insert(const FlowKey& key, std::uint32_t hash, PacketTime now, bool& inserted) {
    std::uint32_t position;
    return find_or_insert(key, hash, now, inserted, position);
  }
  // The same, also giving the entry's position (position_of_entry() without its division).
  // The lookup inlines into the caller; the insertion (a quarter of the packets in a busy
  // capture, evicting when full) is a call of its own, so a hit does not pay its register saves.
  [[gnu::always_inline]] Entry& find_or_insert(const FlowKey& key, std::uint32_t hash,
                                               PacketTime now, bool& inserted,
                                               std::uint32_t& position) {
    const std::size_t slot = find_slot(key, hash);
    if (index_[slot] != 0) {
      inserted = false;
      position = position_of(index_[slot]);
      touch(position, now);
      return entries_[position];
    }
    inserted = true;
    return insert(key, hash, now, slot, position);
  }

  // Moves a flow to another list (its front: the flow was just seen).
  void move_to(Entry& entry, FlowList list) {
    if (entry.list == list) return;
    const std::uint32_t position = position_of_entry(entry);
    unlink(position, list_of(position));
    entry.list = list;
    link_front(position);
  }
  void close(Entry& entry) { move_to(entry, FlowList::kClosed); }
  // Marks a flow as just seen without a lookup (a flow reached through another one).
  void touch(Entry& entry, PacketTime now) { touch(position_of_entry(entry), now); }

  // The idle timeout of each list (FlowTracker sets them from its options).
  void set_timeouts(const Timeouts& timeouts) {
    timeouts_ = timeouts;
    next_expiry_ = PacketTime::min();  // the next expire() recomputes it
  }
  // Drops the flows of each list idle for that list's timeout. Called for every packet: while
  // `now` is before the earliest moment a list's tail can expire it is one comparison (checking
  // the three tails cost about 45 instructions and a mispredicted branch a packet).
  void expire(PacketTime now) {
    if (now < next_expiry_) return;
    next_expiry_ = PacketTime::max();
    for (std::size_t list = 0; list < kFlowLists; ++list) {
      expire_list(lists_[list], now, timeouts_[list]);
      if (lists_[list].tail != kNone) {
        next_expiry_ = std::min(next_expiry_, expiry_of(lists_[list].tail_seen, list));
      }
    }
  }

  // Stable handles for cross-references between flows (FlowTracker's NAT aliases): an entry's
  // position and hash, and back. at() is nullptr once that entry was removed or reused by
  // another flow (told apart by the 32-bit hash: a false match needs the same hash too).
  std::uint32_t position_of_entry(const Entry& entry) const {
    return static_cast<std::uint32_t>(&entry - entries_.data());
  }
  std::uint32_t hash_at(std::uint32_t position) const { return links_[position].hash; }
  Entry* at(std::uint32_t position, std::uint32_t hash) {
    if (position >= entries_.size() || !entries_[position].live) return nullptr;
    if (links_[position].hash != hash) return nullptr;
    return &entries_[position];
  }

  // Changes the bound in place (capture.max_flows on a config reload): the flows stay. Shrinking
  // below size() evicts the least recently seen flows, closed ones first, each counted as an
  // eviction; the index is rebuilt at the new size (one pass over the flows, no entry read).
  void set_max_flows(std::size_t max_flows) {
    max_flows_ = std::clamp<std::size_t>(max_flows, 1, kMaxFlows);
    while (size_ > max_flows_) evict_one();
    const std::size_t index_size = std::bit_ceil(max_flows_ * 2);
    if (index_size == index_.size()) return;
    index_.assign(index_size, 0);
    mask_ = index_size - 1;
    reserve();
    for (const List& list : lists_) {
      for (std::uint32_t position = list.head; position != kNone;
           position = links_[position].next) {
        std::size_t slot = links_[position].hash & mask_;
        while (index_[slot] != 0) slot = (slot + 1) & mask_;
        index_[slot] = slot_value(links_[position].hash, position);
      }
    }
  }

  std::size_t size() const { return size_; }
  std::size_t max_flows() const { return max_flows_; }
  std::uint64_t evicted() const { return evicted_; }
  std::uint64_t expired() const { return expired_; }

 private:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  // Entry positions are 32-bit and the index is twice the table.
  static constexpr std::size_t kMaxFlows = std::size_t{1} << 30;

  // Everything list maintenance, expiry and removal need, so they never read a cold entry.
  struct Link {
    std::uint32_t prev = kNone;
    std::uint32_t next = kNone;
    std::uint32_t hash = 0;
    PacketTime last_seen{};
  };
  struct List {
    std::uint32_t head = kNone;  // most recently seen
    std::uint32_t tail = kNone;  // least recently seen
    // links_[tail].last_seen, kept here because expire() checks every list's tail on every
    // packet and the tail's link is cold whenever the tail moved (once per connection or so).
    // Every change of the tail happens where the new tail's link is loaded anyway.
    PacketTime tail_seen{};
  };
  static_assert(sizeof(Link) == 24);

  // Entries and links never move once the table has room for max_flows of them: no copy while
  // growing, and never an old and a new array resident at once (peak RSS). Pages are touched
  // only as flows arrive. Capped so a huge max_flows does not ask for more address space than
  // the kernel's overcommit heuristic grants (4 Mi flows = 256 MiB of entries).
  void reserve() {
    const std::size_t flows = std::min(max_flows_, std::size_t{1} << 22);
    entries_.reserve(flows);
    links_.reserve(flows);
  }

  // Index slot: hash tag in the high half, entry position + 1 in the low half; 0 = empty.
  static std::uint64_t slot_value(std::uint32_t hash, std::uint32_t position) {
    return static_cast<std::uint64_t>(hash) << 32 | (position + 1);
  }
  static std::uint32_t position_of(std::uint64_t value) {
    return static_cast<std::uint32_t>(value) - 1;
  }
  static std::uint32_t hash_of(std::uint64_t value) {
    return static_cast<std::uint32_t>(value >> 32);
  }

  // find_or_insert() for a key not in the table, whose probe sequence ends at `slot`.
  [[gnu::noinline]] Entry& insert(const FlowKey& key, std::uint32_t hash, PacketTime now,
                                  std::size_t slot, std::uint32_t& position) {
    if (size_ == max_flows_) {
      // The eviction empties one slot that was full. If it lies on this key's probe run (its
      // home up to `slot`, all full), it is now the run's first empty slot; else `slot` still
      // is (the backward shift fills only slots it emptied, never an empty one).
      const std::size_t emptied = evict_one();
      const std::size_t home = hash & mask_;
      if (((emptied - home) & mask_) < ((slot - home) & mask_)) slot = emptied;
    }
    if (free_ != kNone) {
      position = free_;
      free_ = links_[position].next;
      entries_[position] = Entry{};
      entries_[position].live = true;
    } else {
      position = static_cast<std::uint32_t>(entries_.size());
      entries_.emplace_back();
      entries_.back().live = true;
      links_.emplace_back();
    }
    Entry& entry = entries_[position];
    entry.key = key;
    links_[position].hash = hash;
    links_[position].last_seen = now;
    index_[slot] = slot_value(hash, position);
    link_front(position);
    ++size_;
    return entry;
  }

  std::size_t find_slot(const FlowKey& key, std::uint32_t hash) const {
    std::size_t slot = hash & mask_;
    while (index_[slot] != 0) {
      if (hash_of(index_[slot]) == hash && entries_[position_of(index_[slot])].key == key) {
        return slot;
      }
      slot = (slot + 1) & mask_;
    }
    return slot;
  }

  List& list_of(std::uint32_t position) {
    return lists_[static_cast<std::size_t>(entries_[position].list)];
  }

  void unlink(std::uint32_t position, List& list) {
    Link& link = links_[position];
    if (link.prev != kNone) {
      links_[link.prev].next = link.next;
    } else {
      list.head = link.next;
    }
    if (link.next != kNone) {
      links_[link.next].prev = link.prev;
    } else {
      list.tail = link.prev;
      if (link.prev != kNone) {
        list.tail_seen = links_[link.prev].last_seen;
        // Usually later than the old tail's; not always when capture times go back and forth.
        const auto index = static_cast<std::size_t>(&list - lists_.data());
        next_expiry_ = std::min(next_expiry_, expiry_of(list.tail_seen, index));
      }
    }
    link.prev = link.next = kNone;
  }

  void link_front(std::uint32_t position) {
    List& list = list_of(position);
    Link& link = links_[position];
    link.prev = kNone;
    link.next = list.head;
    if (list.head != kNone) links_[list.head].prev = position;
    list.head = position;
    if (list.tail == kNone) {
      list.tail = position;
      list.tail_seen = link.last_seen;
      const auto index = static_cast<std::size_t>(&list - lists_.data());
      next_expiry_ = std::min(next_expiry_, expiry_of(link.last_seen, index));
    }
  }

  void touch(std::uint32_t position, PacketTime now) {
    links_[position].last_seen = std::max(links_[position].last_seen, now);
    List& list = list_of(position);
    if (list.tail == position) list.tail_seen = links_[position].last_seen;
    if (list.head == position) return;
    unlink(position, list);
    link_front(position);
  }

  // The closed list first (those flows only absorb retransmissions), then the least recently
  // seen of the opening and long-lived tails.
  // Returns the index slot the eviction left empty.
  std::size_t evict_one() {
    List* victim = &lists_[static_cast<std::size_t>(FlowList::kClosed)];
    if (victim->tail == kNone) {
      List& opening = lists_[static_cast<std::size_t>(FlowList::kOpening)];
      List& long_lived = lists_[static_cast<std::size_t>(FlowList::kLongLived)];
      if (opening.tail == kNone) {
        victim = &long_lived;
      } else if (long_lived.tail == kNone) {
        victim = &opening;
      } else {
        victim = opening.tail_seen <= long_lived.tail_seen ? &opening : &long_lived;
      }
    }
    const std::size_t emptied = remove(victim->tail, *victim);
    ++evicted_;
    prefetch_next_victim();
    return emptied;
  }

  // A full table evicts about once per new flow, and its victims are cold: the closed list's
  // tail link, that flow's index slot and entry, then its neighbour's link. They are known in
  // advance, so fetch the next victim's while this packet is handled: its link was fetched by
  // the eviction before, its slot and entry now, and the link of the one after it for next time.
  void prefetch_next_victim() const {
    const List& closed = lists_[static_cast<std::size_t>(FlowList::kClosed)];
    if (closed.tail == kNone) return;
    const Link& next = links_[closed.tail];
    prefetch_line(&index_[next.hash & mask_]);
    prefetch_line(&entries_[closed.tail]);
    prefetch_line(reinterpret_cast<const char*>(&entries_[closed.tail]) + sizeof(Entry) - 1);
    if (next.prev != kNone) prefetch_line(&links_[next.prev]);
  }

  // When a tail seen at `seen` expires on `list`, saturating (a nonsense capture time near the
  // end of the range never expires rather than wrap).
  PacketTime expiry_of(PacketTime seen, std::size_t list) const {
    const PacketTime idle = timeouts_[list];
    return seen > PacketTime::max() - idle ? PacketTime::max() : seen + idle;
  }

  void expire_list(List& list, PacketTime now, PacketTime idle) {
    while (list.tail != kNone && now - list.tail_seen >= idle) {
      remove(list.tail, list);
      ++expired_;
    }
  }

  // Finds the index slot by position, not by key: no entry read. Returns the slot left empty
  // (the backward shift's last hole).
  std::size_t remove(std::uint32_t position, List& list) {
    std::size_t hole = links_[position].hash & mask_;
    while (position_of(index_[hole]) != position) hole = (hole + 1) & mask_;
    index_[hole] = 0;
    // Backward-shift deletion: pull later members of the probe run into the hole so lookups
    // never need tombstones.
    for (std::size_t slot = (hole + 1) & mask_; index_[slot] != 0; slot = (slot + 1) & mask_) {
      const std::size_t home = hash_of(index_[slot]) & mask_;
      const bool stays =
          hole <= slot ? (hole < home && home <= slot) : (hole < home || home <= slot);
      if (!stays) {
        index_[hole] = index_[slot];
        index_[slot] = 0;
        hole = slot;
      }
    }
    unlink(position, list);
    entries_[position].live = false;
    links_[position].next = free_;
    free_ = position;
    --size_;
    return hole;
  }

  std::size_t max_flows_;
  std::vector<std::uint64_t> index_;
  std::size_t mask_;
  std::vector<Entry> entries_;
  std::vector<Link> links_;  // parallel to entries_; `next` chains the free list
  std::uint32_t free_ = kNone;
  std::array<List, kFlowLists> lists_{};
  Timeouts timeouts_{PacketTime::max(), PacketTime::max(), PacketTime::max()};
  // No list's tail expires before this: at most the earliest tail_seen + timeout over the lists
  // (lowered wherever a tail changes; left early when a tail moves on to a flow seen later,
  // which only makes expire() look again). expire() does what checking every tail on every
  // packet did, exactly.
  PacketTime next_expiry_ = PacketTime::max();
  std::size_t size_ = 0;
  std::uint64_t evicted_ = 0;
  std::uint64_t expired_ = 0;
};

}  // namespace connwatch::passive
