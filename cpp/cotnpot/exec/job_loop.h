// The worker's per-job loop (job_loop.c), called once by worker.py through ctypes. worker.py mirrors these
// two structures field for field (_LoopConfig, _ChildJob): change both together.
#ifndef COTNPOT_EXEC_JOB_LOOP_H
#define COTNPOT_EXEC_JOB_LOOP_H

#include <stdint.h>
#include <sys/types.h>

// What the worker found at start-up and how each job is isolated; read-only to the loop.
typedef struct {
  int32_t in_fd, out_fd;         // frames from and to the caller
  int32_t pid_isolated;          // each job is pid 1 of a pid namespace of its own
  int32_t own_pid_namespace;     // the worker's pid namespace (a descriptor), returned to after each fork
  int32_t job_uids;              // as root: job slot k runs as uid_base + k, whose every process is killed at its end
  int32_t uid_base;
  int32_t is_root;
  int32_t job_tmpfs;             // each job a tmpfs of its own, mounted on job_mountpoint
  int32_t job_dir_mb, job_dir_inodes;
  // The worker may read its jobs' /proc entries (as root; else jobs made dumpable again inside their Landlock
  // domain): a job it cannot read made itself so, and is past the disk budget of a plain directory
  int32_t jobs_readable;
  const char* job_mountpoint;
  const char* base_dir;          // else: job directories made under it
  const char* cgroup_dir;        // the jobs' memory cgroup, or NULL
  int32_t cgroup_v2;             // memory.max (else v1's memory.limit_in_bytes and memsw)
  const char* cgroup_events;     // the file whose "oom_kill N" line counts the cgroup's OOM kills
  int32_t zeroing;               // 0 only to measure its cost (ExecutorOptions::isolation_off)
  uint32_t result_limit;         // bytes a job may send on its result channel
  // The job's own set-up, in its child before any Python runs there (worker.py: run_child does the rest)
  int32_t rlimits;               // address space, CPU, file size, open files, no core, processes
  int32_t drop_capabilities;     // in a user namespace (its root): every capability, for good
  int32_t no_new_privs;
  const void* seccomp_filter;    // a struct sock_fprog, or NULL
  int32_t worker_pid;            // without a pid namespace: a job whose worker is gone ends at once
  void (*after_fork_child)(void);  // PyOS_AfterFork_Child: called in each child before it returns to Python
  // PyMemoryView_FromMemory: the child's view of its frame, made here rather than by a second ctypes call
  // from the child's Python
  void* (*memory_view)(char* memory, ssize_t size, int flags);
} CotnpotLoopConfig;

// Filled in a job's forked child, where the loop returns 1: the job's frame (a new reference to a read-only
// memoryview over the child's own copy) and its directory. The child is confined by then (its session, IPC
// namespace, rlimits, directory, cgroup, uid or capabilities, seccomp filter); stdin is /dev/null, stdout
// and stderr the job's pipes, result_fd its result channel (close on exec), every other descriptor above 2
// closed. A set-up that failed never returns: it reports on the result channel (first byte 'S') and exits.
typedef struct {
  void* frame_view;   // a PyObject*
  const char* workdir;
  int32_t result_fd;
} CotnpotChildJob;

#ifdef __cplusplus
extern "C" {
#endif
// Runs jobs until the caller's pipe ends: 0 then (in the worker); 1 in each job's child (see above);
// -1 when the worker cannot go on (cotnpot_job_loop_error says why).
int cotnpot_job_loop(const CotnpotLoopConfig* config, CotnpotChildJob* child);
const char* cotnpot_job_loop_error(void);
#ifdef __cplusplus
}
#endif

#endif
