/* The byte-level splitter in front of yajl. Bytes are translated into `out` and handed to
 * the parser at the end of each read and at the end of each message, but never in the
 * middle of a token: yajl's lexer rescans a token that spans two yajl_parse() calls from
 * its start on every call, which would make a 64 MiB string quadratic. Long plain strings
 * skip yajl altogether (take_big_string). */
#include "protocol/wire/framer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/limits.h"
#include "base/xalloc.h"
#include "protocol/wire/encoder.h"
#include "protocol/wire/parser.h"

/* Upstream renders the 0xFF it stumbles over as U+FFFD; the encoder prints \uFFFD. */
#define ERR_STRAY_RESYNC "JSON parse error, stray '\xEF\xBF\xBD'"
#define ERR_EXPECTING_VALUE "JSON parse error, expecting value"
#define ERR_TOKEN_SIZE "JSON token size limit exceeded"
#define ERR_TOKEN_COUNT "JSON token count limit exceeded"
#define ERR_NESTING "JSON nesting depth limit exceeded"
#define ERR_INPUT_TOTAL "JSON parse error, input buffer limit exceeded"
#define KEYWORD_SHOWN 64       /* bytes of a bad keyword quoted in its error */
#define OUT_KEEP (64u << 10)   /* a bigger buffer is released when its message ends */
#define BIG_STRING (64u << 10) /* a plain string this long bypasses yajl (take_big_string) */

enum lex_state { LX_VALUE, LX_DQ, LX_DQ_ESC, LX_SQ, LX_SQ_ESC, LX_SCALAR };

struct proto_framer {
    struct proto_framer_events ev;
    struct proto_parser *parser;
    enum lex_state state;
    bool in_msg;  /* a token of the current message was seen */
    bool discard; /* its error was reported: skip to its end, buffering nothing */
    bool stopped; /* a callback asked to stop */
    size_t depth; /* {} plus [] nesting */
    size_t tokens;
    size_t bytes;     /* message bytes so far (whitespace between tokens excluded) */
    size_t accounted; /* of those, the part added to buffered_total */
    size_t limit;     /* more bytes than this hit the message or the global cap */
    struct buf out;   /* translated bytes not yet parsed */
    size_t tok;       /* start of the incomplete token held back in out */
    size_t strings;   /* string tokens of this message so far */
    bool plain;       /* the current string is printable ASCII without escapes */
};

static size_t buffered_total; /* loop thread only */

size_t proto_framer_buffered_total(void)
{
    return buffered_total;
}

static void set_limit(struct proto_framer *f)
{
    size_t total_limit = f->accounted + (QGAD_MAX_INPUT_TOTAL_BYTES - buffered_total);
    f->limit = total_limit < QGAD_MAX_MESSAGE_BYTES ? total_limit : QGAD_MAX_MESSAGE_BYTES;
}

static void account(struct proto_framer *f)
{
    buffered_total += f->bytes - f->accounted;
    f->accounted = f->bytes;
}

static void emit(struct proto_framer *f, char c)
{
    if (f->discard)
        return;
    buf_reserve(&f->out, 1);
    f->out.data[f->out.len++] = c;
    f->bytes++;
}

static void emit_run(struct proto_framer *f, const unsigned char *p, size_t n)
{
    if (f->discard || n == 0)
        return;
    buf_put(&f->out, (const char *)p, n);
    f->bytes += n;
}

/* Forgets the buffered bytes of the current message but not where the lexer is. */
static void drop_partial(struct proto_framer *f)
{
    buffered_total -= f->accounted;
    f->accounted = f->bytes = 0;
    f->out.len = f->tok = 0;
    if (f->out.cap > OUT_KEEP)
        buf_release(&f->out);
    proto_parser_reset(f->parser);
    set_limit(f);
}

static void message_reset(struct proto_framer *f)
{
    drop_partial(f);
    f->state = LX_VALUE;
    f->depth = 0;
    f->tokens = 0;
    f->strings = 0;
    f->in_msg = false;
    f->discard = false;
}

static void report(struct proto_framer *f, bool go)
{
    if (!go)
        f->stopped = true;
}

/* One error per message; the rest of it is skipped. */
static void fail(struct proto_framer *f, const char *desc)
{
    if (f->discard)
        return;
    report(f, f->ev.error(f->ev.ctx, desc));
    drop_partial(f);
    f->discard = true;
    if (f->depth == 0 && f->state == LX_VALUE)
        message_reset(f);
}

