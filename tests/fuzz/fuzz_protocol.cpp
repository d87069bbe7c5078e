// The executor's reply parsing (cotnpot/exec/protocol.h) fuzzed under AddressSanitizer and UBSan. A job
// shapes the bytes of its own report, and a broken or hostile worker those of the whole reply, so:
// decode never reads out of bounds and what it decodes encodes back to the same fields; a decoded reply
// becomes a Result or a reason, with a status always set and a printed answer that is the last line of
// the output (no line break, no surrounding whitespace, a piece of the output); numbers parse or do not,
// never throw. The worker's own C reading of the same bytes (job_frame.h: a job's report is read there, in
// the process every later job forks from) agrees with the caller's decoder: the same frames refused, the
// same first value of a key, and the status a report gives.
//
// Standalone (what `make test` runs; driver.h): seeded mutations of well-formed replies, with frame-aware
// mutations (lengths bent, fields repeated or cut). With clang, a libFuzzer target:
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -DCOTNPOT_LIBFUZZER -Icpp \
//       -x c cpp/cotnpot/exec/job_frame.c -x c++ tests/fuzz/fuzz_protocol.cpp cpp/cotnpot/exec/protocol.cpp \
//       -o fuzz_protocol && ./fuzz_protocol
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cotnpot/exec/job_frame.h"
#include "cotnpot/exec/protocol.h"
#include "driver.h"

namespace {

namespace protocol = cotnpot::exec::protocol;
using cotnpot::fuzz::check;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// What the worker's C reads in the same payload, against the caller's decoder.
void check_the_worker_agrees(const std::string& payload, bool readable, protocol::Fields& fields) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(payload.data());
  for (const char* key : {"error_type", "id", "timeout", ""}) {
    CotnpotField f{nullptr, 0};
    const int found = cotnpot_frame_field(bytes, payload.size(), key, &f);
    if (!readable) check(found == -1, "the worker reads a frame the caller refuses");
    else if (!fields.count(key)) check(found == 0, "the worker finds a field the caller does not");
    else
      check(found == 1 && std::string(reinterpret_cast<const char*>(f.value), f.length) == fields[key],
            "the worker reads another value than the caller");
    const double number = cotnpot_field_number(found == 1 ? &f : nullptr, 7.0);
    check(found == 1 ? std::isnan(number) || std::isfinite(number) : number == 7.0, "a number that is not one");
  }
  for (const int tests : {0, 1}) {
    const auto it = fields.find("error_type");
    const std::string type = readable && it != fields.end() ? it->second : "";
    const char* expected = type.empty()            ? "ok"
                           : type == "MemoryError" ? "memory_limit"
                           : type == "SystemExit"  ? (tests ? "ok" : "error")
                                                   : "error";
    check(std::string(cotnpot_report_status(bytes, payload.size(), tests)) == expected,
          "the worker gives a report another status than its error_type says");
  }
}

