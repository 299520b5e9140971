/*
 * Landlock user-space API, defined here rather than taken from
 * <linux/landlock.h>: Debian 12's linux-libc-dev is from Linux 6.1 and lacks
 * the network rules (ABI 4), ioctl_dev (ABI 5), scopes (ABI 6) and the
 * logging flags (ABI 7). Values are copied from the kernel's stable uapi
 * (include/uapi/linux/landlock.h); they never change once released.
 *
 * Names carry a PL_ prefix so this header never collides with whatever
 * version of <linux/landlock.h> a toolchain ships: do not include both.
 *
 * The rights tables below are the single place that says which ABI
 * introduced which right; the launcher masks a config's handled rights to
 * what the running kernel knows, and the TypeScript encoder
 * (src/native/launchConfig.ts) carries the same table.
 */
#ifndef PALISADE_LANDLOCK_ABI_H
#define PALISADE_LANDLOCK_ABI_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Syscall numbers are the same on every architecture (asm-generic). */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

/* struct landlock_ruleset_attr as of ABI 6 (it grows by appending). */
struct pl_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

/* struct landlock_path_beneath_attr: packed in the uapi, so here too. */
struct pl_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* struct landlock_net_port_attr (ABI 4). */
struct pl_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

#define PL_CREATE_RULESET_VERSION (1U << 0)
#define PL_CREATE_RULESET_ERRATA (1U << 1)

#define PL_RULE_PATH_BENEATH 1
#define PL_RULE_NET_PORT 2

/* Filesystem rights. */
#define PL_FS_EXECUTE (1ULL << 0)
#define PL_FS_WRITE_FILE (1ULL << 1)
#define PL_FS_READ_FILE (1ULL << 2)
#define PL_FS_READ_DIR (1ULL << 3)
#define PL_FS_REMOVE_DIR (1ULL << 4)
#define PL_FS_REMOVE_FILE (1ULL << 5)
#define PL_FS_MAKE_CHAR (1ULL << 6)
#define PL_FS_MAKE_DIR (1ULL << 7)
#define PL_FS_MAKE_REG (1ULL << 8)
#define PL_FS_MAKE_SOCK (1ULL << 9)
#define PL_FS_MAKE_FIFO (1ULL << 10)
#define PL_FS_MAKE_BLOCK (1ULL << 11)
#define PL_FS_MAKE_SYM (1ULL << 12)
#define PL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define PL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define PL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

/*
 * Rights that make sense on a non-directory. The kernel rejects a
 * path-beneath rule on a file that names any other right (EINVAL), so the
 * launcher narrows a file's rights to this set (narrowing never widens).
 */
#define PL_FS_FILE_RIGHTS \
	(PL_FS_EXECUTE | PL_FS_WRITE_FILE | PL_FS_READ_FILE | PL_FS_TRUNCATE | PL_FS_IOCTL_DEV)

/* Network rights (ABI 4). */
#define PL_NET_BIND_TCP (1ULL << 0)
#define PL_NET_CONNECT_TCP (1ULL << 1)

/* Scopes (ABI 6). */
#define PL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define PL_SCOPE_SIGNAL (1ULL << 1)

/* landlock_restrict_self() flags (ABI 7). */
#define PL_RESTRICT_SELF_LOG_SAME_EXEC_OFF (1U << 0)
#define PL_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)
#define PL_RESTRICT_SELF_LOG_SUBDOMAINS_OFF (1U << 2)
#define PL_ABI_LOG_FLAGS 7

/* The newest ABI this code knows every right of. */
#define PL_ABI_KNOWN 7

/* One named right and the first ABI that has it. */
struct pl_right {
	const char *name;
	uint64_t bit;
	int abi;
};

static const struct pl_right pl_fs_rights[] = {
	{"execute", PL_FS_EXECUTE, 1},       {"write_file", PL_FS_WRITE_FILE, 1},
	{"read_file", PL_FS_READ_FILE, 1},   {"read_dir", PL_FS_READ_DIR, 1},
	{"remove_dir", PL_FS_REMOVE_DIR, 1}, {"remove_file", PL_FS_REMOVE_FILE, 1},
	{"make_char", PL_FS_MAKE_CHAR, 1},   {"make_dir", PL_FS_MAKE_DIR, 1},
	{"make_reg", PL_FS_MAKE_REG, 1},     {"make_sock", PL_FS_MAKE_SOCK, 1},
	{"make_fifo", PL_FS_MAKE_FIFO, 1},   {"make_block", PL_FS_MAKE_BLOCK, 1},
	{"make_sym", PL_FS_MAKE_SYM, 1},     {"refer", PL_FS_REFER, 2},
	{"truncate", PL_FS_TRUNCATE, 3},     {"ioctl_dev", PL_FS_IOCTL_DEV, 5},
	{0, 0, 0},
};

static const struct pl_right pl_net_rights[] = {
	{"bind_tcp", PL_NET_BIND_TCP, 4},
	{"connect_tcp", PL_NET_CONNECT_TCP, 4},
	{0, 0, 0},
};

static const struct pl_right pl_scopes[] = {
	{"abstract_unix_socket", PL_SCOPE_ABSTRACT_UNIX_SOCKET, 6},
	{"signal", PL_SCOPE_SIGNAL, 6},
	{0, 0, 0},
};

/* The rights of `table` that a kernel with ABI `abi` knows. */
static inline uint64_t pl_known_mask(const struct pl_right *table, int abi)
{
	uint64_t mask = 0;
	for (; table->name; table++)
		if (table->abi <= abi)
			mask |= table->bit;
	return mask;
}

/*
 * The kernel's Landlock ABI: >= 1, or 0 when Landlock is not built in or
 * disabled at boot (ENOSYS / EOPNOTSUPP). Unprivileged and side-effect free.
 */
static inline int pl_landlock_abi(void)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, PL_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

#endif
