#include "base/release.h"

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

static void release_run(uv_work_t *req)
{
    struct release_work *w = req->data;
    w->release(w->p);
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

void heap_trim(void)
{
    malloc_trim(0);
}
