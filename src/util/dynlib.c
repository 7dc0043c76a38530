/*
 * dynlib.c - loads a shared library and its functions at run time
 * (dynlib.h).
 *
 * One process-wide mutex guards every library's state: loads happen once
 * per library, at a store's first open or a server's start, so they never
 * contend, and the mutex orders the writes to the slots before any reader
 * that went through dynlib_load.
 */
#include "util/common.h"

#include "util/dynlib.h"

#include <dlfcn.h>
#include <pthread.h>

static pthread_mutex_t dynlib_lock = PTHREAD_MUTEX_INITIALIZER;

static void clear_slots(dynlib *lib)
{
    for (size_t i = 0; i < lib->nsymbols; i++)
        *lib->symbols[i].slot = NULL;
    for (size_t i = 0; i < lib->noptional; i++)
        *lib->optional[i].slot = NULL;
}

/* Fills the slots of symbols[0..n) from handle, an entry with the previous
 * one's slot being an older name for it. Returns NULL, or the first name of
 * a function found under none of its names. */
static const char *resolve(void *handle, const dynlib_symbol *symbols, size_t n)
{
    const char *newest = NULL;
    for (size_t i = 0; i < n; i++) {
        const dynlib_symbol *sym = &symbols[i];
        bool older = i > 0 && sym->slot == symbols[i - 1].slot;
        if (!older)
            newest = sym->name;
        else if (*sym->slot)
            continue; /* found under a newer name */
        *sym->slot = dlsym(handle, sym->name);
        bool last = i + 1 == n || symbols[i + 1].slot != sym->slot;
        if (!*sym->slot && last)
            return newest;
    }
    return NULL;
}

/* Loads lib for the first time; sets lib->state, and lib->why on failure. */
static void load(dynlib *lib)
{
    lib->state = -1;
    void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        bool absent = !e || strstr(e, "No such file");
        if (absent && lib->package)
            snprintf(lib->why, sizeof lib->why, "%s not found: install %s (apt-get install %s)",
                     lib->soname, lib->what, lib->package);
        else if (absent)
            snprintf(lib->why, sizeof lib->why, "%s not found", lib->soname);
        else
            snprintf(lib->why, sizeof lib->why, "cannot load %s: %s", lib->soname, e);
        return;
    }
    const char *missing = resolve(handle, lib->symbols, lib->nsymbols);
    if (missing && !lib->package) {
        snprintf(lib->why, sizeof lib->why, "%s has no %s: not %s", lib->soname, missing,
                 lib->what);
        goto fail;
    }
    if (missing && lib->minimum) {
        snprintf(lib->why, sizeof lib->why,
                 "%s has no %s: install %s or later (apt-get install %s)", lib->soname, missing,
                 lib->minimum, lib->package);
        goto fail;
    }
    if (missing) {
        snprintf(lib->why, sizeof lib->why, "%s has no %s: install a newer %s (apt-get install %s)",
                 lib->soname, missing, lib->what, lib->package);
        goto fail;
    }
    resolve(handle, lib->optional, lib->noptional); /* a missing one stays NULL */
    const char *refused = lib->start ? lib->start() : NULL;
    if (refused) {
        snprintf(lib->why, sizeof lib->why, "cannot start %s: %s", lib->what, refused);
        goto fail;
    }
    lib->state = 1; /* handle stays open for the life of the process */
    return;
fail:
    clear_slots(lib);
    dlclose(handle);
}

int dynlib_load(dynlib *lib)
{
    pthread_mutex_lock(&dynlib_lock);
    if (lib->state == 0)
        load(lib);
    int loaded = lib->state == 1;
    pthread_mutex_unlock(&dynlib_lock);
    if (loaded)
        return 0;
    return sq_error_set(SQ_EINVAL, "%s", lib->why);
}
