/* What every fuzz harness shares: the libFuzzer entry point (also called by replay_main.c
 * in builds without clang) and a check that stops loudly, so that both libFuzzer and a
 * plain replay report the input that broke an invariant. */
#ifndef QGAD_TEST_FUZZ_H
#define QGAD_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, what);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#include <yajl/yajl_tree.h>

/* Checks that buf is one reply line as the encoder promises: optionally the 0xFF of
 * guest-sync-delimited, then printable ASCII JSON, then "\n" and nothing else. Returns
 * the parsed line (the caller frees it with yajl_tree_free). */
yajl_val fuzz_check_reply(const char *buf, size_t len, int *delimited);

#endif
