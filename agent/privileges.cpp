#include "agent/privileges.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace connwatch::agent {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("dropping privileges: " + what + ": " +
                           std::system_category().message(errno));
}

// capset(2) version 3, as the kernel defines it (linux/capability.h): two 32-bit words per set.
// Spelled out here because libcap's header and the kernel's clash, and the signal handler below
// cannot use libcap (cap_set_proc allocates).
struct KernelCapHeader {
  std::uint32_t version;
  int pid;  // 0 = the calling thread
};
struct KernelCapData {
  std::uint32_t effective;
  std::uint32_t permitted;
  std::uint32_t inheritable;
};
constexpr std::uint32_t kCapabilityVersion3 = 0x20080522;

std::atomic<int> hook_failures{0};

// The drop every thread runs on itself (a signal handler: async-signal-safe system calls only).
// Lowering the capability sets and setting no_new_privs never need a privilege.
void drop_on_this_thread(int /*signal*/) {
  const int saved_errno = errno;
  KernelCapHeader header{kCapabilityVersion3, 0};
  KernelCapData none[2] = {};
  bool ok = ::syscall(SYS_capset, &header, none) == 0;
  // EINVAL: a kernel without ambient capabilities (< 4.3), so there is nothing to clear.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    ok = false;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ok = false;
  if (!ok) hook_failures.fetch_add(1);
  errno = saved_errno;
}

int drop_signal() { return SIGRTMIN + 4; }

std::vector<pid_t> thread_ids() {
  std::vector<pid_t> ids;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) fail("reading /proc/self/task");
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9') {
      ids.push_back(static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10)));
    }
  }
  ::closedir(dir);
  return ids;
}

// nullopt when the thread holds nothing and has no_new_privs, else what it still holds
// ("task 123 CapEff 0000000000003000"); "" when the thread is gone.
std::optional<std::string> what_thread_holds(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  if (!in) return std::string();
  std::string held;
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(":\t");
    if (colon == std::string::npos) continue;
    const std::string name = line.substr(0, colon);
    const std::string value = line.substr(colon + 2);
    const bool cap_set =
        name == "CapInh" || name == "CapPrm" || name == "CapEff" || name == "CapAmb";
    if ((cap_set && std::strtoull(value.c_str(), nullptr, 16) != 0) ||
        (name == "NoNewPrivs" && value != "1")) {
      held += " " + name + " " + value;
    }
  }
  if (held.empty()) return std::nullopt;
  return "task " + std::to_string(tid) + held;
}

// Runs drop_on_this_thread() here and, through drop_signal(), on every other thread, until
// /proc/self/task shows every thread clean (a thread started meanwhile is signalled too). Returns
// the number of threads.
std::size_t drop_capabilities_on_every_thread() {
  struct sigaction action {};
  action.sa_handler = drop_on_this_thread;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes restart; poll() sees EINTR
  // Stays installed: a late duplicate signal finds a thread already clean and does nothing.
  if (::sigaction(drop_signal(), &action, nullptr) != 0) fail("sigaction");
  drop_on_this_thread(0);

  using Clock = std::chrono::steady_clock;
  const pid_t pid = ::getpid();
  const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  std::map<pid_t, Clock::time_point> signalled;
  for (;;) {
    std::string holding;
    std::size_t threads = 0;
    for (const pid_t tid : thread_ids()) {
      const std::optional<std::string> held = what_thread_holds(tid);
      if (held && held->empty()) continue;  // exited
      ++threads;
      if (!held) continue;
      holding += (holding.empty() ? "" : ", ") + *held;
      const auto now = Clock::now();
      const auto last = signalled.find(tid);
      if (tid != self &&
          (last == signalled.end() || now - last->second > std::chrono::milliseconds(100))) {
        // ESRCH: the thread ended in between; the next pass no longer lists it.
        ::syscall(SYS_tgkill, pid, tid, drop_signal());
        signalled[tid] = now;
      }
    }
    if (hook_failures.load() > 0) fail("a thread could not clear its capabilities");
    if (holding.empty()) return threads;
    if (Clock::now() > deadline) {
      errno = EPERM;
      fail("threads still hold capabilities after 2 s (" + holding + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
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

PrivilegeDrop drop_privileges(const std::string& user, const std::string& group) {
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

  PrivilegeDrop done;
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  ::getresuid(&ruid, &euid, &suid);
  ::getresgid(&rgid, &egid, &sgid);
  const bool already =
      ruid == uid && euid == uid && suid == uid && rgid == gid && egid == gid && sgid == gid;
  if (!already) {
    // Without root this needs CAP_SETUID and CAP_SETGID, which file capabilities rarely grant.
    const std::string hint =
        ::geteuid() == 0 ? ""
                         : " (not root: run the agent as \"" + user +
                               "\" itself, its primary group or [agent] group, to keep file "
                               "capabilities without an identity change)";
    // glibc applies each of these to every thread of the process (the setxid broadcast), so the
    // capture and kernel threads change identity with the main thread.
    if (::setgroups(1, &gid) != 0) fail("setgroups" + hint);
    if (::setresgid(gid, gid, gid) != 0) fail("setresgid" + hint);
    // Leaving uid 0 without PR_SET_KEEPCAPS clears the permitted and effective sets.
    if (::setresuid(uid, uid, uid) != 0) fail("setresuid" + hint);
    done.identity_changed = true;
  }
  done.threads = drop_capabilities_on_every_thread();
  if (::setuid(0) != -1 || !has_no_capabilities()) {
    errno = EPERM;
    fail("privileges could be regained");
  }
  return done;
}

}  // namespace connwatch::agent
