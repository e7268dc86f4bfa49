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
#include "base/release.h"
#include "base/xalloc.h"
#include "protocol/wire/encoder.h"
#include "protocol/wire/parser.h"
#include "protocol/wire/utf8.h"

/* Upstream renders the 0xFF it stumbles over as U+FFFD; the encoder prints \uFFFD. */
#define ERR_STRAY_RESYNC "JSON parse error, stray '\xEF\xBF\xBD'"
#define ERR_EXPECTING_VALUE "JSON parse error, expecting value"
#define ERR_TOKEN_SIZE "JSON token size limit exceeded"
#define ERR_TOKEN_COUNT "JSON token count limit exceeded"
#define ERR_NESTING "JSON nesting depth limit exceeded"
#define ERR_INPUT_TOTAL "JSON parse error, input buffer limit exceeded"
#define ERR_UTF8 "JSON parse error, invalid UTF-8 sequence in string"
#define KEYWORD_SHOWN 64       /* bytes of a bad keyword quoted in its error */
#define OUT_KEEP (64u << 10)   /* a bigger buffer is released when its message ends */
#define BIG_STRING (64u << 10) /* a plain string this long bypasses yajl (take_big_string) */

enum lex_state { LX_VALUE, LX_DQ, LX_DQ_ESC, LX_DQ_HEX, LX_SQ, LX_SQ_ESC, LX_SQ_HEX, LX_SCALAR };

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
    size_t limit;     /* more bytes than this hit the message cap or the input share */
    struct buf out;   /* translated bytes not yet parsed */
    size_t tok;       /* start of the incomplete token held back in out */
    size_t strings;   /* string tokens of this message so far */
    bool plain;       /* the current string is printable ASCII without escapes */
    /* Strict UTF-8 (utf8.h) of the current string, raw and escaped; see lex_string. */
    struct utf8_dec u8; /* a raw multi-byte sequence in progress */
    uint32_t unit;      /* the \uXXXX being read: its value, */
    size_t hex;         /* and its hex digits so far */
    uint32_t high;      /* an escaped high surrogate waiting for its low one, or 0 */
    char esc[13];       /* the text of the escape(s) read, for the error */
};

/* The input share (framer.h): two totals, so a framer's share costs O(1). Loop thread only. */
static size_t buffered_total; /* every framer's accounted bytes */
static size_t pool_used;      /* their parts beyond QGAD_INPUT_SESSION_MIN */

size_t proto_framer_buffered_total(void)
{
    return buffered_total;
}

size_t proto_framer_pool_used(void)
{
    return pool_used;
}

static size_t beyond_min(size_t n)
{
    return n > QGAD_INPUT_SESSION_MIN ? n - QGAD_INPUT_SESSION_MIN : 0;
}

static void set_limit(struct proto_framer *f)
{
    size_t share = QGAD_INPUT_SESSION_MIN + beyond_min(f->accounted) +
                   (QGAD_MAX_INPUT_TOTAL_BYTES - pool_used);
    f->limit = share < QGAD_MAX_MESSAGE_BYTES ? share : QGAD_MAX_MESSAGE_BYTES;
}

/* Sets what f holds to n bytes (n never exceeds its share, so the pool never overflows). */
static void charge(struct proto_framer *f, size_t n)
{
    buffered_total = buffered_total - f->accounted + n;
    pool_used = pool_used - beyond_min(f->accounted) + beyond_min(n);
    f->accounted = n;
}

/* A buffer of a discarded 64 MiB message is unmapped off the loop (base/release.h). */
static void release_out(struct proto_framer *f)
{
    if (f->out.cap > QGAD_POOL_FREE_BYTES) {
        release_in_pool(free, f->out.data);
        f->out = (struct buf){0};
    } else {
        buf_release(&f->out);
    }
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
    charge(f, 0);
    f->bytes = 0;
    f->out.len = f->tok = 0;
    if (f->out.cap > OUT_KEEP)
        release_out(f);
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
    f->u8.need = 0;
    f->high = 0;
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
    f->u8.need = 0;
    f->high = 0;
    if (f->depth == 0 && f->state == LX_VALUE)
        message_reset(f);
}

/* True (reported) if the message is past a cap: its message size, or its session's share. */
static bool over_cap(struct proto_framer *f)
{
    if (f->bytes <= f->limit)
        return false;
    fail(f, f->bytes > QGAD_MAX_MESSAGE_BYTES ? ERR_TOKEN_SIZE : ERR_INPUT_TOTAL);
    return true;
}

static void message_end(struct proto_framer *f)
{
    if (over_cap(f)) /* its last byte, before the read loop's check sees it */
        return;
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
    charge(f, f->bytes);
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
            f->u8.need = 0;
            f->high = 0;
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
    proto_parser_substitute(f->parser, f->strings - 1, xrealloc(str, n + 1), n);
    f->out = rest;
    buf_put(&f->out, "\"\"", 2);
    return true;
}

static void string_end(struct proto_framer *f)
{
    if (take_big_string(f))
        f->bytes++; /* its closing quote counts against the caps as any other's */
    else
        emit(f, '"');
    f->state = LX_VALUE;
    if (f->depth == 0)
        message_end(f);
}

