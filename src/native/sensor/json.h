/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny JSON-lines writer shared by palisade-sensor and palisade-auditd.
 * One `struct jb` builds one line; jb_line() writes it with its newline.
 * Strings come from the kernel and from other processes' memory, so they are
 * escaped strictly: control characters as \u00XX, and bytes that are not
 * valid UTF-8 as U+FFFD, so every line is valid JSON whatever a path holds.
 */
#ifndef PALISADE_JSON_H
#define PALISADE_JSON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JB_MAX_DEPTH 8

struct jb {
	char *buf;
	size_t len, cap;
	int depth;
	int comma[JB_MAX_DEPTH]; /* does the current container need a comma before the next item? */
};

void jb_begin(struct jb *j, const char *type, const char *source);
void jb_str(struct jb *j, const char *key, const char *s);
void jb_strn(struct jb *j, const char *key, const char *s, size_t n);
void jb_int(struct jb *j, const char *key, long long v);
void jb_uint(struct jb *j, const char *key, unsigned long long v);
/* u64 as a decimal string: JSON numbers lose precision above 2^53. */
void jb_u64str(struct jb *j, const char *key, uint64_t v);
void jb_bool(struct jb *j, const char *key, int v);
/* RFC 3339 UTC with nanoseconds, e.g. "2026-11-23T09:43:01.123456789Z". */
void jb_time(struct jb *j, const char *key, uint64_t realtime_ns);
void jb_arr_begin(struct jb *j, const char *key);
void jb_arr_strn(struct jb *j, const char *s, size_t n);
void jb_arr_end(struct jb *j);
void jb_obj_begin(struct jb *j, const char *key);
void jb_obj_end(struct jb *j);
/* Closes the object and writes the line; returns -1 on a write error. */
int jb_line(struct jb *j, FILE *out);

uint64_t realtime_ns(void);
uint64_t monotonic_ns(void);
#endif
