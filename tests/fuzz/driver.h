#pragma once
// The standalone fuzzing loop shared by the fuzz targets (any compiler; with clang each target is also a
// libFuzzer target, built with -DCOTNPOT_LIBFUZZER, which leaves this loop out).
//
// A target defines LLVMFuzzerTestOneInput and, for the loop, its seeds and a mutator; fuzz_main then
// runs seeded mutations for --seconds or --runs (--seed picks the sequence), or exactly the files given.
// --corpus DIR (tests/fuzz/corpus/<target>, kept in the repository): every file in it runs once, exactly,
// before the mutations (the regression cases), and seeds them too. libFuzzer reads it as well, but writes
// what it finds into the first directory it is given: `./fuzz_grader NEW_DIR tests/fuzz/corpus/fuzz_grader`
// (then `-merge=1` into the kept corpus only what is worth keeping).
// A failing input (sanitizer report, failed property, hang guard) is printed escaped and written to
// fuzz-crash.bin before the process ends: copy it into the corpus directory to keep it as a regression case.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define COTNPOT_HAVE_SANITIZER_API 1
#endif
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace cotnpot::fuzz {

inline const std::string*& current_input() {
  static const std::string* input = nullptr;
  return input;
}

inline void dump_current() {
  const std::string* input = current_input();
  if (!input) return;
  std::fprintf(stderr, "\nfuzz: the input that failed (%zu bytes, written to fuzz-crash.bin):\n", input->size());
  for (unsigned char c : *input) {
    if (c >= 32 && c < 127 && c != '\\') std::fputc(c, stderr);
    else std::fprintf(stderr, "\\x%02x", c);
  }
  std::fputc('\n', stderr);
  if (FILE* f = std::fopen("fuzz-crash.bin", "wb")) {
    std::fwrite(input->data(), 1, input->size(), f);
    std::fclose(f);
  }
}

// A property the target promises did not hold: report the input and stop.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz: %s\n", what);
  dump_current();
  std::abort();
}

inline void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

// COTNPOT_FUZZ_CANARY set: every input also reads one byte past a heap buffer, so a test can see that the
// sanitizers are really in the build and that a failure reports its input.
inline void canary(size_t size) {
  static const bool armed = std::getenv("COTNPOT_FUZZ_CANARY") != nullptr;
  if (!armed) return;
  std::vector<char> buffer(size + 1);
  volatile char sink = buffer.data()[buffer.size()];
  (void)sink;
}

using Mutator = std::function<std::string(const std::string& seed, const std::vector<std::string>& seeds,
                                          std::mt19937_64& rng)>;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The regular files of a corpus directory, sorted (one order on every machine).
inline std::vector<std::string> corpus_files(const std::string& directory) {
  std::error_code error;
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error))
    if (entry.is_regular_file()) out.push_back(entry.path().string());
  if (error || out.empty()) {
    std::fprintf(stderr, "fuzz: --corpus %s: %s\n", directory.c_str(),
                 error ? error.message().c_str() : "no files in it");
    std::exit(2);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A whole input (a corpus file) as seeds of the mutator, where a target's seeds are pieces of an input.
using SeedsOfInput = std::function<void(const std::string& input, std::vector<std::string>& seeds)>;

inline int fuzz_main(int argc, char** argv, const char* name, std::vector<std::string> seeds, const Mutator& mutate,
                     const std::function<void(int, char**, std::vector<std::string>&)>& more_seeds = {},
                     const SeedsOfInput& seeds_of_input = {}) {
#ifdef COTNPOT_HAVE_SANITIZER_API
  __sanitizer_set_death_callback(dump_current);
#endif
  double seconds = 20;
  long runs = -1;
  uint64_t seed = 1;
  std::vector<std::string> files, corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--corpus" && i + 1 < argc) corpus = corpus_files(argv[++i]);
    else if (arg == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (arg == "--runs" && i + 1 < argc) runs = std::atol(argv[++i]);
    else if (arg == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg.rfind("--", 0) == 0 && i + 1 < argc) ++i;   // a target's own option (more_seeds reads it)
    else files.push_back(argv[i]);
  }
  if (more_seeds) more_seeds(argc, argv, seeds);
  std::string input;
  current_input() = &input;
  auto run_file = [&](const std::string& file) {
    input = read_file(file);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  };
  for (const std::string& file : files) {   // exactly these inputs (e.g. a kept crash)
    run_file(file);
    std::printf("%s: %s ok\n", name, file.c_str());
  }
  if (!files.empty()) return 0;
  for (const std::string& file : corpus) {   // the kept cases first, then they seed the mutations
    run_file(file);
    if (seeds_of_input) seeds_of_input(input, seeds);
    else seeds.push_back(input);
  }
  if (!corpus.empty()) std::printf("%s: %zu corpus files ok\n", name, corpus.size());
  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  long done = 0;
  while (runs < 0 ? std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds
                  : done < runs) {
    input = mutate(seeds[rng() % seeds.size()], seeds, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    ++done;
  }
  std::printf("%s: %ld inputs from %zu seeds (seed %llu), no failure\n", name, done, seeds.size(),
              static_cast<unsigned long long>(seed));
  return 0;
}

}  // namespace cotnpot::fuzz
