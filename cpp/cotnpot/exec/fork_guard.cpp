#include "cotnpot/exec/fork_guard.h"

#include <pthread.h>

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

// Held across the fork, so that the child's copy of the registry is whole (no pool half added or removed)
// and its mutex is one the child's only thread holds and can release.
void before_fork() { registry_mutex().lock(); }
void in_parent() { registry_mutex().unlock(); }
void in_child() {
  for (const auto& [pool, handler] : registry()) handler(pool);
  registry().clear();  // the child's copies are forgotten for good: a fork of the child finds none
  registry_mutex().unlock();
}

void install_once() {
  static const bool installed = (pthread_atfork(before_fork, in_parent, in_child), true);
  (void)installed;
}

}  // namespace

void on_fork_in_child(void* pool, ForkChildHandler handler) {
  install_once();
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().emplace_back(pool, handler);
}

void forget_at_fork(void* pool) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& pools = registry();
  pools.erase(std::remove_if(pools.begin(), pools.end(), [&](const auto& p) { return p.first == pool; }),
              pools.end());
}

}  // namespace cotnpot::exec::detail
