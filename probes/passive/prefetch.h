// prefetch_line: a cache-line prefetch hint the optimiser keeps (flow table, duplicate filter,
// capture file read-ahead). Never required for correctness; never faults.
#pragma once

namespace connwatch::passive {

// GCC treats __builtin_prefetch as free of side effects and deletes a loop whose only effect is
// prefetching (C++ lets it assume the loop ends), and a function whose only effect it is: the
// batch prefetch of entries and of eviction victims, and the capture file's read-ahead, compiled
// to nothing. An asm volatile stays.
inline void prefetch_line(const void* address) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address);
#endif
}

}  // namespace connwatch::passive
