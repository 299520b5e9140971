/*
 * Parser for the launcher's config (format: top of launcher.c). It is
 * strict on purpose: the config decides what a workload may touch, so
 * anything unexpected (unknown directive or right, repeated setting, bad
 * number, relative path, right not handled) is an error and the launcher
 * runs nothing. Parsing has no side effects besides reading the file.
 */
#include "launchconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "landlock_abi.h"

#define HEADER "palisade-launch 1"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int lc_load(const char *file, struct launch_conf *conf, char *err, size_t errlen)
{
	memset(conf, 0, sizeof(*conf));
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "%s: cannot read: %s", file, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: cannot read: not a regular file", file);
	}
	/* One byte more than the limit, to tell "exactly at" from "over". */
	char *text = malloc(LC_MAX_BYTES + 2);
	if (!text) {
		close(fd);
		return fail(err, errlen, "%s: out of memory", file);
	}
	size_t len = 0;
	while (len <= LC_MAX_BYTES) {
		ssize_t n = read(fd, text + len, LC_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			free(text);
			return fail(err, errlen, "%s: cannot read: %s", file, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > LC_MAX_BYTES) {
		free(text);
		return fail(err, errlen, "%s: larger than %d bytes", file, LC_MAX_BYTES);
	}
	text[len] = '\0';
	int rc = lc_parse(file, text, len, conf, err, errlen);
	conf->text = text;
	if (rc < 0)
		lc_free(conf);
	return rc;
}

void lc_free(struct launch_conf *conf)
{
	free(conf->paths);
	free(conf->ports);
	free(conf->text);
	memset(conf, 0, sizeof(*conf));
}

/* Strict unsigned decimal: digits only, no sign, no spaces, at most `max`. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0' || strlen(s) > 10)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static const struct pl_right *find_right(const struct pl_right *table, const char *name)
{
	for (; table->name; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

/* "a,b,c" (modified in place) -> mask. `kind` names the table in messages. */
static int parse_rights(const char *where, const struct pl_right *table, const char *kind, char *list,
			uint64_t *mask, char *err, size_t errlen)
{
	*mask = 0;
	if (*list == '\0')
		return fail(err, errlen, "%s: empty rights list", where);
	char *cursor = list;
	for (;;) {
		char *comma = strchr(cursor, ',');
		if (comma)
			*comma = '\0';
		if (*cursor == '\0')
			return fail(err, errlen, "%s: empty name in %s list", where, kind);
		const struct pl_right *r = find_right(table, cursor);
		if (!r)
			return fail(err, errlen, "%s: unknown %s \"%s\"", where, kind, cursor);
		if (*mask & r->bit)
			return fail(err, errlen, "%s: duplicate %s \"%s\"", where, kind, cursor);
		*mask |= r->bit;
		if (!comma)
			return 0;
		cursor = comma + 1;
	}
}

static const char *right_name(const struct pl_right *table, uint64_t bits)
{
	for (; table->name; table++)
		if (bits & table->bit)
			return table->name;
	return "?";
}

static int grow(void **array, size_t n, size_t size)
{
	/* Called before appending element n; doubles at powers of two. */
	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	void *p = realloc(*array, (n == 0 ? 8 : n * 2) * size);
	if (!p)
		return -1;
	*array = p;
	return 0;
}

/* A single-valued directive: its argument must not contain a space. */
static int one_arg(const char *where, const char *arg, const char *usage, char *err, size_t errlen)
{
	if (!arg || *arg == '\0' || strchr(arg, ' '))
		return fail(err, errlen, "%s: expected \"%s\"", where, usage);
	return 0;
}

struct seen {
	int min_abi, handle_fs, handle_net, scope, log_new_exec;
};

static int once(const char *where, int *seen, const char *name, char *err, size_t errlen)
{
	if (*seen)
		return fail(err, errlen, "%s: duplicate \"%s\"", where, name);
	*seen = 1;
	return 0;
}

static int parse_line(const char *where, char *line, struct launch_conf *c, struct seen *s, int lineno, char *err,
		      size_t errlen)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	uint64_t n;

	if (strcmp(line, "min-abi") == 0) {
		if (one_arg(where, arg, "min-abi N", err, errlen) || once(where, &s->min_abi, line, err, errlen))
			return -1;
		if (parse_uint(arg, LC_MAX_MIN_ABI, &n) < 0 || n == 0)
			return fail(err, errlen, "%s: bad min-abi \"%s\" (expected 1-%d)", where, arg, LC_MAX_MIN_ABI);
		c->min_abi = (int)n;
	} else if (strcmp(line, "handle-fs") == 0) {
		if (one_arg(where, arg, "handle-fs RIGHT[,RIGHT...]", err, errlen) ||
		    once(where, &s->handle_fs, line, err, errlen))
			return -1;
		return parse_rights(where, pl_fs_rights, "fs right", arg, &c->handled_fs, err, errlen);
	} else if (strcmp(line, "handle-net") == 0) {
		if (one_arg(where, arg, "handle-net RIGHT[,RIGHT...]", err, errlen) ||
		    once(where, &s->handle_net, line, err, errlen))
			return -1;
		return parse_rights(where, pl_net_rights, "net right", arg, &c->handled_net, err, errlen);
	} else if (strcmp(line, "scope") == 0) {
		if (one_arg(where, arg, "scope SCOPE[,SCOPE...]", err, errlen) || once(where, &s->scope, line, err, errlen))
			return -1;
		return parse_rights(where, pl_scopes, "scope", arg, &c->scoped, err, errlen);
	} else if (strcmp(line, "log-new-exec") == 0) {
		if (arg)
			return fail(err, errlen, "%s: expected \"log-new-exec\"", where);
		if (once(where, &s->log_new_exec, line, err, errlen))
			return -1;
		c->log_new_exec = true;
	} else if (strcmp(line, "path") == 0) {
		/* The path is the rest of the line after the rights: it may contain spaces. */
		char *path = arg ? strchr(arg, ' ') : NULL;
		if (!path || path[1] == '\0')
			return fail(err, errlen, "%s: expected \"path RIGHT[,RIGHT...] /ABSOLUTE/PATH\"", where);
		*path++ = '\0';
		struct lc_path p = {.path = path, .line = lineno};
		if (parse_rights(where, pl_fs_rights, "fs right", arg, &p.rights, err, errlen))
			return -1;
		if (path[0] != '/')
			return fail(err, errlen, "%s: path must be absolute: \"%s\"", where, path);
		if (grow((void **)&c->paths, c->npaths, sizeof(*c->paths)))
			return fail(err, errlen, "%s: out of memory", where);
		c->paths[c->npaths++] = p;
	} else if (strcmp(line, "port") == 0) {
		char *num = arg ? strchr(arg, ' ') : NULL;
		if (!num || strchr(num + 1, ' ') || num[1] == '\0')
			return fail(err, errlen, "%s: expected \"port RIGHT PORT\"", where);
		*num++ = '\0';
		const struct pl_right *r = find_right(pl_net_rights, arg);
		if (!r)
			return fail(err, errlen, "%s: unknown net right \"%s\"", where, arg);
		if (parse_uint(num, 65535, &n) < 0)
			return fail(err, errlen, "%s: bad port \"%s\" (expected 0-65535)", where, num);
		if (grow((void **)&c->ports, c->nports, sizeof(*c->ports)))
			return fail(err, errlen, "%s: out of memory", where);
		c->ports[c->nports++] = (struct lc_port){.right = r->bit, .port = n, .line = lineno};
	} else {
		return fail(err, errlen, "%s: unknown directive \"%s\"", where, line);
	}
	return 0;
}

