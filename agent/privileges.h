// Least privilege for the running agent: capture and netlink need CAP_NET_RAW (and root or
// CAP_NET_ADMIN for some interfaces) only to open their handles. Once they are open the agent
// becomes an unprivileged user with no capabilities at all, like `tcpdump -Z`.
//
// Two ways in (docs/DEPLOY.md): started as root, the agent changes identity to [agent] user; or
// started as that user already with file capabilities on the binary (setcap), it keeps its
// identity, which it could not change anyway (no CAP_SETUID/CAP_SETGID), and only drops the
// capabilities. Either way every thread ends with empty capability sets and no_new_privs.
#pragma once

#include <cstddef>
#include <string>

namespace connwatch::agent {

// What drop_privileges() did, for the log line.
struct PrivilegeDrop {
  bool identity_changed = false;  // false: the process already ran as the user and group
  std::size_t threads = 0;        // threads checked in /proc/self/task, all with no capability
};

// Makes the process `user` (and `group`, or the user's primary group) with no capability on any
// thread:
//  1. unless it already runs as that uid and gid (real, effective, saved), sets the supplementary
//     groups, gid and uid; glibc applies these to every thread (its setxid broadcast), and
//     leaving uid 0 clears every thread's capabilities;
//  2. on every thread, clears the capability sets and the ambient set and sets no_new_privs:
//     capset(2) and prctl(2) act on the calling thread only, and the capture and kernel threads
//     already run, so each thread is signalled (SIGRTMIN+4) to run the drop itself;
//  3. reads back /proc/self/task/*/status: CapInh, CapPrm, CapEff and CapAmb 0 and NoNewPrivs 1
//     on every thread, and setuid(0) must fail.
// Throws std::runtime_error ("dropping privileges: ...") when any step fails or a thread keeps a
// capability: a startup error, never half-dropped.
PrivilegeDrop drop_privileges(const std::string& user, const std::string& group);

// This thread's capability sets as cap_to_text() prints them ("=" when empty): for the log.
std::string capability_text();

// Whether the calling thread holds no capability in its effective, permitted or inheritable sets.
bool has_no_capabilities();

}  // namespace connwatch::agent
