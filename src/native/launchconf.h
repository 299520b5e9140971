/*
 * The launcher's config, parsed. The text format is documented at the top of
 * launcher.c (and in src/native/launchConfig.ts, which writes it).
 */
#ifndef PALISADE_LAUNCHCONF_H
#define PALISADE_LAUNCHCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A config larger than this is refused: no real ruleset comes close. */
#define LC_MAX_BYTES (1024 * 1024)
#define LC_MAX_MIN_ABI 999

struct lc_path {
	uint64_t rights;
	const char *path; /* points into launch_conf.text */
	int line;
};

struct lc_port {
	uint64_t right;
	uint64_t port;
	int line;
};

struct launch_conf {
	int min_abi;
	uint64_t handled_fs;
	uint64_t handled_net;
	uint64_t scoped;
	bool log_new_exec;
	struct lc_path *paths;
	size_t npaths;
	struct lc_port *ports;
	size_t nports;
	char *text; /* the file's bytes, NUL-terminated; lines are cut in place */
};

/*
 * Reads and parses `file`. On failure returns -1 and writes one line (without
 * the program-name prefix or newline) to err, e.g.
 *   /c.conf:3: unknown directive "frobnicate"
 */
int lc_load(const char *file, struct launch_conf *conf, char *err, size_t errlen);

/* Parses `text` (len bytes, NUL-terminated, modified in place). `file` names it in messages. */
int lc_parse(const char *file, char *text, size_t len, struct launch_conf *conf, char *err, size_t errlen);

void lc_free(struct launch_conf *conf);

/*
 * Writes conf in canonical form: the header, then min-abi, handle-fs,
 * handle-net, scope, path lines, port lines, log-new-exec, each right list
 * in the rights tables' order, no comments. encodeLaunchConfig() produces
 * exactly this text, which is what its round-trip test checks.
 */
void lc_print(FILE *out, const struct launch_conf *conf);

#endif
