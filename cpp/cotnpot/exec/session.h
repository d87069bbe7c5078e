#pragma once
// Ending every process of a worker's session, from the caller.
//
// Each worker is spawned as the leader of a session of its own (POSIX_SPAWN_SETSID). Where its jobs get no
// pid namespace (a caller without root and without a user namespace, e.g. in a chroot), they stay in that
// session: the worker moves each job to a process group of its own with setpgid, and the job's seccomp filter
// refuses setsid and setpgid, so nothing a job starts can leave it. A worker killed from outside cannot end
// the job it was running (only the job's first process dies with it, by PR_SET_PDEATHSIG); the caller then
// kills what is left of the session. The session id stays allocated while any process is in the session,
// so it can never name an unrelated process.
#include <sys/types.h>

namespace cotnpot::exec {

// SIGKILLs every live process whose session id is `session` (a dead worker's pid, best while it is still an
// unreaped zombie: the id cannot be reused then), by process group and by pid (through a pidfd), until none
// is left or `max_rounds` scans of /proc have passed (a fork racing a scan is caught by the next one). A
// process that shows as a zombie while its other threads run counts as live. Returns the number of
// signals sent (a process that survives a round counts again); 0 without /proc. Never throws.
int kill_session(pid_t session, int max_rounds = 50) noexcept;

}  // namespace cotnpot::exec
