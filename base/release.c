/* Freeing big things in the threadpool, and giving the heap back to the kernel there.
 * Both are counted, so the loop-stall check can tell their hold on the allocator. */
#include "base/release.h"

#include <stdatomic.h>
#include <stdbool.h>

#include <malloc.h>
#include <stdlib.h>
#include <uv.h>

#include "base/loopmon.h"
#include "base/xalloc.h"

struct release_work {
    uv_work_t req;
    void (*release)(void *);
    void *p;
};

static atomic_uint heavy_started, heavy_finished; /* frees and trims in the pool */

static void release_run(uv_work_t *req)
{
    struct release_work *w = req->data;
    atomic_fetch_add(&heavy_started, 1);
    w->release(w->p);
    atomic_fetch_add(&heavy_finished, 1);
}

static void release_done(uv_work_t *req, int status)
{
    loopmon_mark("release done");
    free(req->data);
    loopmon_mark(NULL);
}

void release_in_pool(void (*release)(void *), void *p)
{
    struct release_work *w = xmalloc(sizeof(*w));
    w->req.data = w;
    w->release = release;
    w->p = p;
    if (uv_queue_work(uv_default_loop(), &w->req, release_run, release_done) < 0) {
        free(w);
        release(p);
    }
}

static atomic_flag trim_running = ATOMIC_FLAG_INIT;
static atomic_bool trim_again; /* asked for while one ran: it runs once more */

void heap_trim(void)
{
    /* one at a time: a second thread's trim would only wait for the lock and redo it;
     * instead the running one goes again, so what was freed meanwhile is given back too */
    atomic_store(&trim_again, true);
    /* a request made just as the runner let go is seen here, after its clear */
    while (atomic_load(&trim_again) && !atomic_flag_test_and_set(&trim_running)) {
        while (atomic_exchange(&trim_again, false)) {
            atomic_fetch_add(&heavy_started, 1);
            malloc_trim(0);
            atomic_fetch_add(&heavy_finished, 1);
        }
        atomic_flag_clear(&trim_running);
    }
}

void release_activity(unsigned *started, unsigned *finished)
{
    *finished = atomic_load(&heavy_finished);
    *started = atomic_load(&heavy_started);
}
