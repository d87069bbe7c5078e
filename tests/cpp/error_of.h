#pragma once
// The message of the c10::Error that f throws, for tests that check error messages.
#include <c10/util/Exception.h>

#include <functional>
#include <string>

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "<no error>";
}
