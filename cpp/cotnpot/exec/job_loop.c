// The executor worker's per-job loop, in C: read a job frame, make its directory and pipes, fork, watch
// the job to its end or deadline, kill and reap what it started, reply, zero the buffers, next job.
//
// Why C: a fork write-protects every page of the worker, and each page the worker's Python then touched
// before the next fork (refcounts of the loop's objects, its frames, dicts) was a copy-on-write fault:
// ~190 a job against ~40 for a bare fork loop, the largest cost the pool added to a trivial job. Here the
// loop touches its few buffers and its stack. Only the forked child returns to Python, which runs the job.
//
// Built as a small shared library with no dependency but libc, embedded into libcotnpot at build time
// (cmake/embed_binary.cmake), handed to each worker as a memfd and loaded with ctypes; worker.py says
// which isolation the worker got, this file only carries it out job after job.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job_frame.h"
#include "job_loop.h"

#define EXPORT __attribute__((visibility("default")))
#define SETUP_FAILED 'S'          // the result channel's first byte when the sandbox's set-up failed
#define SCRATCH_BYTES (1u << 16)  // what arrives past a cap: only seen, to flag the truncation
#define MAX_FIELDS 32

static char last_error[256];

static int fail(const char* what) {
  snprintf(last_error, sizeof last_error, "%s: %s", what, strerror(errno));
  return -1;
}

EXPORT const char* cotnpot_job_loop_error(void) { return last_error; }

// ---- buffers: private anonymous mappings, zeroed by handing their pages back -------------------------

typedef struct {
  unsigned char* data;
  size_t capacity;
} Buffer;

static int buffer_reserve(Buffer* b, size_t n) {
  if (n <= b->capacity && b->data) return 0;
  if (b->data) munmap(b->data, b->capacity);  // its pages, and whatever job data they held, are gone
  size_t size = n < 4096 ? 4096 : n;
  if (b->capacity * 2 > size) size = b->capacity * 2;
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    b->data = NULL, b->capacity = 0;
    return -1;
  }
  b->data = p, b->capacity = size;
  return 0;
}

// MADV_DONTNEED on a private anonymous mapping: the pages read as zeros again, and until a job writes them
// they are not in the worker's memory (a memset would write them all, and every fork would copy them).
static void buffer_release(Buffer* b, size_t used) {
  if (!used || !b->data) return;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t n = (used + page - 1) / page * page;
  if (n > b->capacity) n = b->capacity;
  madvise(b->data, n, MADV_DONTNEED);
}

typedef struct {
  Buffer buffer;
  size_t cap, used;
  int truncated;
} Channel;

static Buffer scratch;

// One read of what is ready; returns bytes read (0 at the pipe's end, -1 on error).
static ssize_t channel_read(Channel* c, int fd) {
  struct iovec parts[2] = {{c->buffer.data + c->used, c->cap - c->used}, {scratch.data, SCRATCH_BYTES}};
  ssize_t got;
  do {
    got = readv(fd, parts, 2);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return got;
  const size_t room = c->cap - c->used;
  c->used += (size_t)got < room ? (size_t)got : room;
  c->truncated |= (size_t)got > room;
  return got;
}

static void channel_clear(Channel* c, int zeroing) {
  if (zeroing) {
    buffer_release(&c->buffer, c->used);
    if (c->truncated) buffer_release(&scratch, SCRATCH_BYTES);
  }
  c->used = 0, c->truncated = 0;
}

// ---- frames (job_frame.h) and replies ------------------------------------------------------------------

// The named field of a job frame (from the caller, checked whole by the loop); NULL when absent.
static const CotnpotField* job_field(const unsigned char* frame_data, size_t n, const char* key, CotnpotField* out) {
  return cotnpot_frame_field(frame_data, n, key, out) == 1 ? out : NULL;
}

typedef struct {
  struct iovec parts[1 + 4 * MAX_FIELDS];   // the frame's length, then per field: key length, key, value length, value
  unsigned char heads[1 + 2 * MAX_FIELDS][4];
  int fields;
  uint32_t total;
} Reply;

// Fields past MAX_FIELDS are dropped (a reply has at most 13); no value reaches 2^32 bytes: the caller caps
// output_limit at 64 MiB and the result channel holds result_limit.
static void reply_add(Reply* r, const char* key, const void* value, size_t length) {
  if (r->fields == MAX_FIELDS || length > UINT32_MAX / 4) abort();   // never a reply whose lengths wrapped
  const int f = r->fields++;
  unsigned char* key_head = r->heads[1 + 2 * f];
  unsigned char* value_head = r->heads[2 + 2 * f];
  cotnpot_put_u32(key_head, (uint32_t)strlen(key));
  cotnpot_put_u32(value_head, (uint32_t)length);
  struct iovec* part = &r->parts[1 + 4 * f];
  part[0] = (struct iovec){key_head, 4};
  part[1] = (struct iovec){(void*)key, strlen(key)};
  part[2] = (struct iovec){value_head, 4};
  part[3] = (struct iovec){(void*)value, length};
  r->total += 8 + (uint32_t)strlen(key) + (uint32_t)length;
}

static void reply_text(Reply* r, const char* key, const char* value) { reply_add(r, key, value, strlen(value)); }

static int sandbox_error(Reply* r, const char* type, const char* message) {
  reply_text(r, "status", "sandbox_error");
  reply_text(r, "error_type", type);
  reply_text(r, "error_message", message);
  return 0;
}

// Writes the reply with writev from where its parts lie (job output is not copied). -1: the caller is gone.
static int __attribute__((noinline)) reply_write(Reply* r, int fd) {   // below the loop's frame, as run_job
  cotnpot_put_u32(r->heads[0], r->total);
  r->parts[0] = (struct iovec){r->heads[0], 4};
  struct iovec* parts = r->parts;
  int left = 1 + 4 * r->fields;
  while (left) {
    ssize_t done = writev(fd, parts, left < 512 ? left : 512);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return -1;
    while (left && (size_t)done >= parts->iov_len) done -= (ssize_t)parts->iov_len, ++parts, --left;
    if (left && done) parts->iov_base = (char*)parts->iov_base + done, parts->iov_len -= (size_t)done;
  }
  return 0;
}

// 1: n bytes read; 0: the input ended first; -1: an error.
static int read_exact(int fd, unsigned char* p, size_t n) {
  while (n) {
    const ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) return 0;
    p += got, n -= (size_t)got;
  }
  return 1;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// ---- the jobs' memory cgroup (as root, where there is one): one per worker, its limit rewritten per job --

static long cgroup_limit_mb = -1;  // the limit last written
static long long cgroup_oom_kills;  // its OOM kill count after the last job

static int write_text(const char* directory, const char* file, const char* text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", directory, file);
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

// The job's total, swap included (a job over it is OOM-killed, not swapped out). v1 keeps memory+swap >=
// memory, so the order of its two writes depends on the direction.
static void set_cgroup_limit(const CotnpotLoopConfig* c, long memory_mb) {
  if (!c->cgroup_dir || memory_mb == cgroup_limit_mb) return;
  char limit[32];
  snprintf(limit, sizeof limit, "%lld", (long long)memory_mb << 20);
  int ok;
  if (c->cgroup_v2) {
    write_text(c->cgroup_dir, "memory.swap.max", "0");
    ok = write_text(c->cgroup_dir, "memory.max", limit) == 0;
  } else {
    const int growing = cgroup_limit_mb < 0 || memory_mb > cgroup_limit_mb;
    const char* memsw = "memory.memsw.limit_in_bytes";   // missing without swap accounting: fine
    ok = (write_text(c->cgroup_dir, growing ? memsw : "memory.limit_in_bytes", limit) == 0) |
         (write_text(c->cgroup_dir, growing ? "memory.limit_in_bytes" : memsw, limit) == 0);
  }
  if (ok) cgroup_limit_mb = memory_mb;   // else v1 refused a limit below what is still charged: the job keeps the larger one
}

// Whether the cgroup's OOM killer struck since the last call (one read per job).
static int cgroup_oom_killed(const CotnpotLoopConfig* c) {
  if (!c->cgroup_dir) return 0;
  char path[4096], text[4097];
  snprintf(path, sizeof path, "%s/%s", c->cgroup_dir, c->cgroup_events);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = 0;
  for (const char* line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "oom_kill ", 9) == 0) {
      const long long count = strtoll(line + 9, NULL, 10);
      const int struck = count > cgroup_oom_kills;
      cgroup_oom_kills = count;
      return struck;
    }
  }
  return 0;
}

