/* envelope.c — see envelope.h. Handles exactly the envelope the streaming server writes
 * (JSON.stringify of {stream, event, payload}); declines everything else. */
#include "platforms/mastodon/envelope.h"

#include <string.h>

#include "util/buf.h"

static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = sb_hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static int put_utf8(struct sb_buf *b, unsigned long cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80)
        u[0] = (char)cp, k = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), k = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), k = 3;
    else
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), k = 4;
    return sb_buf_append(b, u, k) == SB_OK;
}

/* Unescape the JSON string starting after its opening quote at *pp; stops after the closing
 * quote. 0 on anything malformed (including lone surrogates). */
static int unescape(const char **pp, const char *end, struct sb_buf *out)
{
    const char *p = *pp;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
            q++;
        if (q > p && sb_buf_append(out, p, (size_t)(q - p)) != SB_OK)
            return 0;
        if (q >= end || (unsigned char)*q < 0x20)
            return 0;
        if (*q == '"') {
            *pp = q + 1;
            return 1;
        }
        if (q + 1 >= end)
            return 0;
        char c = q[1];
        p = q + 2;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            static const char repl[] = "\"\\/\b\f\n\r\t";
            if (sb_buf_putc(out, repl[simple - "\"\\/bfnrt"]) != SB_OK)
                return 0;
            continue;
        }
        if (c != 'u' || end - p < 4)
            return 0;
        long cp = hex4(p);
        p += 4;
        if (cp < 0)
            return 0;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: a low one must follow */
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                return 0;
            long lo = hex4(p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return 0;
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return 0;
        }
        if (cp == 0 || !put_utf8(out, (unsigned long)cp))
            return 0; /* NUL: let the full parser refuse it */
    }
    return 0;
}

/* Skip one JSON value of the simple kinds an envelope holds (a string or an array of strings). */
static const char *skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\')
                p++;
        return p < end ? p + 1 : NULL;
    }
    if (p < end && *p == '[') {
        for (p++; p < end && *p != ']'; p++) {
            if (*p == '"') {
                for (p++; p < end && *p != '"'; p++)
                    if (*p == '\\')
                        p++;
                if (p >= end)
                    return NULL;
            }
        }
        return p < end ? p + 1 : NULL;
    }
    return NULL;
}

int sb_mastodon_envelope_split(const char *frame, size_t n, char *event, size_t cap,
                               struct sb_buf *payload)
{
    const char *p = frame, *end = frame + n;
    int have_event = 0, have_payload = 0;
    if (n < 2 || *p != '{' || end[-1] != '}')
        return 0;
    p++;
    end--; /* the closing brace */
    while (p < end) {
        if (*p != '"')
            return 0;
        const char *k = p + 1, *ke = memchr(k, '"', (size_t)(end - k));
        if (!ke || ke + 1 >= end || ke[1] != ':')
            return 0;
        size_t kl = (size_t)(ke - k);
        p = ke + 2;
        if (kl == 7 && !memcmp(k, "payload", 7)) {
            if (p >= end || *p != '"')
                return 0; /* not a string payload: the full parser handles it */
            p++;
            if (!unescape(&p, end, payload))
                return 0;
            have_payload = 1;
        } else if (kl == 5 && !memcmp(k, "event", 5)) {
            if (p >= end || *p != '"')
                return 0;
            const char *e = p + 1, *ee = memchr(e, '"', (size_t)(end - e));
            if (!ee || memchr(e, '\\', (size_t)(ee - e)) || (size_t)(ee - e) >= cap)
                return 0;
            memcpy(event, e, (size_t)(ee - e));
            event[ee - e] = 0;
            have_event = 1;
            p = ee + 1;
        } else {
            p = skip_value(p, end);
            if (!p)
                return 0;
        }
        if (p < end) {
            if (*p != ',')
                return 0;
            p++;
        }
    }
    return have_event && have_payload;
}
