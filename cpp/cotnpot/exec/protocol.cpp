#include "cotnpot/exec/protocol.h"

#include <cerrno>
#include <cstdlib>

namespace cotnpot::exec::protocol {


void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string encode(const Fields& fields) {
  std::string payload;
  for (const auto& [k, v] : fields) {
    put_u32(payload, static_cast<uint32_t>(k.size()));
    payload += k;
    put_u32(payload, static_cast<uint32_t>(v.size()));
    payload += v;
  }
  std::string frame;
  put_u32(frame, static_cast<uint32_t>(payload.size()));
  return frame + payload;
}

bool decode(const std::string& payload, Fields& out) {
  size_t i = 0;
  const auto u32 = [&](uint32_t& v) {
    if (i + 4 > payload.size()) return false;
    v = get_u32(payload.data() + i);
    i += 4;
    return true;
  };
  while (i < payload.size()) {
    uint32_t kl, vl;
    if (!u32(kl) || i + kl > payload.size()) return false;
    std::string k = payload.substr(i, kl);
    i += kl;
    if (!u32(vl) || i + vl > payload.size()) return false;
    out.emplace(k, payload.substr(i, vl));  // the first of a repeated key, as the worker reads a report
    i += vl;
  }
  return true;
}

std::optional<long long> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::string last_line(const std::string& out) {
  const char* blank = " \t\r\n\v\f";
  size_t end = out.size();
  while (end > 0) {
    const size_t start = out.find_last_of("\n\r", end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    const std::string line = out.substr(from, end - from);
    const size_t a = line.find_first_not_of(blank);
    if (a != std::string::npos) return line.substr(a, line.find_last_not_of(blank) - a + 1);
    if (start == std::string::npos) break;
    end = start;
  }
  return "";
}

std::optional<std::string> interpret_reply(Fields got, const Job& job, Result& r) {
  const auto exit_code = got["exit_code"].empty() ? std::optional<long long>(-1) : parse_int(got["exit_code"]);
  const auto signal_no = got["signal"].empty() ? std::optional<long long>(0) : parse_int(got["signal"]);
  const auto wall = got["wall_s"].empty() ? std::optional<double>(0.0) : parse_double(got["wall_s"]);
  const auto cpu = got["cpu_s"].empty() ? std::optional<double>(0.0) : parse_double(got["cpu_s"]);
  const auto rss = got["peak_rss_kb"].empty() ? std::optional<long long>(0) : parse_int(got["peak_rss_kb"]);
  if (!exit_code || !signal_no || !wall || !cpu || !rss)
    return std::string("the worker sent a malformed reply; it was replaced");
  // The job's own report (answer, messages, verdict) comes as the job wrote it: the worker never parses
  // job data (its memory is inherited by later jobs); it is decoded here.
  Fields report;
  const bool readable = !got["report"].empty() && decode(got["report"], report);
  r.status = got["status"];
  r.answer = report["answer"];
  r.passed = report["passed"] == "1";
  r.error_type = got.count("error_type") ? got["error_type"] : report["error_type"];
  r.error_message = got.count("error_message") ? got["error_message"] : report["error_message"];
  r.failing_test = report["failing"];
  if (r.status == "sandbox_error" && report.count("sandbox_error")) r.error_message = report["sandbox_error"];
  r.exit_code = static_cast<int>(*exit_code);
  r.signal = static_cast<int>(*signal_no);
  r.stdout_text = got["stdout"];
  r.stderr_text = got["stderr"];
  r.stdout_truncated = got["stdout_truncated"] == "1";
  r.stderr_truncated = got["stderr_truncated"] == "1";
  r.wall_s = *wall;
  r.cpu_s = *cpu;
  r.peak_rss_kb = *rss;
  if (r.status.empty()) r.status = "sandbox_error";
  if (got["no_result"] == "1" || (r.status == "ok" && !readable)) {  // nothing, or nothing readable, came back
    r.status = "error";
    r.error_type = "NoResult";
    r.error_message = "the program ended (exit code " + got["exit_code"] + ") without a result";
    r.answer.clear();
    r.passed = false;
  }
  // A verdict counts only from a job that ended well: one that wrote passed=1 and then ran past its deadline
  // (or its memory) came back as a timeout with passed = true (found by a breaker).
  if (r.status != "ok") r.passed = false;
  if (r.status == "ok" && job.kind == "program" && job.answer == "print") r.answer = last_line(r.stdout_text);
  return std::nullopt;
}

}  // namespace cotnpot::exec::protocol