// ---- the job's directory ----------------------------------------------------------------------------

static char workdir[4096];

// A fresh directory owned by the job. With filesystem isolation a tmpfs of its own, sized and inode-limited:
// what one job writes can neither fill the space of the next nor outlive its unmount.
static int make_job_directory(const CotnpotLoopConfig* c, int uid) {
  if (c->job_tmpfs) {
    const int owner = c->is_root ? uid : 0;   // in a user namespace: its root, the one uid mapped (the caller's)
    char options[192];
    snprintf(options, sizeof options, "size=%dm,nr_inodes=%d,mode=0700,uid=%d,gid=%d", c->job_dir_mb,
             c->job_dir_inodes, owner, owner);
    if (mount("cotnpot-job", c->job_mountpoint, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
      return fail("cannot mount the job's tmpfs");
    snprintf(workdir, sizeof workdir, "%s", c->job_mountpoint);
    return 0;
  }
  for (;;) {   // a new directory, never an existing one
    unsigned char name[8];
    if (getrandom(name, sizeof name, 0) != (ssize_t)sizeof name) return fail("getrandom");
    int n = snprintf(workdir, sizeof workdir, "%s/", c->base_dir);
    for (size_t i = 0; i < sizeof name && n > 0 && (size_t)n < sizeof workdir; ++i)
      n += snprintf(workdir + n, sizeof workdir - (size_t)n, "%02x", name[i]);
    if (mkdir(workdir, 0700) == 0) break;
    if (errno != EEXIST) return fail("cannot make the job's directory");
  }
  if ((c->is_root && chown(workdir, (uid_t)uid, (gid_t)uid) != 0) || chmod(workdir, 0700) != 0) {
    const int saved = errno;
    rmdir(workdir);
    errno = saved;
    return fail("cannot give the job its directory");
  }
  return 0;
}

// Directory entries are listed with getdents64 into this buffer, not with opendir (whose buffer comes from the
// heap and keeps the names of a job's files there, in memory every later job inherits); zeroed after use.
static unsigned char listing[16384] __attribute__((aligned(8)));

struct linux_dirent64_head {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Removes name (under dirfd) and all below it, without following links; -1 if something stayed (or the
// tree is deeper than this recursion goes). The listing buffer is shared by every level: after a
// subdirectory is removed, its parent is listed again from the start (what is gone no longer shows).
static int remove_tree_at(int dirfd, const char* name, int depth) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if ((errno != EISDIR && errno != EPERM) || depth > 64) return -1;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {   // a directory the job locked (chmod 000): without root, the worker is its
    fchmodat(dirfd, name, 0700, 0);  // owner, and may open it again (a directory: unlinkat removed any link)
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return -1;
  fchmod(fd, 0700);   // its entries go only where it is writable, also for its owner
  int result = 0;
  for (int again = 1; again;) {
    again = 0;
    if (lseek(fd, 0, SEEK_SET) != 0) break;
    long got;
    while (!again && (got = syscall(SYS_getdents64, fd, listing, sizeof listing)) > 0) {
      for (long at = 0; at < got && !again;) {
        const struct linux_dirent64_head* e = (const struct linux_dirent64_head*)(listing + at);
        at += e->d_reclen;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (unlinkat(fd, e->d_name, 0) == 0 || errno == ENOENT) continue;
        char child[256];   // the entry's name, before the listing buffer is used again below
        snprintf(child, sizeof child, "%s", e->d_name);
        if (remove_tree_at(fd, child, depth + 1) != 0) result = -1;
        else again = 1;   // the buffer now holds another directory's entries: list this one again
        explicit_bzero(child, sizeof child);
      }
    }
  }
  close(fd);
  return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? result : -1;
}

extern char** environ;

static void remove_job_directory(const CotnpotLoopConfig* c) {
  if (c->job_tmpfs) {
    umount2(workdir, MNT_DETACH);   // nothing of the job can hold it up
    return;
  }
  const int removed = remove_tree_at(AT_FDCWD, workdir, 0);
  explicit_bzero(listing, sizeof listing);
  if (removed == 0) return;
  // Deeper than the recursion above goes, or something refused: rm (fts) goes to any depth.
  char* argv[] = {"rm", "-rf", "--one-file-system", "--", workdir, NULL};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd = 0; fd < 3; ++fd) posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0);
  pid_t pid;
  if (posix_spawnp(&pid, "rm", &actions, NULL, argv, environ) == 0)
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  posix_spawn_file_actions_destroy(&actions);
}

// ---- the job's disk use, where its directory is a plain one ---------------------------------------------

// Without a tmpfs of its own (no mount namespace: the Landlock fallback, or root in a chroot whose / is no
// mount point) the job's directory lies in the host's /tmp, where nothing bounds what the job writes but
// RLIMIT_FSIZE per file: a breaker's job wrote 768 MiB and 19,000 inodes in a second and filled a small
// /tmp, honest jobs beside it printing answers from empty scratch files. So the worker measures the tree while
// the job runs (job_dir_mb and job_dir_inodes, the tmpfs's own limits) and ends a job past them. Allocated
// blocks, not sizes (a sparse file costs what it holds); a hard link counts once per name (never more than
// what an honest program makes). Files the job unlinked but holds are not in the tree: counted below.

#define DISK_WALK_DEPTH 32        // deeper is past the budget: no honest program nests so far
#define DISK_CHECK_FIRST_S 0.01   // a job that ends sooner is never measured (a trivial job costs nothing more)
#define DISK_CHECK_EVERY_S 0.01   // at least this long between two walks (ten times the last walk's time)
#define DISK_CHECK_GAP_MAX_S 0.1  // at most this long: the job sets what a walk costs (a breaker held 384 MiB
                                  // for 1.5 s in the 19 s it had made the gap)

typedef struct {
  long long bytes, bytes_budget;
  long inodes, inodes_budget;
} DiskUse;

// Adds what lies below the directory dirfd to use; 1 once it is past either budget (the walk stops there, so
// it costs at most a budget's entries however many the job makes meanwhile). The names listed are zeroed
// before it returns: nothing of the job's files stays on the worker's stack for a later job. A small frame
// (its listing 512 bytes, room for one entry of the longest name): the deepest walk's frames (~33 x 0.7 KiB)
// lie within what scrub_stack clears after the job, so what its stats held (sizes, times the job chose) is
// no channel to the next job either (with 2 KiB listings, levels 27-32 lay below the scrub: a reviewer).
static int disk_use_past_budget(int dirfd, int depth, DiskUse* use) {
  unsigned char names[512] __attribute__((aligned(8)));
  int past = 0;
  long got;
  while (!past && (got = syscall(SYS_getdents64, dirfd, names, sizeof names)) > 0) {
    for (long at = 0; at < got && !past;) {
      const struct linux_dirent64_head* e = (const struct linux_dirent64_head*)(names + at);
      at += e->d_reclen;
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      struct stat st;
      if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        past = errno != ENOENT;   // gone meanwhile; anything else is a part the walk cannot see
        continue;
      }
      use->bytes += (long long)st.st_blocks * 512;
      past = ++use->inodes > use->inodes_budget || use->bytes > use->bytes_budget;
      if (past || !S_ISDIR(st.st_mode)) continue;
      if (depth >= DISK_WALK_DEPTH) {
        past = 1;
        break;
      }
      // A directory it cannot read counts as past the budget: a job made one with mkdir's mode 0300 (no
      // chmod needed) and wrote 320 MiB and 164,000 files below it unseen (a breaker). Not given back to its
      // owner as removal does: the job could swap a link in before the chmod, and no honest program hides
      // its own files from itself.
      const int fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) past = disk_use_past_budget(fd, depth + 1, use), close(fd);
      else past = errno != ENOENT && errno != ENOTDIR && errno != ELOOP;   // else it changed since its stat
    }
  }
  explicit_bzero(names, sizeof names);
  return past;
}

