/* error.c - the thread-local last error message; see error.h. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

int sq_error_set(int code, const char *fmt, ...)
{
    /* Format into a copy first: callers add context to the last message with
     * sq_error_set(rc, "...: %s", sq_error_msg()), which reads last_msg. */
    char msg[sizeof last_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_msg, msg, sizeof msg);
    last_code = code;
    return code;
}

const char *sq_error_msg(void)
{
    return last_msg;
}

int sq_error_code(void)
{
    return last_code;
}

void sq_error_clear(void)
{
    last_msg[0] = '\0';
    last_code = 0;
}

const char *sq_error_name(int code)
{
    switch (code) {
    case SQ_OK: return "ok";
    case SQ_ENOTFOUND: return "not found";
    case SQ_ELEASE_LOST: return "lease lost";
    case SQ_ECONFLICT: return "conflict";
    case SQ_EBUSY: return "busy";
    case SQ_EINVAL: return "invalid";
    case SQ_EIO: return "i/o error";
    case SQ_EEXIST: return "exists";
    case SQ_EEMPTY: return "empty";
    case SQ_EACCES: return "access refused";
    default: return "error";
    }
}
