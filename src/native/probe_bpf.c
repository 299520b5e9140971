/*
 * The BPF part of palisade-probe: can this kernel load the programs Palisade
 * would use? The kernel's lists are not trusted (PLATFORM.md: "bpf" is an
 * active LSM here, yet every lsm/ program gets EPERM), so each kind is
 * measured by loading a two-instruction program with the raw bpf() syscall.
 *
 * Every program is loaded and its fd closed at once: none is attached or
 * pinned, so none ever runs and nothing outlives the probe. Programs and the
 * map are named "pal_probe_*" so tests can check none is left behind.
 * libbpf is used only to parse /sys/kernel/btf/vmlinux (a file read) for the
 * attach targets that lsm/ and tp_btf programs need.
 */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "json.h"
#include "probe.h"

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* libbpf would print parse diagnostics on stderr; the JSON carries errors. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

struct prog_kind {
	const char *key;  /* JSON key, as in HostFeatures.bpf */
	const char *name; /* program name in the kernel, <= 15 chars */
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
	int retval;              /* what the program returns: "allow" for its type */
	const char *btf_target;  /* vmlinux BTF name of the attach target, or NULL */
	int btf_kind;
};

static const struct prog_kind kinds[] = {
	/* lsm/file_open: 0 = allow. Needs the BTF id of the hook's stub function. */
	{"lsm", "pal_probe_lsm", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, 0, "bpf_lsm_file_open", BTF_KIND_FUNC},
	/* tp_btf/sched_process_exec: the target is the tracepoint's typedef. */
	{"tpBtf", "pal_probe_tp", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, 0, "btf_trace_sched_process_exec",
	 BTF_KIND_TYPEDEF},
	/* cgroup/dev: 1 = allow. */
	{"cgroupDevice", "pal_probe_dev", BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, 1, NULL, 0},
	/* cgroup/connect4: 1 = allow. */
	{"cgroupSockAddr", "pal_probe_conn", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 1, NULL, 0},
};

/* The last non-empty line of a verifier log, for the JSON. */
static const char *last_line(char *log)
{
	size_t n = strlen(log);
	while (n > 0 && log[n - 1] == '\n')
		log[--n] = '\0';
	char *nl = strrchr(log, '\n');
	return nl ? nl + 1 : log;
}

static void load_prog(const struct prog_kind *k, const struct btf *vmlinux, int btf_err)
{
	j_open(k->key);
	uint32_t btf_id = 0;
	if (k->btf_target) {
		if (!vmlinux) {
			j_errno_fields(btf_err ? btf_err : ENOENT);
			j_str("detail", "no vmlinux BTF to find the attach target in");
			j_close();
			return;
		}
		int id = btf__find_by_name_kind(vmlinux, k->btf_target, k->btf_kind);
		if (id <= 0) {
			j_errno_fields(ENOENT);
			j_str("detail", "attach target not in vmlinux BTF");
			j_str("target", k->btf_target);
			j_close();
			return;
		}
		btf_id = (uint32_t)id;
		j_str("target", k->btf_target);
		j_int("attachBtfId", id);
	}

	/* r0 = retval; exit */
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = k->retval},
		{.code = BPF_JMP | BPF_EXIT},
	};
	char log[4096] = "";
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = k->type;
	attr.expected_attach_type = k->attach;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uint64_t)(uintptr_t) "GPL"; /* lsm and tracing programs must be GPL-compatible */
	attr.attach_btf_id = btf_id;
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	strncpy(attr.prog_name, k->name, sizeof(attr.prog_name) - 1);

	int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
	j_errno_fields(fd < 0 ? errno : 0);
	if (fd < 0 && log[0])
		j_str("verifier", last_line(log));
	j_close();
	if (fd >= 0)
		close(fd);
}

static void create_ringbuf(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_RINGBUF;
	attr.max_entries = (uint32_t)sysconf(_SC_PAGESIZE); /* smallest legal size: one page */
	strncpy(attr.map_name, "pal_probe_rb", sizeof(attr.map_name) - 1);
	int fd = (int)sys_bpf(BPF_MAP_CREATE, &attr);
	j_open("ringbuf");
	j_errno_fields(fd < 0 ? errno : 0);
	j_close();
	if (fd >= 0)
		close(fd);
}

void probe_bpf(void)
{
	libbpf_set_print(quiet);
	errno = 0;
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int btf_err = vmlinux ? 0 : (errno ? errno : ENOENT);

	j_open("bpf");
	j_open("btf");
	j_errno_fields(btf_err);
	j_close();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		load_prog(&kinds[i], vmlinux, btf_err);
	create_ringbuf();
	j_close();
	btf__free(vmlinux);
}
