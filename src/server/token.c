/*
 * token.c - bearer tokens: random ones written once with mode 0600, read
 * back on later starts, and compared through their SHA-256 in constant time
 * (see token.h).
 */
#include "util/common.h"

#include "server/token.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fills buf with n random bytes; getrandom may return short on a signal. */
static int random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sq_error_set(SQ_EIO, "cannot make a token: getrandom failed: %s",
                                strerror(errno));
        got += (size_t)r;
    }
    return 0;
}

/* Writes a new token to path with O_EXCL; SQ_EEXIST when another process
 * made the file first. */
static int token_create(const char *path)
{
    unsigned char raw[32];
    char hex[2 * sizeof raw + 2];
    int rc = random_bytes(raw, sizeof raw);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof raw] = '\n';
    hex[2 * sizeof raw + 1] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? SQ_EEXIST
                               : sq_error_set(SQ_EIO, "cannot create token file '%s': %s", path,
                                              strerror(errno));
    size_t len = strlen(hex);
    ssize_t w = write(fd, hex, len);
    int err = errno;
    if (w != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return sq_error_set(SQ_EIO, "cannot write token file '%s': %s", path,
                            w < 0 ? strerror(err) : "short write");
    }
    close(fd);
    return 0;
}

int token_load(char **out, const char *path, bool create, bool *created)
{
    *out = NULL;
    if (created)
        *created = false;
    strbuf sb = SB_INIT;
    int rc;
    if (create && access(path, F_OK) != 0) {
        rc = token_create(path);
        if (rc == 0 && created)
            *created = true;
        else if (rc != SQ_EEXIST && rc != 0)
            goto out;
    }
    sb_init(&sb, TOKEN_MAX + 64);
    rc = sb_read_file(&sb, path);
    if (rc)
        goto out;
    size_t b = 0, e = sb.len;
    while (b < e && strchr(" \t\r\n", sb.buf[b]))
        b++;
    while (e > b && strchr(" \t\r\n", sb.buf[e - 1]))
        e--;
    if (e == b || e - b > TOKEN_MAX) {
        rc = sq_error_set(SQ_EINVAL, "cannot use token file '%s': %s", path,
                          e == b ? "it is empty" : "the token is too long");
        goto out;
    }
    for (size_t i = b; i < e; i++) {
        unsigned char c = (unsigned char)sb.buf[i];
        if (c <= ' ' || c >= 0x7f) {
            rc = sq_error_set(SQ_EINVAL,
                              "cannot use token file '%s': the token holds a space or a "
                              "non-ASCII byte; write one word of printable ASCII",
                              path);
            goto out;
        }
    }
    *out = xstrndup(sb.buf + b, e - b);
    rc = 0;
out:
    sb_release(&sb);
    return rc;
}

void token_hash(token_digest *out, const char *text, size_t len)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)text);
    sha256_digest(&ctx, sizeof out->d, out->d);
}

bool token_equal(const token_digest *a, const token_digest *b)
{
    return memeql_sec(a->d, b->d, sizeof a->d) != 0;
}
