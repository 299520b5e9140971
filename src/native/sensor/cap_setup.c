/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loader-side setup of the capability hook: whether this kernel has the
 * cap_capable tracepoint at all, and where the functions whose CAP_SYS_ADMIN
 * probe the BPF program leaves out live in kernel text (on_cap_capable in
 * sensor.bpf.c explains why).
 */
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>
#include "cap_setup.h"

/* NULL when tp_btf/cap_capable can be attached, else why not. The tracepoint
 * is new in Linux 6.14: on older kernels the program is not loaded at all (a
 * tp_btf program naming a missing tracepoint would fail the whole load). */
const char *cap_hook_unavailable(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return "no kernel BTF";
	int id = btf__find_by_name_kind(vmlinux, "btf_trace_cap_capable", BTF_KIND_TYPEDEF);
	btf__free(vmlinux);
	return id < 0 ? "kernel has no cap_capable tracepoint (Linux < 6.14)" : NULL;
}

/* Text ranges of the kernel functions names[0..n): each one's address up to
 * the next symbol's (vmlinux symbols are listed in address order, so that is
 * the next line). One pass: /proc/kallsyms is slow to read. 0 when unknown
 * (no kallsyms, addresses hidden). */
void kernel_fn_ranges(const char *const *names, int n, __u64 *lo, __u64 *hi)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], sym[256], type;
	unsigned long long a;
	int open_i = -1, found = 0;
	for (int i = 0; i < n; i++)
		lo[i] = hi[i] = 0;
	if (!f)
		return;
	while (found < n && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &type, sym) != 3)
			continue;
		if (open_i >= 0) {
			if (a > lo[open_i] && a - lo[open_i] < 4096)
				hi[open_i] = a;
			else
				lo[open_i] = 0;
			open_i = -1;
			found++;
		}
		for (int i = 0; i < n; i++)
			if (!lo[i] && (type == 'T' || type == 't') && !strcmp(sym, names[i]) && a)
				lo[i] = a, open_i = i;
	}
	fclose(f);
}

