/* SPDX-License-Identifier: Apache-2.0 */
/* Loader-side setup of the capability hook (tp_btf/cap_capable), see cap_setup.c. */
#ifndef PALISADE_CAP_SETUP_H
#define PALISADE_CAP_SETUP_H
#include <linux/types.h>

const char *cap_hook_unavailable(void);
void kernel_fn_ranges(const char *const *names, int n, __u64 *lo, __u64 *hi);
#endif