// ---- files the job unlinked but holds ------------------------------------------------------------------

// Files the job unlinked while it holds them are in no directory, so the walk above cannot see them: a
// breaker held 1.6 GiB of the host's /tmp with 5 descriptors, and a one-page shared mapping keeps a whole
// file after its descriptor is closed. So the walk also counts, once each, the unlinked files on the job
// directory's filesystem that the job's processes hold: through a descriptor (its allocated blocks, by a
// stat of /proc/<pid>/task/<tid>/fd/<n>; per thread, since a thread can unshare its table), or through a
// mapping alone (/proc/<pid>/maps names the file but not its size, which only CAP_SYS_ADMIN may read through
// map_files: counted as the largest file the job may write). O_TMPFILE files, never linked, are counted the
// same way. A process of the job that cannot be read (one that made itself non-dumpable) is past the budget,
// where the worker may read its jobs (jobs_readable).

#define HELD_FILES_MAX 256       // more distinct unlinked files held at once is past the budget
#define JOB_PROCESSES_MAX 1024   // RLIMIT_NPROC allows 16
#define PROC_ENTRIES_MAX 4096    // threads of a process, descriptors of a thread (RLIMIT_NOFILE allows 64)
// Maps read per walk, all the job's processes together (a Python process's are ~50 KiB): a job that made its
// maps huge (40,000 mappings under 3.8 KB paths, 150 MB) had each walk take 1.9 s, so the next came 19 s
// later (a breaker)
#define MAPS_BYTES_MAX (4u << 20)

typedef struct {
  uint64_t dev, ino;
  long long bytes;   // allocated; -1: held by a mapping alone, its size unknown
} HeldFile;

// Static rather than on the stack (their size), and zeroed after each use: they hold what the job chose.
static HeldFile held[HELD_FILES_MAX];
static long job_processes[JOB_PROCESSES_MAX], threads[PROC_ENTRIES_MAX], descriptors[PROC_ENTRIES_MAX];
static char proc_text[8192];   // what is read of maps or children files (a longer line is past the budget)

// Whether the task whose /proc directory is task still has its memory: its stat's vsize (field 23) is 0
// once it has let go of it, on its way out (its descriptors go right after) or a zombie. The stat file is
// readable by anyone.
static int task_keeps_memory(const char* task) {
  char path[112], text[1024];
  snprintf(path, sizeof path, "%s/stat", task);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;   // gone
  const ssize_t got = read(fd, text, sizeof text - 1);
  close(fd);
  if (got <= 0) return 0;
  text[got] = 0;
  const char* at = strrchr(text, ')');   // past the command name, which may hold anything
  for (int field = 2; at && field < 23; ++field) at = strchr(at + 1, ' ');
  return !at || strtoull(at + 1, NULL, 10) != 0;
}

// Whether a /proc entry of the task (its /proc directory) that could not be read (errno) puts the job past
// the budget: not when it is gone meanwhile; when it refuses the worker, only where the worker may read its
// jobs (strict: else, without Landlock and without root, every job is unreadable and nothing held is
// counted), and not for a task that let go of its memory (one exiting, or a zombie: /proc then shows its
// entries as root's).
static int unreadable_past_budget(int strict, const char* task) {
  if (errno == ENOENT || errno == ESRCH) return 0;
  if (errno != EACCES && errno != EPERM) return 1;
  return strict && task_keeps_memory(task);
}

// The numeric entries of the /proc directory path (pids, tids, descriptors) into out: how many, -1 when it
// cannot be listed (errno set), or max + 1 when there are more.
static int numeric_entries(const char* path, long* out, int max) {
  const int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  unsigned char names[1024] __attribute__((aligned(8)));
  int n = 0;
  long got;
  while (n <= max && (got = syscall(SYS_getdents64, fd, names, sizeof names)) > 0) {
    for (long at = 0; at < got && n <= max;) {
      const struct linux_dirent64_head* e = (const struct linux_dirent64_head*)(names + at);
      at += e->d_reclen;
      char* end;
      const long value = strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end) continue;   // . and ..
      if (n < max) out[n] = value;
      ++n;
    }
  }
  const int error = errno;
  close(fd);
  if (got < 0 && n <= max) return errno = error, -1;
  return n;
}

// Adds a held file once, known by its inode alone: every file counted lies on the job directory's filesystem,
// whose device maps may name otherwise than a stat does (btrfs; an overlay before Linux 6.8), and a file held
// by a descriptor and a mapping had counted twice; 1 when there are too many to keep.
static int note_held_file(int* count, uint64_t dev, uint64_t ino, long long bytes) {
  for (int i = 0; i < *count; ++i) {
    if (held[i].ino == ino) {
      if (bytes >= 0) held[i].bytes = bytes;   // a descriptor tells its size
      return 0;
    }
  }
  if (*count == HELD_FILES_MAX) return 1;
  held[(*count)++] = (HeldFile){dev, ino, bytes};
  return 0;
}

// Adds pid to job_processes once; 1 when there are too many.
static int add_process(long pid, int* count) {
  for (int i = 0; i < *count; ++i)
    if (job_processes[i] == pid) return 0;
  if (*count == JOB_PROCESSES_MAX) return 1;
  job_processes[(*count)++] = pid;
  return 0;
}

// Calls each(piece, context) on every piece of a /proc file of a task (its /proc directory), pieces ending at
// separator (the last also at the file's end), NUL-terminated, and adds the bytes read to *bytes where bytes is
// not NULL; 1 at the first piece each returns 1 for, past bytes_max, for a piece longer than proc_text, or when
// the file cannot be read (unreadable_past_budget).
typedef int (*ProcPiece)(char* piece, void* context);
static int for_each_proc_piece(const char* task, const char* name, char separator, size_t* bytes, size_t bytes_max,
                               int strict, ProcPiece each, void* context) {
  char path[112];
  snprintf(path, sizeof path, "%s/%s", task, name);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unreadable_past_budget(strict, task);
  int past = 0;
  size_t kept = 0;   // the start of a piece that continues in the next read
  for (;;) {
    const ssize_t got = read(fd, proc_text + kept, sizeof proc_text - 1 - kept);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) past = unreadable_past_budget(strict, task);
    if (got <= 0) break;
    if (bytes && (*bytes += (size_t)got) > bytes_max) {
      past = 1;
      break;
    }
    kept += (size_t)got;
    proc_text[kept] = 0;
    char* piece = proc_text;
    for (char* end; !past && (end = strchr(piece, separator)); piece = end + 1) {
      *end = 0;
      past = each(piece, context);
    }
    kept = strlen(piece);
    if (past || kept == sizeof proc_text - 1) {   // a piece longer than any path allows
      past = 1;
      break;
    }
    memmove(proc_text, piece, kept);
  }
  if (!past && kept) {
    proc_text[kept] = 0;
    past = each(proc_text, context);
  }
  close(fd);
  return past;
}

