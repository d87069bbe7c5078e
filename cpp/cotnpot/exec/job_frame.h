// The frame format as the worker's C job loop reads it (job_loop.c): job frames from the caller, and each
// job's report -- bytes a hostile job shapes, so this is fuzzed (tests/fuzz/fuzz_protocol.cpp, against the
// caller's own decoder, protocol.h). A payload is ([u32 key length][key][u32 value length][value])*,
// little-endian, as protocol.h encodes it.
#ifndef COTNPOT_EXEC_JOB_FRAME_H
#define COTNPOT_EXEC_JOB_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const unsigned char* value;
  uint32_t length;
} CotnpotField;

#ifdef __cplusplus
extern "C" {
#endif
uint32_t cotnpot_get_u32(const unsigned char* p);
void cotnpot_put_u32(unsigned char* p, uint32_t v);
// The first field named `key` of a whole payload checked end to end: 1 (and *out), 0 when there is none,
// -1 when a length points past the payload's end (then nothing of it is read as a field, as the caller's
// decoder refuses it whole).
int cotnpot_frame_field(const unsigned char* payload, size_t n, const char* key, CotnpotField* out);
// A field's value as a number: `fallback` where the field is absent (f NULL), NAN where it is not one finite
// number written out in full.
double cotnpot_field_number(const CotnpotField* f, double fallback);
// The status a job's report gives a job that exited normally: "memory_limit" (error_type MemoryError),
// "error" (another exception; SystemExit too, but for a tests job, where exit() is judged by its report),
// else "ok" (an unreadable report too: the caller then finds no result in it).
const char* cotnpot_report_status(const unsigned char* report, size_t n, int tests);
#ifdef __cplusplus
}
#endif

#endif
