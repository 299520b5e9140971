/* See json.h. Output goes to stdout; the caller adds the final newline. */
#include "json.h"

#include <stdio.h>
#include <string.h>

static bool first[J_MAX_DEPTH + 1] = {true};
static int depth;

static void put_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void key(const char *k)
{
	if (!first[depth])
		putchar(',');
	first[depth] = false;
	if (k) {
		put_string(k);
		putchar(':');
	}
}

void j_open(const char *k)
{
	if (depth > 0 || k)
		key(k);
	putchar('{');
	if (depth < J_MAX_DEPTH)
		depth++;
	first[depth] = true;
}

void j_close(void)
{
	putchar('}');
	if (depth > 0)
		depth--;
}

void j_str(const char *k, const char *v)
{
	key(k);
	put_string(v);
}

void j_int(const char *k, long long v)
{
	key(k);
	printf("%lld", v);
}

void j_bool(const char *k, bool v)
{
	key(k);
	fputs(v ? "true" : "false", stdout);
}

void j_errno_fields(int err)
{
	j_bool("ok", err == 0);
	if (err == 0)
		return;
	const char *name = strerrorname_np(err);
	char num[16];
	if (!name) {
		snprintf(num, sizeof(num), "E%d", err);
		name = num;
	}
	j_str("errno", name);
	j_str("error", strerror(err));
}