// A pid of a children file, added to job_processes (count: how many there are); 1 when they do not fit.
static int add_child(char* piece, void* count) {
  char* end;
  const long pid = strtol(piece, &end, 10);
  return end != piece && add_process(pid, (int*)count);
}

// Appends the pids listed in the children file of the task (its /proc directory) to job_processes; 1 when
// they do not fit or it cannot be read (unreadable_past_budget).
static int add_children(const char* task, int* count, int strict) {
  return for_each_proc_piece(task, "children", ' ', NULL, 0, strict, add_child, count);
}

// A line of maps: the file it maps noted where it is unlinked and lies in the job's directory (files: how many
// are noted); 1 when there are too many.
static int note_mapped_line(char* line, void* files) {
  static const char deleted[] = " (deleted)";
  const size_t length = strlen(line), workdir_length = strlen(workdir);
  unsigned major_number, minor_number;
  unsigned long long ino;
  int name = 0;   // where the file's path begins
  if (length > sizeof deleted && !strcmp(line + length - (sizeof deleted - 1), deleted) &&
      sscanf(line, "%*s %*s %*s %x:%x %llu %n", &major_number, &minor_number, &ino, &name) == 3 && name > 0 &&
      !strncmp(line + name, workdir, workdir_length) && line[name + workdir_length] == '/')
    return note_held_file((int*)files, makedev(major_number, minor_number), ino, -1);
  return 0;
}

// Notes the unlinked files of the job's directory (workdir) that the mappings of a thread's process hold
// (task: the thread's /proc directory), as held files of unknown size, and adds the bytes of maps read to
// maps_bytes; 1 when there are too many, past MAPS_BYTES_MAX in all, or its maps cannot be read
// (unreadable_past_budget). Through a thread, not the process: once the main thread has ended while others
// run on, /proc/<pid>/maps is empty (a breaker hid 960 MiB of mapped files so). By the path maps gives, not
// the device: the job writes nowhere else, and older kernels' maps name an overlay's file (Docker's /tmp)
// by its lower layer's device, which no stat of the directory gives (6.18 names the overlay's own).
// Anonymous shared memory, memfds and libraries replaced since the worker started lie elsewhere
// ("/dev/zero (deleted)", "/memfd:...").
static int note_mapped_files(const char* task, int* files, int strict, size_t* maps_bytes) {
  return for_each_proc_piece(task, "maps", '\n', maps_bytes, MAPS_BYTES_MAX, strict, note_mapped_line, files);
}

// Whether st is a file or directory removed from dev's tree: a removed directory keeps its blocks while held
// (ext4: 3,800 long names left one 1.5 MiB after they were removed; a breaker held 168 MiB so, by descriptors
// and working directories).
static int held_unlinked(const struct stat* st, uint64_t dev) {
  return (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) && st->st_nlink == 0 && st->st_dev == dev;
}

// Notes the unlinked files on dev that the descriptors of a thread hold (task: its /proc directory; a thread
// may have a table of its own); 1 when they are too many or cannot be read (unreadable_past_budget).
static int note_open_files(const char* task, uint64_t dev, int* files, int strict) {
  char path[112];
  snprintf(path, sizeof path, "%s/fd", task);
  const int n = numeric_entries(path, descriptors, PROC_ENTRIES_MAX);
  if (n < 0) return unreadable_past_budget(strict, task);
  if (n > PROC_ENTRIES_MAX) return 1;
  for (int i = 0; i < n; ++i) {
    snprintf(path, sizeof path, "%s/fd/%ld", task, descriptors[i]);
    struct stat st;
    if (stat(path, &st) != 0) {   // follows the descriptor's link to the file itself
      if (unreadable_past_budget(strict, task)) return 1;
      continue;   // closed meanwhile
    }
    if (held_unlinked(&st, dev) && note_held_file(files, dev, st.st_ino, (long long)st.st_blocks * 512)) return 1;
  }
  return 0;
}

// Notes a thread's executable and working directory where they are removed from dev's tree: a process holds
// its executable even where it unmapped it (a breaker's idea), and a removed directory it works in (a
// breaker). Per thread (task: its /proc directory), since /proc/<pid>/exe is gone once the main thread has
// ended. 1 when they cannot be read (unreadable_past_budget) or there are too many.
static int note_exe_and_cwd(const char* task, uint64_t dev, int* files, int strict) {
  for (const char* link = "exe"; link; link = strcmp(link, "exe") ? NULL : "cwd") {   // and its working directory
    char path[112];
    snprintf(path, sizeof path, "%s/%s", task, link);
    struct stat st;
    if (stat(path, &st) != 0) {
      if (unreadable_past_budget(strict, task)) return 1;
    } else if (held_unlinked(&st, dev) && note_held_file(files, dev, st.st_ino, (long long)st.st_blocks * 512)) {
      return 1;
    }
  }
  return 0;
}

// Adds to use what the job's processes hold unlinked on dev (the job directory's filesystem), each such file
// held by a mapping alone counted as unknown_size bytes; 1 once past the budget, or when a process of the job
// cannot be read. The job's processes: the worker's children (the job's first process, and without a pid
// namespace also what it started whose parent ended: the worker is their subreaper; with one, those go to
// the job's first process) and their descendants, through each thread's children.
// pid: the job's first process as /proc numbers it, or 0 where it does not (a pid namespace of the worker's
// own under the host's /proc: pids from fork are the worker's namespace's, /proc's are the host's). A kernel
// without CONFIG_PROC_CHILDREN lists no children: there only the job's first process is read, and with a
// pid namespace none.
static int held_files_past_budget(pid_t pid, uint64_t dev, long long unknown_size, int strict, DiskUse* use) {
  int processes = 0, files = 0, past = 0;
  if (pid > 0) job_processes[processes++] = pid;   // also where no children are listed (CONFIG_PROC_CHILDREN)
  char path[64], task[96];
  const int own_threads = numeric_entries("/proc/self/task", threads, PROC_ENTRIES_MAX);
  past = own_threads < 0 || own_threads > PROC_ENTRIES_MAX;
  for (int t = 0; !past && t < own_threads; ++t) {
    snprintf(task, sizeof task, "/proc/self/task/%ld", threads[t]);
    past = add_children(task, &processes, strict);
  }
  size_t maps_bytes = 0;
  for (int p = 0; !past && p < processes; ++p) {
    const long process = job_processes[p];
    snprintf(path, sizeof path, "/proc/%ld", process);
    snprintf(task, sizeof task, "%s/task", path);
    const int n = numeric_entries(task, threads, PROC_ENTRIES_MAX);
    if (n < 0) {
      past = unreadable_past_budget(strict, path);
      continue;
    }
    past = n > PROC_ENTRIES_MAX;
    for (int t = 0; !past && t < n; ++t) {
      snprintf(task, sizeof task, "/proc/%ld/task/%ld", process, threads[t]);
      past = add_children(task, &processes, strict) || note_open_files(task, dev, &files, strict) ||
             note_exe_and_cwd(task, dev, &files, strict);
    }
    // The mappings through the first thread that lists any (the threads share them; an ended one lists none)
    for (int t = 0; !past && t < n; ++t) {
      const size_t before = maps_bytes;
      snprintf(task, sizeof task, "/proc/%ld/task/%ld", process, threads[t]);
      past = note_mapped_files(task, &files, strict, &maps_bytes);
      if (maps_bytes > before) break;
    }
  }
  for (int i = 0; !past && i < files; ++i) {
    use->bytes += held[i].bytes >= 0 ? held[i].bytes : unknown_size;
    past = ++use->inodes > use->inodes_budget || use->bytes > use->bytes_budget;
  }
  explicit_bzero(held, sizeof held);
  explicit_bzero(job_processes, sizeof job_processes);
  explicit_bzero(threads, sizeof threads);
  explicit_bzero(descriptors, sizeof descriptors);
  explicit_bzero(proc_text, sizeof proc_text);
  return past;
}

