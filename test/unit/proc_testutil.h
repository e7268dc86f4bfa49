/* Process helpers shared by unit tests that start children (header only). */
#ifndef QGAD_TEST_PROC_TESTUTIL_H
#define QGAD_TEST_PROC_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* pid is gone, or dead and not yet reaped (/proc/<pid>/stat state Z or X). */
static inline bool testutil_process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
}

#endif
