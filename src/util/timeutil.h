/* timeutil.h - clocks and timestamps. */
#ifndef SQ_TIMEUTIL_H
#define SQ_TIMEUTIL_H

#include <stddef.h>

/* Seconds since the epoch, with sub-second precision (CLOCK_REALTIME). */
double time_now(void);
/* Seconds from an arbitrary start that never goes backwards (CLOCK_MONOTONIC). */
double time_mono(void);
/* Sleeps for seconds (fractions allowed); returns early on a signal. */
void time_sleep(double seconds);
/* Formats an epoch time as local "2026-11-23 10:38:03" into buf (>= 32). */
const char *time_format_local(double epoch, char *buf, size_t size);
/* Formats an epoch time as "2026-11-23T10:38:03Z" into buf (>= 32). */
const char *time_format_iso(double epoch, char *buf, size_t size);

#endif
