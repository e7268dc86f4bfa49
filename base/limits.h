/* Every cap a host can push against, in one place (DESIGN.md "Bounded everything"). */
#ifndef QGAD_BASE_LIMITS_H
#define QGAD_BASE_LIMITS_H

/* protocol: per message, as upstream's json-streamer/json-lexer */
#define QGAD_MAX_MESSAGE_BYTES (64u << 20) /* "JSON token size limit exceeded" */
#define QGAD_MAX_MESSAGE_TOKENS (2u << 20) /* "JSON token count limit exceeded" */
#define QGAD_MAX_NESTING 1024              /* "JSON nesting depth limit exceeded" */
/* protocol: partial-message bytes buffered, as a per-session share (protocol/wire/framer.h).
 * Every session may always buffer QGAD_INPUT_SESSION_MIN bytes of its own (more than any
 * ordinary request, 0xFF + guest-sync-delimited included); what a session buffers beyond
 * that comes from one pool of QGAD_MAX_INPUT_TOTAL_BYTES shared first come, first served,
 * so two sessions can each hold one full 64 MiB message and a third is still served. The
 * minimum is outside the pool, so a session that connects after the pool filled up gets
 * it too: at most QGAD_MAX_INPUT_TOTAL_BYTES + QGAD_INPUT_SESSION_MIN per live session (its
 * count capped by max-clients) are buffered. Past its share, a message gets "input buffer
 * limit exceeded", its input is dropped and the session goes on with the next one. */
#define QGAD_MAX_INPUT_TOTAL_BYTES (128u << 20)
#define QGAD_INPUT_SESSION_MIN (1u << 20)
/* protocol: requests of one session still waiting to be written (running, or done behind
 * a slower one), counted and weighed by message plus reply bytes; past either cap the
 * session stops reading its stream until half of it has drained */
#define QGAD_MAX_PENDING_REQUESTS 4096
#define QGAD_MAX_PENDING_BYTES (160u << 20)

/* transport */
#define QGAD_DEFAULT_MAX_CLIENTS 16 /* per listener; config max-clients */
/* Listener slots are never held hostage (transport/slots.c); devices never time out. A
 * message must complete this long after its first byte (config partial-timeout, seconds):
 * 30 s lets even a 64 MiB request arrive at ~2 MiB/s, and eviction already keeps silent
 * clients from locking the host out, so it need not be tight. */
#define QGAD_PARTIAL_TIMEOUT_MS 30000
/* A connection with no request (and none in flight) this long is closed (config
 * idle-timeout, seconds): 10 min is longer than any plausible poll interval of a client that
 * keeps its connection open (qemu-ga never closes one), while Proxmox and KubeVirt open one
 * per command; past it the slot only serves a leaked or hostile connection. */
#define QGAD_IDLE_TIMEOUT_MS 600000
#define QGAD_MAX_WRITE_QUEUE_BYTES (160u << 20) /* unsent reply bytes; one 48 MiB read fits */
/* charged per queued reply against the write queue: its write request, bookkeeping and
 * allocator headers */
#define QGAD_WRITE_BUFFER_OVERHEAD 256
#define QGAD_READ_CHUNK 4096
/* a listener client that shut down its sending side (printf ... | socat) still gets the
 * replies to what it sent; it is closed once they are written, or this long after its EOF */
#define QGAD_HALF_CLOSE_DRAIN_MS 30000
#define QGAD_RETRY_PATH_MS 5000             /* -r: reopen interval, as upstream */
#define QGAD_POOL_FREE_BYTES (1u << 20)     /* larger buffers are freed off the loop */
#define QGAD_POOL_ENCODE_BYTES (256u << 10) /* larger results are encoded off the loop */
#define QGAD_POOL_FREE_VALUES 65536         /* bigger partial requests are freed off it */

/* commands */
#define QGAD_MAX_READ_COUNT (48u << 20) /* guest-file-read count */
#define QGAD_DEFAULT_MAX_FILE_HANDLES 256
#define QGAD_DEFAULT_MAX_EXEC_PROCESSES 128
#define QGAD_EXEC_STREAM_CAP (16u << 20) /* per captured stream, as upstream */
#define QGAD_DEFAULT_EXEC_OUTPUT_TOTAL (256u << 20)
#define QGAD_EXEC_MAX_WAIT_MS 600000 /* guest-exec-status __org.qgad_wait, clamped */
#define QGAD_EXEC_MAX_WAITERS 64     /* exec-status calls waiting at once */

/* agent */
#define QGAD_LOG_RING_BYTES (256u << 10) /* log kept in memory while frozen */
/* log rate limit (base/log.h): a token bucket per class of lines, refilled continuously.
 * Ordinary lines: debug/info/message share one bucket, warning/error/critical another, so
 * a flood of debug lines never hides an error. A line is at most ~1.3 KiB (log_str caps
 * host text), so a class writes at most ~65 KiB/s sustained. */
#define QGAD_LOG_BURST 200  /* lines written at once before the limit bites */
#define QGAD_LOG_PER_SEC 50 /* lines per second after that */
/* audit lines (log_audit: one per guest-exec or guest-file-open) have their own, larger
 * bucket; what it drops is counted in the log and in syslog */
#define QGAD_LOG_AUDIT_BURST 1000
#define QGAD_LOG_AUDIT_PER_SEC 20
/* while lines are dropped, their count is written at most this often per class */
#define QGAD_LOG_SUPPRESSED_REPORT_MS 1000

#endif
