/* Shared between probe.c and probe_bpf.c. */
#ifndef PALISADE_PROBE_H
#define PALISADE_PROBE_H

/* Writes the "bpf" object: vmlinux BTF, trivial program loads, a ring buffer. */
void probe_bpf(void);

#endif
