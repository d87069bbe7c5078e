#include "cotnpot/exec/fork_guard.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

namespace cotnpot::exec::detail {
namespace {

std::mutex& registry_mutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: a fork may come during static destruction
  return *m;
}

std::vector<std::pair<void*, ForkChildHandler>>& registry() {
  static auto* pools = new std::vector<std::pair<void*, ForkChildHandler>>;
  return *pools;
}

std::vector<int>& descriptors() {   // the pools' pipes, closed in the child
  static auto* fds = new std::vector<int>;
  return *fds;
}

// Held across the fork, so that the child's copy of the registry is whole (no pool half added or removed)
// and its mutex is one the child's only thread holds and can release.
void before_fork() { registry_mutex().lock(); }
void in_parent() { registry_mutex().unlock(); }
void in_child() {
  for (const auto& [pool, handler] : registry()) handler(pool);
  registry().clear();  // the child's copies are forgotten for good: a fork of the child finds none
  for (const int fd : descriptors()) ::close(fd);
  descriptors().clear();
  registry_mutex().unlock();
}

void install_once() {
  static const bool installed = (pthread_atfork(before_fork, in_parent, in_child), true);
  (void)installed;
}
// At load: installed on first use instead, a fork that another thread began just before it ran without
// the handlers, while the first ForkPause made pipes (seen: the first worker's pipes in such a child).
const bool installed_at_load = (install_once(), true);

}  // namespace

void on_fork_in_child(void* pool, ForkChildHandler handler) {
  install_once();
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().emplace_back(pool, handler);
}

ForkPause::ForkPause() {
  install_once();   // a fork must take the lock from now on
  registry_mutex().lock();
}
ForkPause::~ForkPause() { registry_mutex().unlock(); }

void close_in_fork_child(int fd, const ForkPause&) { descriptors().push_back(fd); }

void keep_in_fork_child(int fd, const ForkPause&) {
  auto& fds = descriptors();
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
}

void forget_at_fork(void* pool) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& pools = registry();
  pools.erase(std::remove_if(pools.begin(), pools.end(), [&](const auto& p) { return p.first == pool; }),
              pools.end());
}

}  // namespace cotnpot::exec::detail
