/*
 * Start-latency probe: prints `mono_ns <CLOCK_MONOTONIC in ns>` and exits.
 * The benchmark notes the same clock (Node's process.hrtime uses
 * CLOCK_MONOTONIC) before it asks for a container, so the difference is the
 * time from "create" to the workload's first instruction — without counting
 * teardown. Containers share the host's monotonic clock (no time namespace).
 * Also used around a loop to time it from inside the container.
 */
#include <stdio.h>
#include <time.h>

int main(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  printf("mono_ns %lld\n", (long long)t.tv_sec * 1000000000LL + (long long)t.tv_nsec);
  return 0;
}
