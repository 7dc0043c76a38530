/* text.c - printable, valid UTF-8 from untrusted bytes; see text.h. */
#include "util/common.h"

#include "util/text.h"

/* The length of the valid UTF-8 sequence at s[0..len) (1 to 4) and its code
 * point in *cp, or 0 when s does not start with one (overlong forms,
 * surrogates and values past U+10FFFF are invalid, as RFC 3629 says). */
static size_t utf8_seq(const unsigned char *s, size_t len, unsigned *cp)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

size_t text_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* Back over continuation bytes to the start of the cut sequence. */
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80 && max - n < 3)
        n--;
    unsigned cp;
    size_t seq = utf8_seq((const unsigned char *)s + n, len - n, &cp);
    if (seq && n + seq <= max)
        return n + seq; /* max fell right after a whole character */
    /* A character starting at n does not fit; bytes that are no valid
     * sequence are cut where max says (they are escaped when printed). */
    return seq ? n : max;
}

static bool is_control(unsigned cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

char *text_printable(const char *s, size_t len)
{
    strbuf out = SB_INIT;
    const unsigned char *p = (const unsigned char *)s;
    sb_add(&out, "", 0); /* never NULL */
    for (size_t i = 0; i < len;) {
        unsigned cp = 0;
        size_t n = utf8_seq(p + i, len - i, &cp);
        if (n == 0) {
            sb_addf(&out, "\\x%02x", p[i]);
            i++;
        } else if (is_control(cp)) {
            sb_addf(&out, cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
            i += n;
        } else {
            sb_add(&out, p + i, n);
            i += n;
        }
    }
    return sb_detach(&out);
}

char *text_printable_str(const char *s)
{
    return s ? text_printable(s, strlen(s)) : NULL;
}

bool text_is_metric_name(const char *name, size_t max)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > max)
        return false;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        unsigned cp = 0;
        size_t n = utf8_seq(p + i, len - i, &cp);
        if (n == 0 || is_control(cp) || cp == '\'' || cp == '"' || cp == '`' || cp == '\\')
            return false;
        i += n;
    }
    return true;
}
