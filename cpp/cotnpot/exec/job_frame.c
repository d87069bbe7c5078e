// The worker's reading of frames and reports (job_frame.h): bounds-checked, with no limit on the number of
// fields, and never a copy of a value but the few bytes of a number.
#include "job_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t cotnpot_get_u32(const unsigned char* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void cotnpot_put_u32(unsigned char* p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

int cotnpot_frame_field(const unsigned char* payload, size_t n, const char* key, CotnpotField* out) {
  const size_t key_length = strlen(key);
  int found = 0;
  size_t i = 0;
  while (i < n) {
    if (n - i < 4) return -1;
    const uint32_t k = cotnpot_get_u32(payload + i);
    i += 4;
    if (n - i < k) return -1;
    const unsigned char* name = payload + i;
    i += k;
    if (n - i < 4) return -1;
    const uint32_t v = cotnpot_get_u32(payload + i);
    i += 4;
    if (n - i < v) return -1;
    if (!found && k == key_length && memcmp(name, key, k) == 0) {
      out->value = payload + i, out->length = v;
      found = 1;
    }
    i += v;
  }
  return found;
}

double cotnpot_field_number(const CotnpotField* f, double fallback) {
  if (!f) return fallback;
  if (f->length == 0 || f->length > 63) return NAN;
  char text[64], *end;
  memcpy(text, f->value, f->length);
  text[f->length] = 0;
  const double value = strtod(text, &end);
  return *end || !isfinite(value) ? NAN : value;
}

static int is(const CotnpotField* f, const char* text) {
  return f->length == strlen(text) && memcmp(f->value, text, f->length) == 0;
}

const char* cotnpot_report_status(const unsigned char* report, size_t n, int tests) {
  CotnpotField type;
  if (cotnpot_frame_field(report, n, "error_type", &type) != 1 || type.length == 0) return "ok";
  if (is(&type, "MemoryError")) return "memory_limit";
  if (is(&type, "SystemExit")) return tests ? "ok" : "error";
  return "error";
}
