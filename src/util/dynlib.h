/*
 * dynlib.h - shared libraries loaded at run time instead of linked: libpq
 * (postgres.c), libcurl (http.c), libmicrohttpd (server.c) and NVML
 * (gpu.c).
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
 * A library with versioned entry points (NVML's nvmlDeviceGetCount_v2, and
 * nvmlDeviceGetCount in drivers from before it) lists the older names right
 * after the newest, with the same slot; functions the caller can do without
 * go in a second array, of optional symbols.
 *
 * Invariants:
 *   - A dynlib is loaded at most once, thread-safe; a failure is remembered
 *     and every later dynlib_load returns the same message. A static dynlib
 *     (libpq, libcurl, libmicrohttpd) is thus loaded once per process; one
 *     kept in an object (gpu.c's probe, whose library a test may name) once
 *     per object, dlopen sharing one mapping between them.
 *   - Once dynlib_load has returned 0 every slot of symbols is set, every
 *     slot of optional is set or NULL, and they stay so for the life of the
 *     process (the library is never unloaded). A thread that calls
 *     dynlib_load, or that was started by one that did, may read the slots
 *     without locking.
 */
#ifndef SQ_DYNLIB_H
#define SQ_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

/* One function to look up: its symbol and where its address goes. dlsym's
 * void * goes into a function pointer through a void ** as POSIX's dlsym
 * page does it. An entry with the same slot as the entry before it is an
 * older name of that function, looked up only when the names before it
 * were not found; messages name the first. */
typedef struct dynlib_symbol {
    const char *name;
    void **slot;
} dynlib_symbol;

/* A library to load: the caller fills the first fields (a static
 * initializer); the rest is dynlib_load's. */
typedef struct dynlib {
    const char *soname; /* what dlopen gets: "libpq.so.5" */
    const char *what;   /* for messages: "PostgreSQL's client library" */
    /* The Debian package that ships it: "libpq5"; NULL when none does (NVML
     * comes with the NVIDIA driver): messages then give no install advice,
     * and a library without a symbol is taken for another one. */
    const char *package;
    const char *minimum; /* "libpq 14" when some symbol is that recent, else NULL */
    const dynlib_symbol *symbols;
    size_t nsymbols;
    /* Functions the caller can do without (it checks the slot before each
     * call): one that is missing leaves its slot NULL. */
    const dynlib_symbol *optional;
    size_t noptional;
    /* NULL, or run once after every symbol is found (under the load lock,
     * e.g. curl_global_init): returns NULL, or why the library cannot be
     * used, which makes the load fail. */
    const char *(*start)(void);

    int state; /* 0: not tried yet; 1: loaded; -1: cannot be used (why) */
    char why[256];
} dynlib;

/*
 * Loads lib->soname and fills every slot of lib->symbols and
 * lib->optional, then runs lib->start, the first time it is called for lib;
 * later calls return the first one's result. Returns 0, or SQ_EINVAL with
 * the message saying why, without context (callers add theirs), e.g.
 * "libpq.so.5 not found: install PostgreSQL's client library (apt-get
 * install libpq5)"; without a package "libnvidia-ml.so.1 not found" or
 * "libm.so.6 has no nvmlInit_v2: not the NVIDIA management library". On
 * failure every slot is NULL.
 */
int dynlib_load(dynlib *lib);

#endif