static void bad_escape(struct proto_framer *f, size_t text_len)
{
    char desc[80];
    snprintf(desc, sizeof(desc), "JSON parse error, %.*s is not a valid Unicode character",
             (int)text_len, f->esc);
    f->high = 0;
    fail(f, desc);
}

/* A string byte that is not plain ASCII (or any byte while a UTF-8 sequence or a surrogate
 * pair is open): the strict UTF-8 check. Errors are reported; the byte is lexed anyway. */
static void check_string_byte(struct proto_framer *f, unsigned char c)
{
    if (f->discard)
        return;
    if (f->high && c != '\\') {
        bad_escape(f, 6);
        return;
    }
    if ((c >= 0x80 || f->u8.need) && utf8_step(&f->u8, c) == UTF8_BAD)
        fail(f, ERR_UTF8);
}

/* Inside a string: copies the plain run, then handles one other byte. ASCII needs no check
 * beyond the table, so the run is taken only between characters and escapes. */
static const unsigned char *lex_string(struct proto_framer *f, const unsigned char *p,
                                       const unsigned char *end)
{
    bool sq = f->state == LX_SQ;
    const unsigned char *run = p;
    size_t room = f->bytes <= f->limit ? f->limit + 1 - f->bytes : 1; /* not past a cap */
    if ((size_t)(end - p) > room)
        end = p + room;

    const bool *plain = sq ? sq_plain : proto_plain_byte;
    if (!f->u8.need && !f->high)
        while (p < end && plain[*p])
            p++;
    emit_run(f, run, (size_t)(p - run));
    if (p == end || *p >= 0xFE)
        return p; /* resync is the caller's */

    unsigned char c = *p++;
    check_string_byte(f, c);
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

/* \' becomes ' (yajl does not know it); \u is checked here (lex_hex), any other escape is
 * yajl's to check. */
static void lex_escape(struct proto_framer *f, unsigned char c)
{
    bool sq = f->state == LX_SQ_ESC;
    if (f->high && c != 'u')
        bad_escape(f, 6); /* a high surrogate not followed by \u */
    if (c != '\'')
        emit(f, '\\');
    emit(f, (char)c);
    if (c == 'u') {
        char *text = f->esc + (f->high ? 6 : 0);
        text[0] = '\\';
        text[1] = 'u';
        f->unit = 0;
        f->hex = 0;
        f->state = sq ? LX_SQ_HEX : LX_DQ_HEX;
    } else {
        f->state = sq ? LX_SQ : LX_DQ;
    }
}

/* \u0000: upstream keeps NUL as modified UTF-8's \xC0\x80 (the encoder writes it back as
 * \u0000), which also keeps it out of C strings. yajl passes the two bytes through. */
static void escaped_nul(struct proto_framer *f)
{
    if (f->discard)
        return;
    f->out.len -= 6; /* the escape, emitted by lex_escape and lex_hex */
    buf_put(&f->out, "\xC0\x80", 2);
}

/* After \uXXXX: as upstream's parse_string, a high surrogate must be followed by an
 * escaped low one (the pair is one code point; yajl combines it), and the code point must
 * pass utf8_codepoint_valid. The error quotes the escape, or the pair. */
static void escape_end(struct proto_framer *f)
{
    uint32_t u = f->unit, high = f->high;
    f->high = 0;
    if (high) {
        uint32_t cp = 0x10000 + ((high & 0x3FF) << 10) + (u & 0x3FF);
        if (u < 0xDC00 || u > 0xDFFF)
            bad_escape(f, 6);
        else if (!utf8_codepoint_valid(cp))
            bad_escape(f, 12);
        return;
    }
    if (u >= 0xD800 && u <= 0xDBFF)
        f->high = u;
    else if (!utf8_codepoint_valid(u))
        bad_escape(f, 6);
    else if (u == 0)
        escaped_nul(f);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* One of the four digits after \u. False for a non-digit: the string goes on with it, and
 * yajl reports the invalid escape. */
static bool lex_hex(struct proto_framer *f, unsigned char c)
{
    bool sq = f->state == LX_SQ_HEX;
    int v = hex_value(c);
    if (v < 0) {
        f->high = 0;
        f->state = sq ? LX_SQ : LX_DQ;
        return false;
    }
    emit(f, (char)c);
    f->esc[(f->high ? 8 : 2) + f->hex] = (char)c;
    f->unit = (f->unit << 4) | (uint32_t)v;
    if (++f->hex == 4) {
        f->state = sq ? LX_SQ : LX_DQ;
        escape_end(f);
    }
    return true;
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
        case LX_DQ_HEX:
        case LX_SQ_HEX:
            if (lex_hex(f, c))
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
        over_cap(f);
    }
    if (!f->stopped)
        flush_partial(f);
    return !f->stopped;
}

size_t proto_framer_message_bytes(const struct proto_framer *f)
{
    return f->bytes;
}

bool proto_framer_in_message(const struct proto_framer *f)
{
    return f->in_msg;
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
    release_out(f);
    free(f);
}
