/*
 * file.c - whole-file replacement through a temporary file and a rename;
 * see file.h.
 */
#include "util/common.h"

#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The mode a replacement gets: path's own, else what open(0666) would give. */
static mode_t mode_for(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return st.st_mode & 07777;
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

static int write_all(int fd, const char *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

int file_replace(const char *path, const void *data, size_t len)
{
    char *tmp = xasprintf("%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    bool ok = fd >= 0 && fchmod(fd, mode_for(path)) == 0 && write_all(fd, data, len) == 0 &&
              fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    int rc = 0;
    if (!ok) {
        if (fd >= 0)
            unlink(tmp);
        rc = sq_error_set(SQ_EIO, "cannot write '%s': %s", path, strerror(saved));
    }
    free(tmp);
    return rc;
}
