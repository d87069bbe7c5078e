#pragma once
// The executor's side of the worker protocol, as pure functions (no processes, no descriptors): frames of
// length-prefixed key/value fields, and a worker's reply turned into a Result. Everything here reads
// bytes a hostile job may have shaped (its report travels inside the reply), so every function accepts
// any input: malformed data is a false / a reason, never an exception or a read out of bounds
// (tests/fuzz/fuzz_protocol.cpp).
//
// Example:
//   Fields f;
//   protocol::decode(protocol::encode({{"id", "7"}}).substr(4), f);   // true, f["id"] == "7"
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "cotnpot/exec/executor.h"

namespace cotnpot::exec::protocol {

using Fields = std::map<std::string, std::string>;

// Lengths are little-endian on both sides (the worker packs "<I"), whatever the host's byte order.
void put_u32(std::string& out, uint32_t v);
uint32_t get_u32(const char* p);

// A frame: the payload's length, then per field its key's length, key, value's length and value.
std::string encode(const Fields& fields);
// Fields from a payload (a frame without its length); false when it is cut or malformed. The first of a
// repeated key wins, as the worker reads a report.
bool decode(const std::string& payload, Fields& out);

// Numbers of a reply, parsed without exceptions: nullopt for anything malformed.
std::optional<long long> parse_int(const std::string& s);
std::optional<double> parse_double(const std::string& s);

// The last line of printed output that is not blank, without surrounding ASCII whitespace: a program's
// answer. Lines end at \n or \r.
std::string last_line(const std::string& out);

// Fills r from a worker's reply to job (whose id the caller has checked); the reason the reply is
// malformed (the worker is then replaced), or nullopt.
std::optional<std::string> interpret_reply(Fields got, const Job& job, Result& r);

}  // namespace cotnpot::exec::protocol
