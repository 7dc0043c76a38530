/*
 * logship.c - the tails of trials' logs into the store; see logship.h.
 *
 * A tail is read with one pread of at most STORE_LOG_MAX bytes from the end
 * of the file, so shipping costs the same whatever the log's size.
 */
#include "util/common.h"

#include "agent/logship.h"

#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

bool logship_wanted(agent_ship_logs mode, const char *url)
{
    if (mode != AGENT_SHIP_AUTO)
        return mode == AGENT_SHIP_ALWAYS;
    return !store_url_is_embedded(url);
}

int logship_mode_parse(const char *text, agent_ship_logs *out)
{
    static const char *const names[] = {"auto", "always", "never"};
    for (size_t i = 0; text && i < ARRAY_SIZE(names); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (agent_ship_logs)i;
            return 0;
        }
    }
    return sq_error_set(SQ_EINVAL, "unknown log shipping '%s': expected auto, always or never",
                        text ? text : "");
}

/* Reads the file's last STORE_LOG_MAX bytes, from a character's start. */
static int read_tail(int fd, char **out, size_t *len, off_t *size)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return sq_error_set(SQ_EIO, "cannot read the log: %s", strerror(errno));
    off_t start = sb.st_size > STORE_LOG_MAX ? sb.st_size - STORE_LOG_MAX : 0;
    size_t want = (size_t)(sb.st_size - start);
    char *buf = xmalloc(want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, start + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            return sq_error_set(SQ_EIO, "cannot read the log: %s", strerror(err));
        }
        if (r == 0) /* truncated meanwhile */
            break;
        got += (size_t)r;
    }
    size_t skip = 0;
    /* A cut in the middle of a UTF-8 sequence: drop its continuation bytes
     * (at most 3), so that readers and JSON see text. */
    while (start > 0 && skip < 3 && skip < got && ((unsigned char)buf[skip] & 0xc0) == 0x80)
        skip++;
    memmove(buf, buf + skip, got - skip);
    buf[got - skip] = '\0';
    *out = buf;
    *len = got - skip;
    *size = start + (off_t)got;
    return 0;
}

int logship_send(store *st, int64_t trial_id, int attempt, int fd, off_t *out_size)
{
    char *text = NULL;
    size_t len = 0;
    off_t size = 0;
    int rc = read_tail(fd, &text, &len, &size);
    if (rc == 0)
        rc = store_put_log(st, trial_id, attempt, text, len);
    if (rc == 0 && out_size)
        *out_size = size;
    free(text);
    return rc;
}

static void item_release(logship_item *it)
{
    free(it->path);
    free(it->label);
}

void logship_queue_add(logship_queue *q, int64_t trial_id, int attempt, const char *path,
                       const char *label, logship_warn_fn warn, void *ud)
{
    if (q->n == LOGSHIP_QUEUE_MAX) {
        char *msg = xasprintf("the log of %s attempt %d is not stored: %d more logs wait for "
                              "the store",
                              q->items[0].label, q->items[0].attempt, LOGSHIP_QUEUE_MAX);
        warn(msg, ud);
        free(msg);
        item_release(&q->items[0]);
        memmove(q->items, q->items + 1, (q->n - 1) * sizeof *q->items);
        q->n--;
    }
    XGROW(q->items, q->cap, q->n + 1);
    q->items[q->n++] = (logship_item){
        .trial_id = trial_id,
        .attempt = attempt,
        .path = xstrdup(path),
        .label = xstrdup(label),
    };
}

size_t logship_queue_retry(logship_queue *q, store *st, logship_warn_fn warn, void *ud)
{
    size_t keep = 0;
    bool away = false;
    for (size_t i = 0; i < q->n; i++) {
        logship_item *it = &q->items[i];
        if (away) { /* each try could wait out a connect timeout: try the rest next time */
            q->items[keep++] = *it;
            continue;
        }
        int fd = open(it->path, O_RDONLY | O_CLOEXEC);
        int rc = fd < 0
                     ? sq_error_set(SQ_ENOTFOUND, "cannot open '%s': %s", it->path, strerror(errno))
                     : logship_send(st, it->trial_id, it->attempt, fd, NULL);
        if (fd >= 0)
            close(fd);
        if (sq_error_is_transient(rc)) {
            away = true;
            q->items[keep++] = *it;
            continue;
        }
        if (rc) {
            char *msg = xasprintf("the log of %s attempt %d is not stored: %s", it->label,
                                  it->attempt, sq_error_msg());
            warn(msg, ud);
            free(msg);
        }
        item_release(it);
    }
    q->n = keep;
    return keep;
}

void logship_queue_release(logship_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        item_release(&q->items[i]);
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}
