#include "agent/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace connwatch::agent {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("dropping privileges: " + what + ": " +
                           std::system_category().message(errno));
}

}  // namespace

std::string capability_text() {
  cap_t caps = ::cap_get_proc();
  if (caps == nullptr) return "unknown";
  char* text = ::cap_to_text(caps, nullptr);
  std::string out = text != nullptr ? text : "unknown";
  ::cap_free(text);
  ::cap_free(caps);
  return out;
}

bool has_no_capabilities() {
  cap_t caps = ::cap_get_proc();
  cap_t none = ::cap_init();
  const bool empty = caps != nullptr && none != nullptr && ::cap_compare(caps, none) == 0;
  ::cap_free(caps);
  ::cap_free(none);
  return empty;
}

void drop_privileges(const std::string& user, const std::string& group) {
  // Reentrant lookups: the capture and kernel threads already run.
  std::vector<char> buffer(16384);
  passwd pw_entry{};
  passwd* pw = nullptr;
  errno = ::getpwnam_r(user.c_str(), &pw_entry, buffer.data(), buffer.size(), &pw);
  if (pw == nullptr) fail("no user \"" + user + "\"");
  const uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  if (!group.empty()) {
    struct group gr_entry {};
    struct group* gr = nullptr;
    errno = ::getgrnam_r(group.c_str(), &gr_entry, buffer.data(), buffer.size(), &gr);
    if (gr == nullptr) fail("no group \"" + group + "\"");
    gid = gr->gr_gid;
  }
  if (uid == 0) {
    errno = EINVAL;
    fail("user \"" + user + "\" is root");
  }
  // glibc applies each of these to every thread of the process (the setxid broadcast), so the
  // capture and kernel threads change identity with the main thread.
  if (::setgroups(1, &gid) != 0) fail("setgroups");
  if (::setresgid(gid, gid, gid) != 0) fail("setresgid");
  // Leaving uid 0 without PR_SET_KEEPCAPS clears the permitted and effective sets.
  if (::setresuid(uid, uid, uid) != 0) fail("setresuid");
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    fail("clearing ambient capabilities");
  }
  cap_t none = ::cap_init();
  const int set = ::cap_set_proc(none);
  ::cap_free(none);
  if (set != 0) fail("cap_set_proc");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs");
  if (::setuid(0) != -1 || !has_no_capabilities()) {
    errno = EPERM;
    fail("privileges could be regained");
  }
}

}  // namespace connwatch::agent
