/* SPDX-License-Identifier: Apache-2.0 */
/* Binary sensor records (sensor.h) → JSON lines. The schema is in emit.c. */
#ifndef PALISADE_EMIT_H
#define PALISADE_EMIT_H
#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>
#include "sensor.h"
#include "json.h"

struct emit_ctx {
	FILE *out;
	struct jb jb;
	/* CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed at every stats tick so that
	 * a clock step (NTP) shows up within one interval. */
	int64_t clock_off;
	uint64_t received;          /* ring-buffer records read */
	uint64_t events;            /* events represented: records + folded repeats */
	uint64_t repeats;           /* folded events reported through repeat records */
	uint64_t bad_records;       /* records of unexpected size/kind (a bug if ever > 0) */
	uint64_t by_kind[EV_MAX];   /* events represented, per kind */
};

/* One ring-buffer record; returns 0, or -1 if the output failed. */
int emit_record(struct emit_ctx *c, const void *data, size_t size);
/* One drained aggregation entry with count > 0. */
int emit_repeat(struct emit_ctx *c, const struct sys_key *k, const struct agg_val *v);
const char *kind_name(unsigned kind);
const char *syscall_name(int nr, char *buf, size_t n);
const char *cap_name(int cap, char *buf, size_t n);
#endif
