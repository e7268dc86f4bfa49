/* Private to transport/ (transport.h is the API): the kinds of channel, the per-kind backend
 * vtables and the registry row (as curl's vtls), and the plumbing the files share.
 *
 * Two kinds: listener.c serves every stream-socket backend (unix, vsock, tcp), chardev.c
 * the device backends (virtio-serial, isa-serial). A backend file fills one ops struct of
 * its kind and one registry row; it returns 0/fd or -errno and never logs: the kind that
 * called it logs once, with the context. Private functions, objects and constants are
 * transport__* (types keep their struct transport_* tags). */
#ifndef QGAD_TRANSPORT_INTERNAL_H
#define QGAD_TRANSPORT_INTERNAL_H

#include "transport/transport.h"

#include <sys/socket.h>
#include <uv.h>

#include "base/log.h"

/* A kind of channel: how one opens, closes and carries on after -d forks. */
struct transport_kind {
    /* Open the channel (listen, open the device); 0 or -errno, logged here. */
    int (*start)(struct transport_channel *ch);
    /* The channel closes: stop accepting or reading, undo what start left behind. */
    void (*stop)(struct transport_channel *ch);
    /* The process forked and carries on in the child (transport_channel_after_fork). */
    void (*after_fork)(struct transport_channel *ch);
};

extern const struct transport_kind transport__listener_kind; /* listener.c */
extern const struct transport_kind transport__device_kind;   /* chardev.c */

/* Listener backends. *note is a static text for the log, or left NULL. */
struct transport_listener_ops {
    /* A bound, listening, non-blocking, close-on-exec socket for ch->path: the fd or -errno.
     * *note: on failure a cause more precise than the errno ("invalid address ..."), on
     * success a warning about the socket. */
    int (*listen_fd)(struct transport_channel *ch, const char **note);
    /* Vet an accepted peer: 0 accepts, -errno rejects (*note: why). Writes a short peer
     * description into desc either way, if it can. */
    int (*vet_peer)(struct transport_channel *ch, int fd, char *desc, size_t desc_len,
                    const char **note);
    /* Optional: undo what listen_fd left in the file system (the unix socket file). */
    void (*cleanup)(struct transport_channel *ch);
};

/* Device backends. */
struct transport_device_ops {
    /* Open and configure the device: the fd or -errno. */
    int (*open_dev)(struct transport_channel *ch);
    /* True when a hangup is a state of the port that ends by itself (virtio: the host
     * closed its side; SIGIO tells when it reopens; the session carries on); false when
     * the open file is dead after a hangup (a tty): the session ends and the device is
     * reopened. */
    bool hup_is_transient;
};

/* One registry row: the method, its default path, its kind and that kind's ops. */
struct transport_backend {
    const char *method;
    const char *default_path; /* NULL: -p is required */
    const struct transport_kind *kind;
    union { /* the member named by kind */
        const struct transport_listener_ops *listener;
        const struct transport_device_ops *device;
    } ops;
};

extern const struct transport_backend transport__virtio_serial;
extern const struct transport_backend transport__isa_serial;
extern const struct transport_backend transport__unix;
extern const struct transport_backend transport__vsock;
extern const struct transport_backend transport__tcp;

struct transport_listener;
struct transport_chardev;

struct transport_channel {
    const struct transport_backend *be;
    struct transport_events ev;
    char *path; /* owned; NULL only for an activated socket */
    bool retry_path;
    unsigned max_clients;
    uint32_t *allow_cids; /* owned; vsock peers accepted */
    size_t n_allow_cids;
    int activated_fd;
    unsigned half_close_ms; /* QGAD_HALF_CLOSE_DRAIN_MS (unit tests shorten it) */
    unsigned idle_ms;       /* listeners: slot policy (slots.c); 0 = off */
    unsigned partial_ms;
    bool closing;
    bool retrying; /* -r: failed opens are expected, log them at debug level */
    unsigned next_conn_id;
    struct transport_conn *conns; /* every live connection (close event not yet fired) */
    unsigned n_conns;
    unsigned n_ending;       /* of those, shutting down: their slot is being freed */
    uv_timer_t *sweep_timer; /* listeners: the slot policy's timeouts (slots.c) */
    uv_timer_t *retry_timer; /* -r: reopen attempts; NULL when not retrying */
    struct transport_listener *listener;
    struct transport_chardev *dev;
    void *backend_data; /* per-backend state (unix: the socket file identity) */
};

/* One connection as the layers above see it. Kinds embed it first in their own struct and
 * supply the ops. The close event is always fired from a libuv close callback (or by
 * transport_channel_close), never inside data() or transport_write(), so a session is
 * never freed under its own feet. */