// Sends sig to every process whose real or saved uid is uid: kill(-1) as that user, whose permission rule
// picks exactly those (and never the sender). It runs in a child that shares the worker's memory until it
// exits (vfork), so the worker's own credentials never change: a change of credentials clears the
// parent-death signal (the kernel's commit_creds), and that signal is what kills the worker, pid 1 of its own
// pid namespace, with the process the caller started. A worker that once took a job's uid to stop it lived on
// when that process was killed from outside, and ran its job to the end (found in a pristine-root run). 0, or
// -1 with errno set when the child could not be made or could not take the uid.
static int signal_uid(int uid, int sig) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);   // no handler of ours may run on the shared stack in the child
  const pid_t child = vfork();
  if (child == 0) {   // raw system calls only: this is the worker's memory
#ifdef SYS_setresuid32   // 32-bit x86 and ARM: SYS_setresuid takes 16-bit uids there (a reviewer)
    if (syscall(SYS_setresuid32, uid, uid, uid) != 0) _exit(errno & 0xFF ? errno & 0xFF : EPERM);
#else
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) _exit(errno & 0xFF ? errno & 0xFF : EPERM);
#endif
    syscall(SYS_kill, -1, sig);   // ESRCH (none left) is no failure
    _exit(0);
  }
  const int made = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (child < 0) return errno = made, -1;
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  errno = WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
  return -1;
}

// Sends sig to every process of the job: its process group where it has no pid namespace (its filter keeps
// them all in it), every process of its uid where it has one and a uid of its own; else (a pid namespace
// without job uids) its first process alone.
static void signal_job(const CotnpotLoopConfig* c, pid_t pid, int uid, int sig) {
  if (!c->pid_isolated) killpg(pid, sig);   // not also its uid: a job resumed first could stop the child that
  else if (!c->job_uids) kill(pid, sig);    // signals it, which the job then sees (a reviewer)
  else signal_uid(uid, sig);                // the child is outside the job's pid namespace
}

// The job is stopped while its tree is walked: a job that moves a directory from one not yet listed into one
// already listed, timed by the listed directories' access times, hid it from every walk (a reviewer). A
// process running on another core at that moment stops within microseconds. The job's directory itself must
// be there: the worker made it, and the job may not remove or rename it (Landlock), so its absence is past
// the budget too.
// strict: a process of the job that cannot be read is past the budget (unreadable_past_budget).
static int job_directory_past_budget(const CotnpotLoopConfig* c, pid_t pid, int uid, long long file_limit,
                                     int strict) {
  signal_job(c, pid, uid, SIGSTOP);
  const int fd = open(workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DiskUse use = {0, (long long)c->job_dir_mb << 20, 0, c->job_dir_inodes};
  struct stat st;
  const int past = fd < 0 || fstat(fd, &st) != 0 || disk_use_past_budget(fd, 0, &use) ||
                   held_files_past_budget(c->pid_isolated ? 0 : pid, st.st_dev, file_limit, strict, &use);
  if (fd >= 0) close(fd);
  signal_job(c, pid, uid, SIGCONT);
  return past;
}

// ---- ending a job -----------------------------------------------------------------------------------

// 0, or -1 when the processes of the job's uid could not be killed (errno set).
static int kill_job_processes(const CotnpotLoopConfig* c, pid_t pid, int uid) {
  if (c->pid_isolated) {
    // pid 1 of the job's namespace: killing it kills every process in the namespace, a mechanism the job
    // cannot race (the worker never takes the job's uid)
    kill(pid, SIGKILL);
    return 0;
  }
  killpg(pid, SIGKILL);
  // Everything the job started, in whatever session
  return c->job_uids ? signal_uid(uid, SIGKILL) : 0;
}

// Waits for every killed descendant handed to us (the worker is their subreaper): no zombies.
static void reap_orphans(void) {
  const double deadline = now_s() + 1.0;
  for (;;) {
    const pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return;   // no child left
    if (pid == 0) {
      if (now_s() > deadline) return;
      usleep(1000);
    }
  }
}

// ---- one job ----------------------------------------------------------------------------------------

enum { STDOUT, STDERR, RESULT, CHANNELS };
static Channel channels[CHANNELS];
static Buffer frame;          // the job frame being run
static size_t frame_length;

// A number of the job frame: `fallback` where it has no such field, NAN where the value is not a number.
static double job_number(const char* key, double fallback) {
  CotnpotField f;
  return cotnpot_field_number(job_field(frame.data, frame_length, key, &f), fallback);
}

typedef struct {
  int fd[CHANNELS];
  int open[CHANNELS];
  int pidfd;        // readable when the job's own process ends; -1: polled
  int caller_gone;  // the caller's pipe turned readable: it sends nothing while a job runs, so it closed
} Watch;

static int over_cap(void) {
  return channels[STDOUT].truncated || channels[STDERR].truncated || channels[RESULT].truncated;
}

static int any_open(const Watch* w) { return w->open[STDOUT] || w->open[STDERR] || w->open[RESULT]; }

// Reads what is ready on the job's pipes into their channels (a pipe at its end is no longer watched) and
// notes the caller's pipe closing; returns how many descriptors were ready.
static int drain(const CotnpotLoopConfig* c, Watch* w, double wait_s) {
  struct pollfd p[CHANNELS + 2];
  int owner[CHANNELS + 2], n = 0;
  for (int i = 0; i < CHANNELS; ++i)
    if (w->open[i]) p[n] = (struct pollfd){w->fd[i], POLLIN, 0}, owner[n++] = i;
  if (w->pidfd >= 0) p[n] = (struct pollfd){w->pidfd, POLLIN, 0}, owner[n++] = CHANNELS;
  if (!w->caller_gone) p[n] = (struct pollfd){c->in_fd, POLLIN, 0}, owner[n++] = CHANNELS + 1;
  if (wait_s < 0) wait_s = 0;
  const struct timespec t = {(time_t)wait_s, (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
  int r;
  do {
    r = ppoll(p, (nfds_t)n, &t, NULL);   // a signal (the worker has handlers for none but SIGINT): again
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return 0;
  int ready = 0;
  for (int j = 0; j < n; ++j) {
    if (!p[j].revents) continue;
    ++ready;
    if (owner[j] < CHANNELS) {
      if (channel_read(&channels[owner[j]], p[j].fd) <= 0) w->open[owner[j]] = 0;
    } else if (owner[j] == CHANNELS + 1) {
      w->caller_gone = 1;
    }
  }
  return ready;
}

// In the forked child: the job's pipes on 1 and 2, its result channel on 3 (closed on exec), nothing else
// above 2. Moved above 10 first, so that no order of the descriptors makes one dup2 close another.
static int enter_child(int out_w, int err_w, int res_w) {
  const int out = fcntl(out_w, F_DUPFD_CLOEXEC, 10), err = fcntl(err_w, F_DUPFD_CLOEXEC, 10),
            res = fcntl(res_w, F_DUPFD_CLOEXEC, 10);
  if (out < 0 || err < 0 || res < 0 || dup2(out, 1) != 1 || dup2(err, 2) != 2 || dup2(res, 3) != 3 ||
      fcntl(3, F_SETFD, FD_CLOEXEC) != 0)
    return -1;
  if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0) {   // before Linux 5.9: one by one, up to the limit
    struct rlimit limit;
    const long top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? (long)limit.rlim_cur : 1L << 20;
    for (long fd = 4; fd < top; ++fd) close((int)fd);
  }
  return 0;
}

// A set-up step of the job's child failed: says so on the result channel, first byte 'S' (the job's code has
// not run, so it cannot be the job's word), in the report format, and ends the child.
static void setup_failed(const char* what) {
  char message[320];
  static const char key[] = "sandbox_error";
  const uint32_t key_length = sizeof key - 1;
  const int n = snprintf(message, sizeof message, "OSError: %s: %s", what, strerror(errno));
  const uint32_t length = n < 0 ? 0 : (uint32_t)(n < (int)sizeof message ? n : (int)sizeof message - 1);
  unsigned char head[1 + 4 + sizeof key - 1 + 4];   // the marker, then one field: key length, key, value length
  head[0] = SETUP_FAILED;
  cotnpot_put_u32(head + 1, key_length);
  memcpy(head + 5, key, key_length);
  cotnpot_put_u32(head + 5 + key_length, length);
  struct iovec parts[2] = {{head, sizeof head}, {message, length}};
  (void)!writev(3, parts, 2);
  _exit(70);
}

// Never above the worker's own hard limit: a caller started under a lower one (prlimit, a container's ulimit)
// has its jobs kept under it, where raising it (which needs CAP_SYS_RESOURCE) failed every job.
static void set_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit current;
  if (getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY && hard > current.rlim_max) {
    hard = current.rlim_max;
    if (soft > hard) soft = hard;
  }
  const struct rlimit limit = {soft, hard};
  if (setrlimit(resource, &limit) != 0) setup_failed("cannot set the job's rlimits");
}

// In a user namespace the job is its uid 0: without this it would hold every capability there, enough to
// unmount the tmpfs that hide the host's directories or to make the read-only mounts writable again. Drops
// the bounding and ambient sets, makes uid 0 confer nothing on execve (SECBIT_NOROOT, locked), then
// empties the effective, permitted and inheritable sets.
static void drop_capabilities(void) {
  for (int cap = 0; cap < 64; ++cap)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) break;   // EINVAL past the last capability this kernel knows
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (prctl(PR_SET_SECUREBITS, 1 /* SECBIT_NOROOT */ | 2 /* SECBIT_NOROOT_LOCKED */, 0, 0, 0) != 0)
    setup_failed("cannot set the job's securebits");
  struct { uint32_t version; int pid; } header = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct { uint32_t effective, permitted, inheritable; } data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0) setup_failed("cannot drop the job's capabilities");
}