/* Checks that need the whole file: required lines and cross-references. */
static int check_whole(const char *file, const struct launch_conf *c, const struct seen *s, char *err, size_t errlen)
{
	if (!s->min_abi)
		return fail(err, errlen, "%s: missing \"min-abi\"", file);
	if (!c->handled_fs && !c->handled_net && !c->scoped)
		return fail(err, errlen, "%s: handles no rights (no handle-fs, handle-net or scope): refusing to run unconfined",
			    file);
	for (size_t i = 0; i < c->npaths; i++) {
		uint64_t extra = c->paths[i].rights & ~c->handled_fs;
		if (extra)
			return fail(err, errlen, "%s:%d: right \"%s\" is not in handle-fs", file, c->paths[i].line,
				    right_name(pl_fs_rights, extra));
	}
	for (size_t i = 0; i < c->nports; i++)
		if (!(c->ports[i].right & c->handled_net))
			return fail(err, errlen, "%s:%d: right \"%s\" is not in handle-net", file, c->ports[i].line,
				    right_name(pl_net_rights, c->ports[i].right));
	return 0;
}

int lc_parse(const char *file, char *text, size_t len, struct launch_conf *c, char *err, size_t errlen)
{
	struct seen s = {0};
	char where[4200];
	char *nul = memchr(text, '\0', len);
	if (nul) {
		int lineno = 1;
		for (char *p = text; p < nul; p++)
			lineno += *p == '\n';
		return fail(err, errlen, "%s:%d: NUL byte in line", file, lineno);
	}
	char *end = text + len;
	int lineno = 0;
	for (char *line = text; line < end || lineno == 0;) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (nl)
			*nl = '\0';
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", file, lineno);
		if (lineno == 1) {
			if (strcmp(line, HEADER) != 0)
				return fail(err, errlen, "%s: expected header \"%s\"", where, HEADER);
		} else if (line[0] != '\0' && line[0] != '#') {
			if (parse_line(where, line, c, &s, lineno, err, errlen) < 0)
				return -1;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return check_whole(file, c, &s, err, errlen);
}

static void print_rights(FILE *out, const struct pl_right *table, uint64_t mask)
{
	const char *sep = "";
	for (; table->name; table++)
		if (mask & table->bit) {
			fprintf(out, "%s%s", sep, table->name);
			sep = ",";
		}
}

static void print_line(FILE *out, const char *directive, const struct pl_right *table, uint64_t mask)
{
	if (!mask)
		return;
	fprintf(out, "%s ", directive);
	print_rights(out, table, mask);
	fputc('\n', out);
}

void lc_print(FILE *out, const struct launch_conf *c)
{
	fprintf(out, "%s\nmin-abi %d\n", HEADER, c->min_abi);
	print_line(out, "handle-fs", pl_fs_rights, c->handled_fs);
	print_line(out, "handle-net", pl_net_rights, c->handled_net);
	print_line(out, "scope", pl_scopes, c->scoped);
	for (size_t i = 0; i < c->npaths; i++) {
		fputs("path ", out);
		print_rights(out, pl_fs_rights, c->paths[i].rights);
		fprintf(out, " %s\n", c->paths[i].path);
	}
	for (size_t i = 0; i < c->nports; i++) {
		fputs("port ", out);
		print_rights(out, pl_net_rights, c->ports[i].right);
		fprintf(out, " %llu\n", (unsigned long long)c->ports[i].port);
	}
	if (c->log_new_exec)
		fputs("log-new-exec\n", out);
}
