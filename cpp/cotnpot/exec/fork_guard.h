#pragma once
// What a fork of the caller does to its pools. The child gets copies of every pool's pipes to its workers
// and of the pool's state, but not its threads, and the workers stay the parent's. Left alone, a child
// that ran a batch (a multiprocessing or DataLoader worker) interleaved frames with its parent on the same
// pipes (statuses of other jobs), a child that exited removed the parent's job directories, and the
// parent's close() waited for an end of file that the child's copies held back. Each pool registers a
// handler that, in the child of any later fork, forgets its workers there: closes the copies, kills and
// removes nothing. pthread_atfork runs the handlers before fork() returns in the child (posix_spawn, which
// starts the workers themselves, runs none).
namespace cotnpot::exec::detail {

using ForkChildHandler = void (*)(void* pool);

// From now until forget_at_fork(pool): handler(pool) runs in the child of every fork of this process.
void on_fork_in_child(void* pool, ForkChildHandler handler);
void forget_at_fork(void* pool);

}  // namespace cotnpot::exec::detail