// Whether the jobs' seccomp filter is the worker's own (install_filter_in_worker), inherited by every job.
static int filter_in_worker;

// The jobs' seccomp filter, installed once in the worker, before its first job: each job inherits it at its
// fork. Installed by each job, it was compiled (the kernel's BPF JIT) once per job: 110-270 µs more per fork
// on this VM, against ~240 µs for the fork itself. Nothing the worker does from here on is among what the
// filter refuses (worker.py, job_filter: the worker mounts, unshares pid namespaces, forks, kills, waits,
// reads and writes its pipes and cgroup files), and what the worker may do, a job can do already. Only with
// a pid namespace per job: without one the filter refuses setpgid, which each job's confinement calls to
// leave the worker's group, so there each job installs the filter after that. Where the worker
// cannot install it, each job tries again and reports why it could not (a sandbox_error naming the cause;
// failing the worker instead had made every job a WorkerDied and restarted the worker each time: a reviewer).
static void install_filter_in_worker(const CotnpotLoopConfig* c) {
  if (!c->pid_isolated || !c->seccomp_filter) return;
  if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return;
  filter_in_worker = prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, c->seccomp_filter, 0, 0) == 0;
}

// The job's confinement, in its child, before any of its Python runs (each step as docs/executor.md says).
// timeout (s) and memory_mb: the job's, already read and checked by run_job.
static void confine_job(const CotnpotLoopConfig* c, int uid, double timeout, double memory_mb) {
  // A process group of its own in the worker's session, which its filter keeps it in (no setsid: with the
  // kernel's scheduling groups per session, a job's sessions had outweighed the jobs beside it; worker.py,
  // job_filter). Its own group also keeps kill(0) within the job: in its worker's group it reached the worker.
  if (setpgid(0, 0) != 0) setup_failed("cannot give the job its own process group");
  if (c->pid_isolated && unshare(CLONE_NEWIPC) != 0)   // SysV objects die with the job
    setup_failed("cannot make the job's IPC namespace");
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, 0) != 0) setup_failed("cannot open /dev/null as the job's stdin");
  close(devnull);
  if (c->rlimits) {
    const rlim_t memory = (rlim_t)memory_mb << 20;
    const rlim_t cpu = (rlim_t)timeout + 1;   // soft: SIGXCPU (a timeout); hard one second later: SIGKILL
    const double files = job_number("file_limit", 16 << 20), processes = job_number("process_limit", 16);
    if (!(files >= 0 && files <= 1e15 && processes >= 1 && processes <= 1e6)) {
      errno = EINVAL;
      setup_failed("the job's file_limit or process_limit is out of range");
    }
    set_limit(RLIMIT_AS, memory, memory);
    set_limit(RLIMIT_CPU, cpu, cpu + 1);
    set_limit(RLIMIT_FSIZE, (rlim_t)files, (rlim_t)files);
    set_limit(RLIMIT_NOFILE, 64, 64);
    set_limit(RLIMIT_CORE, 0, 0);
    set_limit(RLIMIT_NPROC, (rlim_t)processes, (rlim_t)processes);
    // Pending signals (POSIX timers hold one each) are counted per uid, against the limit of the process
    // that queues them: without root, jobs are the caller's uid, and a job queued 96,000 real-time signals,
    // after which the caller's own sigqueue and timer_create failed while the job ran (found by a breaker).
    // Locked memory: mlock is per process, but perf and io_uring buffers draw on the uid's allowance. What
    // Python needs is far below either.
    set_limit(RLIMIT_SIGPENDING, 64, 64);
    set_limit(RLIMIT_MEMLOCK, 0, 0);
  }
  if (chdir(workdir) != 0) setup_failed("cannot enter the job's directory");
  // Its memory limit: a total for everything it starts (its threads and children are born in the cgroup).
  // On v1 through `tasks` with "0" (itself), which moves this thread alone -- the whole process here, fork
  // left it single-threaded -- without the process-wide lock that cgroup.procs takes: that lock's writer waits
  // for an RCU grace period holding the cgroup mutex, so every other join on the machine waits too, then
  // holds off forks and exits while it moves the task (writes of up to 16 ms; the pool 1.11x slower;
  // docs/executor.md). A numeric id would take the lock again, as does `tasks` on kernels without "cgroup:
  // Optimize single thread migration" (correct there, just not faster). On v2 a thread can move only within
  // its domain (cgroup.threads), so a job still moves whole.
  if (c->cgroup_dir && write_text(c->cgroup_dir, c->cgroup_v2 ? "cgroup.procs" : "tasks", "0") != 0)
    setup_failed("cannot join the jobs' memory cgroup");
  if (c->job_uids) {
    const gid_t gid = (gid_t)uid;
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid((uid_t)uid) != 0) setup_failed("cannot take the job's uid");
  } else if (c->drop_capabilities) {
    drop_capabilities();
  }
  // Dies with the worker, and with it (as pid 1) everything it started; set after setuid, which clears it
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_failed("cannot set no_new_privs");
  if (c->seccomp_filter && !filter_in_worker &&
      prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, c->seccomp_filter, 0, 0) != 0)
    setup_failed("cannot install the job's seccomp filter");
  if (!c->pid_isolated && getppid() != c->worker_pid) _exit(72);   // the worker was already gone
}

