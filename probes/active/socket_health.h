// What the kernel knows about a connection nobody is reading: still open, closed by the peer (FIN),
// reset (RST), or holding bytes nobody asked for. A synchronous check (getsockopt + ioctl, no I/O)
// the pool runs before it hands out an idle connection and when an idle one becomes readable.
#pragma once

#include <string_view>

namespace connwatch::active {

enum class SocketHealth {
  kOpen,             // ESTABLISHED, nothing to read
  kPeerClosed,       // the peer's FIN arrived: CLOSE_WAIT (RFC 9293 §3.3.2)
  kReset,            // the peer's RST arrived: SO_ERROR ECONNRESET/EPIPE or state CLOSE
  kUnsolicitedData,  // ESTABLISHED with unread bytes: a late 408, a TLS alert, garbage
  kError,            // any other socket error or state
};
std::string_view to_string(SocketHealth health);

// Reads SO_ERROR (which clears it), TCP_INFO's state and FIONREAD of a connected TCP socket.
SocketHealth inspect_socket(int fd);

// For protocols where the server may talk first (tcp:// targets: banners): reads and discards up
// to 256 KiB of unread bytes, then inspects. kUnsolicitedData only when more than that is waiting.
SocketHealth drain_and_inspect(int fd);

}  // namespace connwatch::active
