/*
 * Keep example: lists the in-memory directory holding argv[1] and prints the file, proving that
 * [files] entries (and identity certificates) reach the workload through its preopened
 * directories.  Exits 3 if the file cannot be opened.
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: read-file <path> [<path>...]\n");
    return 2;
  }
  for (int a = 1; a < argc; a++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", argv[a]);
    DIR *d = opendir(dirname(dir));
    if (d) {
      struct dirent *e;
      printf("dir:");
      while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') printf(" %s", e->d_name);
      }
      printf("\n");
      closedir(d);
    }
    FILE *f = fopen(argv[a], "r");
    if (!f) {
      fprintf(stderr, "read-file: %s: %s\n", argv[a], strerror(errno));
      return 3;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    FILE *w = fopen(argv[a], "w");
    printf("\nwrite-open: %s\n", w ? "allowed" : strerror(errno));
  }
  return 0;
}