static void close_pipes(int* fds, int n) {
  for (int i = 0; i < n; ++i)
    if (fds[i] >= 0) close(fds[i]), fds[i] = -1;
}

// Runs one job and fills its reply: 0; 1 in the job's child; -1 when the worker cannot go on.
// The reply's texts (static: the reply points at them until it is written).
static char exit_code[16], signal_text[16], wall_text[32], cpu_text[32], rss_text[32];

// Zeroes the stack below the caller's frame, where the finished job's frames lay (its exit code, output
// lengths, rusage, the reply's length headers...): every later job inherits this memory. Done by the worker
// after each reply, where these pages are its own again (no copy), rather than in each child.
static void __attribute__((noinline)) scrub_stack(void) {
  unsigned char below[64 * 1024];
  explicit_bzero(below, sizeof below);
  __asm__ volatile("" : : "r"(below) : "memory");
}

// Not inlined: its frame (the job's status, rusage, lengths) must lie below the loop's, where scrub_stack
// reaches it.
static int __attribute__((noinline)) run_job(const CotnpotLoopConfig* c, int slot, Reply* reply,
                                             CotnpotChildJob* child) {
  CotnpotField kind;
  const int tests =
      job_field(frame.data, frame_length, "kind", &kind) && kind.length == 5 && memcmp(kind.value, "tests", 5) == 0;
  const int uid = c->uid_base + slot;
  const double timeout = job_number("timeout", NAN), cap_number = job_number("output_limit", NAN),
               memory_mb = job_number("memory_mb", NAN);
  if (!(timeout > 0 && timeout <= 1e7 && cap_number >= 1 && cap_number <= (double)(1u << 30) && memory_mb >= 1 &&
        memory_mb <= (double)(1 << 30)))
    return sandbox_error(reply, "ValueError", "the job frame's timeout, output_limit or memory_mb is out of range");
  const size_t cap = (size_t)cap_number;
  if (buffer_reserve(&channels[STDOUT].buffer, cap ? cap : 1) || buffer_reserve(&channels[STDERR].buffer, cap ? cap : 1) ||
      buffer_reserve(&channels[RESULT].buffer, c->result_limit)) {
    fail("cannot map the job's output buffers");
    return sandbox_error(reply, "MemoryError", last_error);
  }
  channels[STDOUT].cap = channels[STDERR].cap = cap;
  channels[RESULT].cap = c->result_limit;

  if (make_job_directory(c, uid) != 0) return sandbox_error(reply, "OSError", last_error);
  set_cgroup_limit(c, (long)memory_mb);
  int pipes[6] = {-1, -1, -1, -1, -1, -1};   // read, write of stdout, stderr, result
  if (pipe2(pipes, O_CLOEXEC) || pipe2(pipes + 2, O_CLOEXEC) || pipe2(pipes + 4, O_CLOEXEC)) {
    fail("cannot make the job's pipes");
    close_pipes(pipes, 6);
    remove_job_directory(c);
    return sandbox_error(reply, "OSError", last_error);
  }
  const double start = now_s();
  if (c->pid_isolated && unshare(CLONE_NEWPID) != 0) {
    fail("cannot make the job's pid namespace");
    close_pipes(pipes, 6);
    remove_job_directory(c);
    return sandbox_error(reply, "OSError", last_error);
  }
  const pid_t pid = fork();
  if (pid == 0) {
    if (enter_child(pipes[1], pipes[3], pipes[5]) != 0) _exit(71);
    confine_job(c, uid, timeout, memory_mb);
    // What os.fork does in its child, before any Python runs here: the loop is called holding the GIL (a
    // PyDLL function), so no other thread of the worker can hold it across the fork; this reinitializes the
    // interpreter's locks and threads and runs the at-fork hooks (random is reseeded per job).
    if (c->after_fork_child) c->after_fork_child();
    child->frame_view =   // PyBUF_READ (0x100): read-only, no copy
        c->memory_view ? c->memory_view((char*)frame.data, (ssize_t)frame_length, 0x100) : NULL;
    if (!child->frame_view) {   // its MemoryError dies with it
      errno = c->memory_view ? ENOMEM : EINVAL;
      setup_failed("cannot view the job frame");
    }
    child->workdir = workdir, child->result_fd = 3;
    return 1;
  }
  if (c->pid_isolated && setns(c->own_pid_namespace, CLONE_NEWPID) != 0) {
    if (pid > 0) kill(pid, SIGKILL);
    return fail("cannot return to the worker's pid namespace");
  }
  if (pid < 0) {
    fail("cannot fork the job");
    close_pipes(pipes, 6);
    remove_job_directory(c);
    return sandbox_error(reply, "OSError", last_error);
  }
  close(pipes[1]), close(pipes[3]), close(pipes[5]);
  if (!c->pid_isolated) setpgid(pid, pid);   // its group made on both sides: killed whole even before its first line

  // The job's process is watched directly (a pidfd turns readable when it ends), not through its pipes: a
  // job that closes them and sleeps is still timed out, and one that ended is seen at once.
  Watch w = {{pipes[0], pipes[2], pipes[4]}, {1, 1, 1}, (int)syscall(SYS_pidfd_open, pid, 0), 0};
  const char* status = NULL;
  const double deadline = start + timeout;
  int exited = 0, wait_status = 0;
  struct rusage usage;
  memset(&usage, 0, sizeof usage);
  const int watch_disk = !c->job_tmpfs;
  // An unlinked file held by a mapping alone counts as the largest file the job may write (confine_job)
  const double file_number = job_number("file_limit", 16 << 20);
  const long long file_limit = c->rlimits && file_number >= 0 && file_number <= 1e15
                                   ? (long long)file_number : ((long long)c->job_dir_mb << 20) + 1;
  double next_disk_check = start + DISK_CHECK_FIRST_S;
  for (;;) {
    const double remaining = deadline - now_s();
    if (remaining <= 0) {
      status = "timeout";
      break;
    }
    double wait = w.pidfd >= 0 ? 0.05 : 0.005;   // without a pidfd (Linux < 5.3): polled
    if (watch_disk && wait > next_disk_check - now_s()) wait = next_disk_check - now_s();
    drain(c, &w, remaining < wait ? remaining : wait);
    if (w.caller_gone) {   // the caller died or dropped the pool: the job is ended, not left to its deadline
      status = "killed";
      break;
    }
    if (over_cap()) {
      status = "output_limit";
      break;
    }
    if (watch_disk && now_s() >= next_disk_check) {
      const double began = now_s();
      // Strict once the job's code may have run (the result channel's first byte, written just before it):
      // until its own set-up makes it dumpable again, the worker cannot read a job it did not make root's.
      const Channel* res = &channels[RESULT];
      const int code_ran = res->used && res->buffer.data[0] != SETUP_FAILED;
      if (job_directory_past_budget(c, pid, uid, file_limit, c->jobs_readable && code_ran)) {
        status = "disk_limit";
        break;
      }
      // Every 10 ms, or ten times as long as the walk took (a tree of thousands of files costs the worker a
      // tenth of its time), but at most every 100 ms: a job that makes its walks slow pays for it itself,
      // stopped while they run.
      const double took = now_s() - began;
      const double gap = took * 10 > DISK_CHECK_EVERY_S ? took * 10 : DISK_CHECK_EVERY_S;
      next_disk_check = now_s() + (gap < DISK_CHECK_GAP_MAX_S ? gap : DISK_CHECK_GAP_MAX_S);
    }
    // The job's process may be gone while something it forked still holds the pipes open: it is over then,
    // whatever its descendants do.
    if (wait4(pid, &wait_status, WNOHANG, &usage) == pid) {
      exited = 1;
      break;
    }
  }
  if (w.pidfd >= 0) close(w.pidfd), w.pidfd = -1;
  if (exited && any_open(&w)) {   // what it wrote before it ended, up to the caps -- briefly: something it
    const double until = now_s() + 0.1;   // forked may go on writing forever
    while (any_open(&w) && !over_cap() && now_s() < until && drain(c, &w, 0) > 0) {
    }
    if (over_cap()) status = "output_limit";
  }
  int killed = status ? kill_job_processes(c, pid, uid) : 0;
  if (!exited) {
    pid_t waited;
    while ((waited = wait4(pid, &wait_status, 0, &usage)) < 0 && errno == EINTR) {
    }
    if (waited != pid) killed = -1;   // cannot happen to a child of ours; never reported as an exit 0
  }
  const double wall = now_s() - start;
  killed |= kill_job_processes(c, pid, uid);
  if (killed) {
    fail("cannot end the job's processes");
    status = "sandbox_error";
  }
  close(pipes[0]), close(pipes[2]), close(pipes[4]);
  reap_orphans();
  remove_job_directory(c);

  if (cgroup_oom_killed(c) && !status) status = "memory_limit";   // its process tree went over its total
  const double cpu = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec * 1e-6 +
                     (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec * 1e-6;
  const Channel* out = &channels[STDOUT];
  const Channel* err = &channels[STDERR];
  const Channel* res = &channels[RESULT];
  const unsigned char marker = res->used ? res->buffer.data[0] : 0;
  const unsigned char* report = res->buffer.data + (res->used ? 1 : 0);
  const size_t report_length = res->truncated || !res->used ? 0 : res->used - 1;
  int no_result = 0;
  exit_code[0] = signal_text[0] = 0;
  if (WIFSIGNALED(wait_status))
    snprintf(signal_text, sizeof signal_text, "%d", WTERMSIG(wait_status));
  else if (WIFEXITED(wait_status))
    snprintf(exit_code, sizeof exit_code, "%d", WEXITSTATUS(wait_status));
  if (!status) {
    // The report is the caller's to decode; the status needs only its exception type.
    if (marker == SETUP_FAILED) {   // never the job's word: it had not run yet
      status = "sandbox_error";
    } else if (WIFSIGNALED(wait_status) && (WTERMSIG(wait_status) == SIGKILL || WTERMSIG(wait_status) == SIGPIPE) &&
               (out->used > err->used ? out->used : err->used) >= cap) {
      // It filled a whole output cap and then was killed (before we saw the byte past the cap): its output
      // is what ended it. Not for a signal of its own making (a fault after a full cap stays `killed`).
      status = "output_limit";
    } else if (WIFSIGNALED(wait_status)) {
      const int sig = WTERMSIG(wait_status);
      // the CPU limit's signals (soft: SIGXCPU, hard: SIGKILL), and only once that CPU time was used: a job
      // that sends itself SIGXCPU is `killed`, not a timeout
      const double soft = (double)((long long)timeout + 1);
      status = (sig == SIGXCPU || sig == SIGKILL) && cpu >= soft - 0.05 ? "timeout" : "killed";
    } else if (!report_length) {
      status = "error";
      no_result = 1;
    } else {
      status = cotnpot_report_status(report, report_length, tests);
    }
  }
  snprintf(wall_text, sizeof wall_text, "%.6f", wall);
  snprintf(cpu_text, sizeof cpu_text, "%.6f", cpu);
  snprintf(rss_text, sizeof rss_text, "%ld", usage.ru_maxrss);
  reply_text(reply, "status", status);
  reply_text(reply, "exit_code", exit_code);
  reply_text(reply, "signal", signal_text);
  reply_text(reply, "wall_s", wall_text);
  reply_text(reply, "cpu_s", cpu_text);
  reply_text(reply, "peak_rss_kb", rss_text);
  reply_add(reply, "stdout", out->buffer.data, out->used);
  reply_add(reply, "stderr", err->buffer.data, err->used);
  reply_text(reply, "stdout_truncated", out->truncated ? "1" : "0");
  reply_text(reply, "stderr_truncated", err->truncated ? "1" : "0");
  reply_add(reply, "report", report, report_length);
  if (no_result) reply_text(reply, "no_result", "1");
  if (killed) {
    reply_text(reply, "error_type", "OSError");
    reply_text(reply, "error_message", last_error);
  }
  return 0;
}

EXPORT int cotnpot_job_loop(const CotnpotLoopConfig* c, CotnpotChildJob* child) {
  if (buffer_reserve(&frame, 1u << 16) || buffer_reserve(&scratch, SCRATCH_BYTES))
    return fail("cannot map the worker's buffers");
  install_filter_in_worker(c);
  for (unsigned slot = 0;; ++slot) {
    unsigned char head[4];
    int got = read_exact(c->in_fd, head, 4);
    if (got <= 0) return got == 0 ? 0 : fail("cannot read the next job frame");
    const uint32_t n = cotnpot_get_u32(head);
    if (n > frame.capacity && buffer_reserve(&frame, n)) return fail("cannot map the job frame");
    got = read_exact(c->in_fd, frame.data, n);
    if (got <= 0) return got == 0 ? 0 : fail("cannot read the next job frame");
    frame_length = n;
    CotnpotField id;
    const int has_id = cotnpot_frame_field(frame.data, n, "id", &id);   // and the frame checked whole
    if (has_id < 0) {
      errno = EPROTO;
      return fail("a malformed job frame");
    }
    Reply reply;
    reply.fields = 0, reply.total = 0;
    const int rc = run_job(c, (int)(slot % 100), &reply, child);
    if (rc == 1) return 1;
    if (rc < 0) return -1;
    reply_add(&reply, "id", has_id ? id.value : (const unsigned char*)"", has_id ? id.length : 0);
    if (reply_write(&reply, c->out_fd) != 0) return 0;   // the caller is gone: nothing to answer
    // Nothing of this job stays for the next one to find in the memory it inherits: its data, and what the
    // loop knew of it (lengths, codes, times)
    if (c->zeroing) {
      buffer_release(&frame, n);
      explicit_bzero(&reply, sizeof reply);
      explicit_bzero(&id, sizeof id);
      explicit_bzero(head, sizeof head);
      explicit_bzero(exit_code, sizeof exit_code), explicit_bzero(signal_text, sizeof signal_text);
      explicit_bzero(wall_text, sizeof wall_text), explicit_bzero(cpu_text, sizeof cpu_text);
      explicit_bzero(rss_text, sizeof rss_text);
      explicit_bzero(last_error, sizeof last_error);
      frame_length = 0;
      scrub_stack();
    }
    for (int i = 0; i < CHANNELS; ++i) channel_clear(&channels[i], c->zeroing);
  }
}
