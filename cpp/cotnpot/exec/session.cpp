#include "cotnpot/exec/session.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

namespace cotnpot::exec {
namespace {

// The process's state, process group and session from /proc/<pid>/stat: fields after the command name,
// which ends at the last ')' (a name may hold spaces and parentheses). False if it is gone.
bool read_stat(pid_t pid, char& state, pid_t& group, pid_t& session) {
  char path[64], buf[1024];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return false;
  int ppid = 0, pgrp = 0, sid = 0;
  if (std::sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4) return false;
  group = pgrp, session = sid;
  return true;
}

// Threads of the process (entries of /proc/<pid>/task), 0 if it is gone.
int tasks_of(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task", static_cast<int>(pid));
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return 0;
  int n = 0;
  while (const dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n;
}

std::set<pid_t> groups_of(pid_t session, std::set<pid_t>& pids) {
  std::set<pid_t> groups;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return groups;
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
    char state = 0;
    pid_t group = 0, sid = 0;
    if (!read_stat(static_cast<pid_t>(pid), state, group, sid) || sid != session) continue;
    // Dead, its adopter reaps it -- unless only its main thread ended: /proc shows such a process 'Z' while
    // its other threads run on (a job can make one: it then outlived its worker here)
    if ((state == 'Z' || state == 'X') && tasks_of(static_cast<pid_t>(pid)) <= 1) continue;
    pids.insert(static_cast<pid_t>(pid));
    groups.insert(group);
  }
  ::closedir(proc);
  return groups;
}

// SIGKILL through a pidfd, after checking the session again: the pidfd holds the pid, so it cannot name a
// process that took the number of one that died since the scan.
void kill_member(pid_t pid, pid_t session) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    if (errno == ENOSYS) ::kill(pid, SIGKILL);  // Linux < 5.3: the scan's word
    return;
  }
  char state = 0;
  pid_t group = 0, sid = 0;
  if (read_stat(pid, state, group, sid) && sid == session) ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  ::close(fd);
}

}  // namespace

int kill_session(pid_t session, int max_rounds) noexcept {
  if (session <= 1) return 0;
  int signalled = 0;
  try {
    for (int round = 0; round < max_rounds; ++round) {
      std::set<pid_t> pids;
      const std::set<pid_t> groups = groups_of(session, pids);
      if (pids.empty()) break;
      // By group first: the kernel delivers a group's signal to a child forked while it is sent, too. A group
      // id stays allocated while it has a member, so it names the job's processes or (all of them gone since
      // the scan) nothing -- short of the pid space wrapping around in between
      for (pid_t group : groups)
        if (group > 1) ::kill(-group, SIGKILL);
      for (pid_t pid : pids) kill_member(pid, session);
      signalled += static_cast<int>(pids.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } catch (...) {  // out of memory for the scan: what was signalled stays signalled
  }
  return signalled;
}

}  // namespace cotnpot::exec
