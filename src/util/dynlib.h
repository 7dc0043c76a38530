/*
 * dynlib.h - shared libraries loaded at run time instead of linked: libpq
 * (postgres.c), libcurl (http.c) and libmicrohttpd (server.c).
 *
 * A linked library is mapped, with everything it pulls in (GnuTLS,
 * OpenSSL, Kerberos, LDAP, ...), into every process, including agents on a
 * SQLite store that never call it; that was most of an agent's resident
 * memory. A module that needs one instead keeps a table of function
 * pointers typed from the library's header with __typeof__ (so a call,
 * variadic ones included, is checked as a direct one), lists each slot with
 * its symbol in a dynlib_symbol array, and calls dynlib_load before it
 * first uses them.
 *
 * Invariants:
 *   - A library is loaded at most once per process, thread-safe; a failure
 *     is remembered and every later dynlib_load returns the same message.
 *   - Once dynlib_load has returned 0 every slot is set, and stays set for
 *     the life of the process (the library is never unloaded). A thread
 *     that calls dynlib_load, or that was started by one that did, may read
 *     the slots without locking.
 */
#ifndef SQ_DYNLIB_H
#define SQ_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

/* One function to look up: its symbol and where its address goes. dlsym's
 * void * goes into a function pointer through a void ** as POSIX's dlsym
 * page does it. */
typedef struct dynlib_symbol {
    const char *name;
    void **slot;
} dynlib_symbol;

/* A library to load: the caller fills the first fields (a static
 * initializer); the rest is dynlib_load's. */
typedef struct dynlib {
    const char *soname;  /* what dlopen gets: "libpq.so.5" */
    const char *what;    /* for messages: "PostgreSQL's client library" */
    const char *package; /* the Debian package that ships it: "libpq5" */
    const char *minimum; /* "libpq 14" when some symbol is that recent, else NULL */
    const dynlib_symbol *symbols;
    size_t nsymbols;
    /* NULL, or run once after every symbol is found (under the load lock,
     * e.g. curl_global_init): returns NULL, or why the library cannot be
     * used, which makes the load fail. */
    const char *(*start)(void);

    int state; /* 0: not tried yet; 1: loaded; -1: cannot be used (why) */
    char why[256];
} dynlib;

/*
 * Loads lib->soname and fills every slot of lib->symbols, then runs
 * lib->start, the first time it is called for lib; later calls return the
 * first one's result. Returns 0, or SQ_EINVAL with the message saying why,
 * without context (callers add theirs), e.g. "libpq.so.5 not found: install
 * PostgreSQL's client library (apt-get install libpq5)". On failure every
 * slot is NULL.
 */
int dynlib_load(dynlib *lib);

#endif
