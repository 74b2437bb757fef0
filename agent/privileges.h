// Least privilege for the running agent: capture and netlink need CAP_NET_RAW (and root or
// CAP_NET_ADMIN for some interfaces) only to open their handles. Once they are open the agent
// becomes an unprivileged user with no capabilities at all, like `tcpdump -Z`.
#pragma once

#include <string>

namespace connwatch::agent {

// Switches every thread to `user` (and `group`, or the user's primary group): supplementary
// groups, gid, uid; clears the ambient set and sets no_new_privs. Throws std::runtime_error
// when any step fails or a capability is left: a startup error, never half-dropped.
void drop_privileges(const std::string& user, const std::string& group);

// This thread's capability sets as cap_to_text() prints them ("=" when empty): for the log.
std::string capability_text();

// Whether the process holds no capability in its effective, permitted or inheritable sets.
bool has_no_capabilities();

}  // namespace connwatch::agent