struct transport_conn_ops {
    /* Queue an owned buffer (the cap has already been checked). */
    void (*write)(struct transport_conn *conn, char *buf, size_t len);
    /* Stop all I/O and start closing the kind's handles; their close callback must call
     * transport__conn_release() and then free the container. */
    void (*shutdown)(struct transport_conn *conn);
    /* Stop or restart reading (conn->paused already says which). */
    void (*pause)(struct transport_conn *conn);
    /* Optional: end the connection once every queued byte is written (transport_close);
     * without it the connection ends at once. */
    void (*close_written)(struct transport_conn *conn);
};

struct transport_conn {
    struct transport_channel *ch;
    const struct transport_conn_ops *ops;
    void *ctx;
    char *name;
    size_t queued;    /* bytes handed to write() and not yet written, plus
                         QGAD_WRITE_BUFFER_OVERHEAD per queued buffer */
    bool ending;      /* shutdown started */
    bool paused;      /* reading stopped by transport_pause() */
    bool input_ended; /* the peer shut down its sending side; eof() fired */
    bool draining;    /* transport_close(): ends once the queue is written */
    bool close_fired; /* events.close() done */
    /* The slot policy (slots.c), as the layer above reports it (transport_set_busy...). */
    bool busy;            /* a request is in flight */
    bool partial;         /* part of a message is buffered, since partial_since */
    uint64_t progress_at; /* uv_now of the last complete request or reply (or the accept) */
    uint64_t partial_since;
    struct transport_conn *prev, *next;
};

/* conn.c: the connection life cycle shared by both kinds. Takes ownership of name. */
void transport__conn_start(struct transport_channel *ch, struct transport_conn *conn,
                           const struct transport_conn_ops *ops, char *name);
/* Deliver bytes read from the stream (no-op once the connection is ending). */
void transport__conn_data(struct transport_conn *conn, const char *buf, size_t len);
/* The peer shut down its sending side: fire eof() (the kind stopped reading), or end the
 * connection if the layer above has no eof(). */
void transport__conn_eof(struct transport_conn *conn);
/* End the connection (EOF, error, hangup, cap); the close event follows from a callback. */
void transport__conn_end(struct transport_conn *conn);
/* The kind's handles are closed: fire the close event if still due, unlink. */
void transport__conn_release(struct transport_conn *conn);
/* Account a write completion (or a discarded buffer) of len bytes. */
void transport__conn_written(struct transport_conn *conn, size_t len);
/* A queued buffer is written or discarded (its bytes already accounted with
 * transport__conn_written): release its bookkeeping share of the cap and free it. */
void transport__conn_buf_done(struct transport_conn *conn, char *buf, size_t len);
/* Free a written or discarded reply buffer. Returning a large one to the kernel takes
 * milliseconds (munmap of every touched page), so that happens in the threadpool. */
void transport__buf_free(char *buf, size_t len);

/* slots.c: the slot policy of listeners (DESIGN.md "Bounded everything"). */
/* A client was accepted: true if it may have a slot, after evicting the connection without a
 * request in flight that has made no progress for longest if all are taken. */
bool transport__slots_admit(struct transport_channel *ch, const char *peer);
/* A connection started or ended: the sweep timer runs while connections are open. */
void transport__slots_update(struct transport_channel *ch);
/* The channel closes: free the timer. */
void transport__slots_stop(struct transport_channel *ch);

/* transport.c */
/* The registry row of a method; NULL if unknown. */
const struct transport_backend *transport__backend_find(const char *method);

/* A failure to open the channel: an error, or a debug line while -r keeps retrying. */
#define transport__open_error(ch, ...)                                                             \
    log_emit((ch)->retrying ? LOG_LVL_DEBUG : LOG_LVL_ERROR, __VA_ARGS__)
/* Reopen the channel after QGAD_RETRY_PATH_MS (and again until it works). */
void transport__channel_retry(struct transport_channel *ch);

/* Helpers for backends; 0 or -errno. */
int transport__sock_listen(int fd, const struct sockaddr *sa, socklen_t len);
int transport__parse_vsock_addr(const char *s, uint32_t *cid, uint32_t *port);
int transport__parse_host_port(const char *s, char **host, char **port);
bool transport__vsock_cid_allowed(const struct transport_channel *ch, uint32_t cid);
/* isa-serial: raw termios exactly as upstream (PROTOCOL.md 4.1). */
int transport__tty_make_raw(int fd);

#define TRANSPORT__VSOCK_HOST_CID 2u
#define TRANSPORT__VSOCK_ANY_CID 4294967295u

#endif
