/*
 * Keep example for writable in-memory directories (keep.toml `dirs = ["/tmp"]`): creates, writes,
 * reads back, renames and removes files under /tmp, then (with argv[1] = MiB) writes until the
 * scratch quota refuses with ENOSPC.  Exits 0 when everything behaved, 1 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what) {
  printf("FAIL %s: %s\n", what, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  FILE *f = fopen("/tmp/note.txt", "w");
  if (!f) return fail("create");
  fprintf(f, "written inside the keep\n");
  fclose(f);
  f = fopen("/tmp/note.txt", "a");
  if (!f) return fail("append");
  fprintf(f, "appended\n");
  fclose(f);
  if (mkdir("/tmp/sub", 0700) != 0) return fail("mkdir");
  if (rename("/tmp/note.txt", "/tmp/sub/moved.txt") != 0) return fail("rename");
  char buf[128] = {0};
  f = fopen("/tmp/sub/moved.txt", "r");
  if (!f) return fail("reopen");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  printf("read %zu bytes: %s", n, buf);
  DIR *d = opendir("/tmp/sub");
  struct dirent *e;
  printf("ls /tmp/sub:");
  while (d && (e = readdir(d)) != NULL) if (e->d_name[0] != '.') printf(" %s", e->d_name);
  printf("\n");
  if (d) closedir(d);
  if (unlink("/tmp/sub/moved.txt") != 0) return fail("unlink");
  if (rmdir("/tmp/sub") != 0) return fail("rmdir");
  struct stat st;
  printf("after cleanup: %s\n", stat("/tmp/sub", &st) == 0 ? "still there" : strerror(errno));
  if (argc > 1) {
    long mib = atol(argv[1]);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    f = fopen("/tmp/big", "w");
    if (!f) return fail("big");
    setvbuf(f, NULL, _IONBF, 0);
    long written = 0;
    while (written < mib * (1 << 20)) {
      if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk) {
        printf("stopped after %ld KiB: %s\n", written >> 10, strerror(errno));
        fclose(f);
        return 0;
      }
      written += sizeof chunk;
    }
    printf("wrote %ld MiB\n", written >> 20);
    fclose(f);
  }
  return 0;
}