static void message_end(struct proto_framer *f)
{
    if (!f->discard) {
        yajl_val v = NULL;
        if (proto_parser_feed(f->parser, f->out.data, f->out.len) == 0)
            v = proto_parser_finish(f->parser);
        if (v)
            report(f, f->ev.message(f->ev.ctx, v));
        else
            report(f, f->ev.error(f->ev.ctx, proto_parser_error(f->parser)));
    }
    message_reset(f);
}

/* Parses what is complete so far, keeping a token that is still open. */
static void flush_partial(struct proto_framer *f)
{
    if (f->discard || f->out.len == 0)
        return;
    size_t upto = f->state == LX_VALUE ? f->out.len : f->tok;
    if (upto) {
        if (proto_parser_feed(f->parser, f->out.data, upto) < 0) {
            fail(f, proto_parser_error(f->parser));
            return;
        }
        memmove(f->out.data, f->out.data + upto, f->out.len - upto);
        f->out.len -= upto;
        f->tok = 0;
    }
    account(f);
}

static bool token_start(struct proto_framer *f)
{
    f->in_msg = true;
    if (f->discard)
        return false;
    if (++f->tokens > QGAD_MAX_MESSAGE_TOKENS) {
        fail(f, ERR_TOKEN_COUNT);
        return false;
    }
    return true;
}

static void lex_value(struct proto_framer *f, unsigned char c)
{
    switch (c) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
        return;
    case '{':
    case '[':
        f->depth++;
        emit(f, (char)c);
        if (token_start(f) && f->depth > QGAD_MAX_NESTING)
            fail(f, ERR_NESTING);
        return;
    case '}':
    case ']':
    case ',':
    case ':':
        if (f->depth == 0) { /* upstream parses the lone token and expects a value */
            f->in_msg = true;
            fail(f, ERR_EXPECTING_VALUE);
            return;
        }
        emit(f, (char)c);
        token_start(f);
        if (c == '}' || c == ']') {
            if (--f->depth == 0)
                message_end(f);
        }
        return;
    default:
        f->state = c == '"' ? LX_DQ : c == '\'' ? LX_SQ : LX_SCALAR;
        token_start(f);
        f->tok = f->out.len;
        emit(f, f->state == LX_SCALAR ? (char)c : '"');
        if (f->state != LX_SCALAR) {
            f->strings++;
            f->plain = true;
        }
        return;
    }
}

/* Printable ASCII but the quotes and the backslash: what a string run copies as is (a
 * table: this loop sees every payload byte). */
static const bool sq_plain[256] = {
    [0x20 ... 0x21] = true, [0x23 ... 0x26] = true, [0x28 ... 0x5B] = true, [0x5D ... 0x7E] = true};

/* A long string of plain ASCII (base64 payloads) needs no decoding: its bytes become the
 * parser's string as they are, and yajl sees "" in its place. So the closing quote of a
 * 64 MiB guest-file-write costs the loop neither yajl's rescan nor another copy. */
static bool take_big_string(struct proto_framer *f)
{
    size_t start = f->tok + 1, n = f->out.len - start;
    if (f->discard || !f->plain || n < BIG_STRING)
        return false;
    struct buf rest = {0}; /* the message before the string, if not parsed yet */
    buf_put(&rest, f->out.data, f->tok);
    char *str = f->out.data;
    memmove(str, str + start, n);
    str[n] = '\0'; /* fits: the opening quote is gone */
    proto_parser_substitute(f->parser, f->strings - 1, xrealloc(str, n + 1));
    f->out = rest;
    buf_put(&f->out, "\"\"", 2);
    return true;
}

static void string_end(struct proto_framer *f)
{
    if (!take_big_string(f))
        emit(f, '"');
    f->state = LX_VALUE;
    if (f->depth == 0)
        message_end(f);
}

