/* Freeing big things off the loop: returning tens of MiB to the kernel (munmap of every
 * touched page) takes milliseconds, which the loop thread must not spend. */
#ifndef QGAD_BASE_RELEASE_H
#define QGAD_BASE_RELEASE_H

/* Runs release(p) on a threadpool thread (on the calling thread if the pool refuses). */
void release_in_pool(void (*release)(void *), void *p);

/* Give the heap's free memory back to the kernel (glibc keeps freed small chunks). Call it
 * from a pool thread after freeing something with very many nodes. */
void heap_trim(void);
/* Counts the pool's frees (release_in_pool) and trims, started and finished: while one
 * runs it holds the allocator's arena lock often or long (malloc_trim: milliseconds for
 * a big heap), so the loop's own allocations wait for it. */
void release_activity(unsigned *started, unsigned *finished);

#endif
