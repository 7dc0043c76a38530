/* timeutil.c - clocks and timestamps; see timeutil.h. */
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double time_now(void)
{
    return clock_seconds(CLOCK_REALTIME);
}

double time_mono(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

void time_sleep(double seconds)
{
    if (!(seconds > 0))
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - floor(seconds)) * 1e9);
    nanosleep(&ts, NULL);
}

const char *time_format_local(double epoch, char *buf, size_t size)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    if (!epoch || !localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, size, "-");
    return buf;
}

const char *time_format_iso(double epoch, char *buf, size_t size)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    if (!epoch || !gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "-");
    return buf;
}