/* Inside a string: copies the plain run, then handles one other byte. */
static const unsigned char *lex_string(struct proto_framer *f, const unsigned char *p,
                                       const unsigned char *end)
{
    bool sq = f->state == LX_SQ;
    const unsigned char *run = p;
    size_t room = f->bytes <= f->limit ? f->limit + 1 - f->bytes : 1; /* not past a cap */
    if ((size_t)(end - p) > room)
        end = p + room;

    const bool *plain = sq ? sq_plain : proto_plain_byte;
    while (p < end && plain[*p])
        p++;
    emit_run(f, run, (size_t)(p - run));
    if (p == end || *p >= 0xFE)
        return p; /* resync is the caller's */

    unsigned char c = *p++;
    if (c == (sq ? '\'' : '"')) {
        string_end(f);
        return p;
    }
    f->plain = false;
    if (c == '\\') {
        f->state = sq ? LX_SQ_ESC : LX_DQ_ESC;
    } else if (c == '"') { /* inside single quotes */
        emit(f, '\\');
        emit(f, '"');
    } else {
        emit(f, (char)c);
    }
    return p;
}

/* \' becomes ' (yajl does not know it); any other escape is yajl's to check. */
static void lex_escape(struct proto_framer *f, unsigned char c)
{
    if (c != '\'')
        emit(f, '\\');
    emit(f, (char)c);
    f->state = f->state == LX_SQ_ESC ? LX_SQ : LX_DQ;
}

static bool is_delimiter(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '{' || c == '}' || c == '[' ||
           c == ']' || c == ',' || c == ':' || c == '"' || c == '\'';
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* yajl only says "invalid string"; upstream names the keyword. */
static bool keyword_ok(struct proto_framer *f)
{
    const char *t = f->out.data + f->tok;
    size_t n = f->out.len - f->tok;
    char desc[128];

    if (!is_letter(t[0]) || (n == 4 && memcmp(t, "true", 4) == 0) ||
        (n == 5 && memcmp(t, "false", 5) == 0) || (n == 4 && memcmp(t, "null", 4) == 0))
        return true;
    snprintf(desc, sizeof(desc), "JSON parse error, invalid keyword '%.*s'",
             (int)(n < KEYWORD_SHOWN ? n : KEYWORD_SHOWN), t);
    fail(f, desc);
    return false;
}

static void scalar_end(struct proto_framer *f, unsigned char delimiter)
{
    f->state = LX_VALUE;
    if (!f->discard) {
        if (!keyword_ok(f))
            return;
        if (delimiter == ' ' || delimiter == '\t' || delimiter == '\n' || delimiter == '\r')
            emit(f, ' '); /* lets yajl end a number now instead of at the next read */
    }
    if (f->depth == 0)
        message_end(f);
}

/* 0xFF/0xFE: the client's resync. Only a message in progress earns an error reply. */
static void resync(struct proto_framer *f)
{
    if (f->in_msg && !f->discard)
        report(f, f->ev.error(f->ev.ctx, ERR_STRAY_RESYNC));
    message_reset(f);
}

bool proto_framer_feed(struct proto_framer *f, const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;

    set_limit(f);
    while (p < end && !f->stopped) {
        unsigned char c = *p;
        if (c >= 0xFE) {
            resync(f);
            p++;
            continue;
        }
        switch (f->state) {
        case LX_DQ:
        case LX_SQ:
            p = lex_string(f, p, end);
            break;
        case LX_DQ_ESC:
        case LX_SQ_ESC:
            lex_escape(f, c);
            p++;
            break;
        case LX_SCALAR:
            if (is_delimiter(c)) {
                scalar_end(f, c); /* the delimiter itself is lexed next */
            } else {
                emit(f, (char)c);
                p++;
            }
            break;
        case LX_VALUE:
            lex_value(f, c);
            p++;
            break;
        }
        if (f->bytes > f->limit)
            fail(f, f->bytes > QGAD_MAX_MESSAGE_BYTES ? ERR_TOKEN_SIZE : ERR_INPUT_TOTAL);
    }
    if (!f->stopped)
        flush_partial(f);
    return !f->stopped;
}

size_t proto_framer_message_bytes(const struct proto_framer *f)
{
    return f->bytes;
}

struct proto_framer *proto_framer_new(const struct proto_framer_events *ev)
{
    struct proto_framer *f = xcalloc(1, sizeof(*f));
    f->ev = *ev;
    f->parser = proto_parser_new();
    set_limit(f);
    return f;
}

void proto_framer_free(struct proto_framer *f)
{
    if (!f)
        return;
    drop_partial(f);
    proto_parser_free(f->parser);
    buf_release(&f->out);
    free(f);
}
