/*
 * Keep example that exceeds its memory limit: allocates and touches 1 MiB blocks until malloc
 * fails (memory.grow is refused at the Keep's cap), then exits 1.  With argv[1] = N it instead
 * makes one N MiB allocation, so the refusal happens far below the ceiling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Blocks are chained through their first word so the compiler cannot elide the allocations. */
void *volatile head;

int main(int argc, char **argv) {
  if (argc > 1) {
    size_t n = (size_t)atol(argv[1]) << 20;
    char *p = malloc(n);
    if (!p) {
      fprintf(stderr, "memory-hog: malloc(%s MiB) failed\n", argv[1]);
      return 1;
    }
    memset(p, 0xa5, n);
    head = p;
    printf("allocated %s MiB\n", argv[1]);
    return 0;
  }
  size_t total = 0;
  for (;;) {
    char *p = malloc(1 << 20);
    if (!p) {
      fprintf(stderr, "memory-hog: malloc failed after %zu MiB\n", total >> 20);
      return 1;
    }
    memset(p, 0xa5, 1 << 20);
    *(void **)p = head;
    head = p;
    total += 1 << 20;
  }
}
