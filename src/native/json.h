/*
 * A minimal streaming JSON writer for palisade-probe's output (stdout).
 * Objects only, nested up to J_MAX_DEPTH; keys and strings are escaped.
 */
#ifndef PALISADE_JSON_H
#define PALISADE_JSON_H

#include <stdbool.h>

#define J_MAX_DEPTH 8

/* Opens an object; key is NULL for the top-level object. */
void j_open(const char *key);
void j_close(void);
void j_str(const char *key, const char *value);
void j_int(const char *key, long long value);
void j_bool(const char *key, bool value);
/* {"ok": err == 0} plus "errno" (symbolic, e.g. "EPERM") and "error" (text) when err != 0. */
void j_errno_fields(int err);

#endif
