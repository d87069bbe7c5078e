#pragma once
// What a fork of the caller does to its pools. The child gets copies of every pool's pipes to its workers
// and of the pool's state, but not its threads, and the workers stay the parent's. Left alone, a child
// that ran a batch (a multiprocessing or DataLoader worker) interleaved frames with its parent on the same
// pipes (statuses of other jobs), a child that exited removed the parent's job directories, and the
// parent's close() waited for an end of file that the child's copies held back. Each pool registers a
// handler that, in the child of any later fork, forgets its workers there: closes the copies, kills and
// removes nothing. pthread_atfork runs the handlers before fork() returns in the child (posix_spawn, which
// starts the workers themselves, runs none).
//
// The pipes themselves are closed in the child by descriptor, not through their pool: a pool registers
// only once its workers run, and a restart makes new pipes, while another thread may fork at any time (a
// DataLoader starting its workers); such a child had kept copies, and the parent's close() then waited 2 s
// for an end of file that never came, and killed its workers. A descriptor is made and registered, or
// unregistered and closed, within one ForkPause, so no child sees it unregistered, nor a number reused.
#include <mutex>

namespace cotnpot::exec::detail {

using ForkChildHandler = void (*)(void* pool);

// From now until forget_at_fork(pool): handler(pool) runs in the child of every fork of this process.
void on_fork_in_child(void* pool, ForkChildHandler handler);
void forget_at_fork(void* pool);

// While one lives, a fork of this process (from any other thread) waits in its at-fork handlers. Held for
// a few system calls: making pipes and spawning a worker. Not around on_fork_in_child or forget_at_fork
// (the same lock), nor around anything that runs the at-fork handlers itself (fork(); posix_spawn does not).
class ForkPause {
 public:
  ForkPause();
  ~ForkPause();
  ForkPause(const ForkPause&) = delete;
  ForkPause& operator=(const ForkPause&) = delete;
};

// fd is closed in the child of every fork from now on, until keep_in_fork_child(fd), which must come before
// fd is closed; both within the ForkPause that made or closes it.
void close_in_fork_child(int fd, const ForkPause& held);
void keep_in_fork_child(int fd, const ForkPause& held);

}  // namespace cotnpot::exec::detail
