/*
 * project_fixture.h - a throwaway sweepq project for unit tests that need a
 * real store: a temporary directory with .sweepq/ and an open SQLite store,
 * removed again by test_project_close. Header-only: CMake builds each
 * tests/unit/test_*.c as its own program.
 */
#ifndef SQ_TEST_PROJECT_FIXTURE_H
#define SQ_TEST_PROJECT_FIXTURE_H

#include "util/common.h"
#include "util/workspace.h"

#include "agent/register.h"
#include "spec/spec.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct test_project {
    char dir[64];
    workspace ws;
    store *st;
} test_project;

/* Makes /tmp/PREFIX-XXXXXX with .sweepq/ in it and opens its store. */
static inline void test_project_open(test_project *p, const char *prefix)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/%s-XXXXXX", prefix);
    assert_non_null(mkdtemp(p->dir));
    assert_int_equal(workspace_init_dir(p->dir), 0);
    p->ws.root = xstrdup(p->dir);
    p->ws.dir = xasprintf("%s/.sweepq", p->dir);
    p->ws.store_url = xasprintf("sqlite:%s/sweepq.db", p->ws.dir);
    if (store_open(&p->st, p->ws.store_url))
        fail_msg("store_open: %s", sq_error_msg());
}

/* Closes the store and removes the directory. */
static inline void test_project_close(test_project *p)
{
    store_close(p->st);
    p->st = NULL;
    char *cmd = xasprintf("rm -rf '%s'", p->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    workspace_release(&p->ws);
}

/* Loads yaml as a spec and registers it in the project's store. */
static inline void test_project_register_yaml(test_project *p, const char *yaml)
{
    spec *s = NULL;
    spec_diags d = SPEC_DIAGS_INIT;
    if (spec_load_string(&s, yaml, strlen(yaml), "test.yaml", NULL, &d) != 0) {
        char *msg = d.n ? spec_diag_format(&d.items[0]) : xstrdup(sq_error_msg());
        fail_msg("spec: %s", msg);
    }
    spec_diags_release(&d);
    int64_t id;
    if (sweep_register(p->st, &p->ws, s, &id, NULL))
        fail_msg("sweep_register: %s", sq_error_msg());
    spec_free(s);
}

#endif