void run_one(const uint8_t* data, size_t size) {
  cotnpot::fuzz::canary(size);
  const std::string payload(reinterpret_cast<const char*>(data), size);
  protocol::Fields fields;
  const bool readable = protocol::decode(payload, fields);
  check_the_worker_agrees(payload, readable, fields);
  if (readable) {
    protocol::Fields again;
    const std::string frame = protocol::encode(fields);
    check(frame.size() >= 4 && protocol::get_u32(frame.data()) == frame.size() - 4, "a frame's length is wrong");
    check(protocol::decode(frame.substr(4), again) && again == fields, "decode(encode(fields)) != fields");
    for (const char* kind : {"program", "tests"}) {
      for (const char* answer : {"print", "variable"}) {
        cotnpot::exec::Job job;
        job.kind = kind;
        job.answer = answer;
        cotnpot::exec::Result r;
        if (!protocol::interpret_reply(fields, job, r)) {
          check(!r.status.empty(), "a reply became a result without a status");
          if (r.status == "ok" && job.kind == "program" && job.answer == "print")
            check(r.answer == protocol::last_line(r.stdout_text), "the printed answer is not the last line");
        }
      }
    }
  }
  const std::string line = protocol::last_line(payload);
  check(line.find_first_of("\n\r") == std::string::npos, "last_line holds a line break");
  check(line.empty() || (!is_blank(line.front()) && !is_blank(line.back())), "last_line is not trimmed");
  check(payload.find(line) != std::string::npos, "last_line is not a piece of the output");
  protocol::parse_int(payload);
  protocol::parse_double(payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run_one(data, size);
  return 0;
}

#ifndef COTNPOT_LIBFUZZER
namespace {

std::string payload_of(const protocol::Fields& fields) { return protocol::encode(fields).substr(4); }

std::vector<std::string> seeds() {
  const std::string report = payload_of({{"answer", "42"}, {"passed", "1"}, {"failing", ""}});
  const std::string bad_report = payload_of({{"error_type", "ZeroDivisionError"}, {"error_message", "x / 0"}});
  return {
      payload_of({{"id", "7"}, {"status", "ok"}, {"exit_code", "0"}, {"signal", "0"}, {"wall_s", "0.010000"},
                  {"peak_rss_kb", "9000"}, {"stdout", "1\n2\n 42 \r\n\n"}, {"stderr", ""}, {"report", report}}),
      payload_of({{"id", "8"}, {"status", "error"}, {"exit_code", "1"}, {"report", bad_report},
                  {"stderr", "Traceback"}, {"stdout_truncated", "1"}}),
      payload_of({{"id", "9"}, {"status", "timeout"}, {"signal", "9"}, {"no_result", "1"}, {"wall_s", "5.0"}}),
      payload_of({{"id", "10"}, {"status", "sandbox_error"}, {"report", payload_of({{"sandbox_error", "x"}})}}),
      payload_of({{"error_type", "MemoryError"}, {"error_message", ""}, {"passed", "0"}}),
      payload_of({{"answer", ""}, {"error_type", "SystemExit"}, {"error_type", "ValueError"}}),
      payload_of({{"timeout", "5.000000"}, {"memory_mb", "512"}, {"output_limit", "65536"}, {"id", "1e999"}}),
      "", "\n\r\t ", "-9223372036854775808", "1e999", "nan",
  };
}

std::string mutate(const std::string& seed, const std::vector<std::string>& all, std::mt19937_64& rng) {
  std::string s = seed;
  auto pick = [&](size_t n) { return n ? size_t(rng() % n) : size_t(0); };
  for (int r = 0, rounds = 1 + int(rng() % 6); r < rounds; ++r) {
    const size_t at = pick(s.size() + 1);
    switch (rng() % 8) {
      case 0: if (!s.empty()) s[pick(s.size())] = char(rng()); break;
      case 1: if (!s.empty()) s.erase(pick(s.size()), 1 + pick(16)); break;
      case 2: {   // a length bent: 4 bytes somewhere replaced by a small, huge or off-by-one value
        if (s.size() < 4) break;
        std::string len;
        const uint32_t values[] = {0, 1, 3, 0xFFFFFFFFu, 0x7FFFFFFFu, uint32_t(s.size()), uint32_t(s.size() + 1),
                                   uint32_t(rng())};
        protocol::put_u32(len, values[rng() % 8]);
        s.replace(pick(s.size() - 3), 4, len);
        break;
      }
      case 3: s.insert(at, all[pick(all.size())]); break;                          // a field repeated or spliced
      case 4: s.resize(pick(s.size() + 1)); break;                                  // cut short
      case 5: s.insert(at, std::string(1 + pick(8), "\n\r \t\v\f"[pick(6)])); break;
      case 6: s.insert(at, payload_of({{"status", "ok"}, {"exit_code", std::to_string(int64_t(rng()))}})); break;
      default: s.insert(at, 1, char(rng()));
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) { return cotnpot::fuzz::fuzz_main(argc, argv, "fuzz_protocol", seeds(), mutate); }
#endif
