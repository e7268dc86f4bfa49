/* Transports move bytes; they never parse JSON. A channel is what -m/-p (or a socket
 * from systemd) names: a device stream (virtio-serial, isa-serial) that carries one
 * connection at a time, or a listener (unix-listen, vsock-listen, tcp-listen) that
 * accepts several. Each connection gets its own session from the events below. */
#ifndef QGAD_TRANSPORT_TRANSPORT_H
#define QGAD_TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct transport_conn;
struct transport_channel;

struct transport_events {
    /* A connection started (a client was accepted, the host opened the port). Returns
     * the per-connection context handed to data(), eof() and close(). */
    void *(*open)(struct transport_conn *conn, void *user);
    void (*data)(void *conn_ctx, const char *buf, size_t len);
    /* Listeners: the peer shut down its sending side (EOF on a socket). No data() follows;
     * the connection stays open for writes until transport_close(), an error, the write
     * queue cap or QGAD_HALF_CLOSE_DRAIN_MS after the EOF. NULL: EOF ends the connection.
     * Devices never call it: their EOF/HUP is a state of the port (chardev.c). */
    void (*eof)(void *conn_ctx);
    /* The connection ended (EOF, HUP, error, reset): conn must not be used again. */
    void (*close)(void *conn_ctx);
    void *user;
};

struct transport_opts {
    const char *method;   /* virtio-serial, isa-serial, unix-listen, vsock-listen, tcp-listen */
    const char *path;     /* NULL: the method's default, if it has one */
    bool retry_path;      /* -r: keep retrying a channel that cannot be opened */
    unsigned max_clients; /* listeners: connections served at once */
    const uint32_t *vsock_allow_cids; /* vsock: peers accepted; NULL/0 -> host only (CID 2);
                                       * an entry 4294967295 (VMADDR_CID_ANY) accepts all */
    size_t n_vsock_allow_cids;
    int activated_fd; /* >= 0: a listening socket from systemd (LISTEN_FDS) */
    /* listeners: a connection with no complete request for idle_timeout_ms (and none in
     * flight) is closed, and one whose partial message is not complete partial_timeout_ms
     * after its first byte; 0 = never. Devices never time out. */
    unsigned idle_timeout_ms;
    unsigned partial_timeout_ms;
};

/* Methods this build knows, for validation and help text. */
bool transport_method_known(const char *method);
const char *transport_default_path(const char *method); /* NULL if none */

/* Opens the channel; returns 0 or -errno (message already logged). */
int transport_channel_open(const struct transport_opts *opts, const struct transport_events *ev,
                           struct transport_channel **out);
/* Close events of all its connections fire before it returns (so never call it from a
 * data() callback); the handles finish closing on the loop (run it once more). */
void transport_channel_close(struct transport_channel *ch);
/* The process forked and carries on in the child (-d, after uv_loop_fork): signal-driven
 * I/O armed before the fork (SIGIO owner) is pointed at this process again. */
void transport_channel_after_fork(struct transport_channel *ch);

/* Queue bytes on a connection (takes ownership of buf). Past QGAD_MAX_WRITE_QUEUE_BYTES
 * unsent, the connection is dropped (close event follows). */
void transport_write(struct transport_conn *conn, char *buf, size_t len);
/* Close the connection once everything queued on it has been written (a half-closed
 * peer got all its replies): no more writes; the close event follows. */
void transport_close(struct transport_conn *conn);
/* Stop (true) or resume (false) reading the connection: the session above has too much
 * work pending. Bytes already read are still delivered. */
void transport_pause(struct transport_conn *conn, bool paused);
/* The slot policy (listeners; devices keep the values unused). The layer above says what
 * the connection is doing, since the transport does not parse: busy while a request is in
 * flight (its reply not yet written; a busy connection is never evicted or timed out),
 * partial while part of a message is buffered (the partial timeout runs from the call that
 * set it), and progress when a complete request arrived or a reply was written. */
void transport_set_busy(struct transport_conn *conn, bool busy);
void transport_set_partial(struct transport_conn *conn, bool partial);
void transport_progress(struct transport_conn *conn);
/* A short description for logs ("unix:/run/x.sock#3", "virtio-serial"). */
const char *transport_conn_name(const struct transport_conn *conn);

/* systemd socket activation (LISTEN_PID/LISTEN_FDS): returns the fd (3) and sets *method
 * from the socket family, -1 if not activated, or a negative errno on a fatal mismatch. */
int transport_activation_fd(const char **method);

#endif
