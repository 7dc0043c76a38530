/*
 * test_cluster_config.c - .sweepq/config.yaml lookups: a missing file is an
 * empty config, dotted paths reach nested scalars, null and collections are
 * not scalars, mapping keys come in file order, and a file whose top is not
 * a mapping (or not YAML) is refused with file:line:col.
 */
#include "util/common.h"

#include "cluster/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sq-config-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static char *write_config(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_missing_file_is_empty(void **state)
{
    (void)state;
    char *path = xasprintf("%s/none.yaml", tmpdir);
    sq_config *c = NULL;
    assert_int_equal(config_load(&c, path), 0);
    assert_non_null(c);
    assert_null(config_get(c, "submit.partition"));
    const char **keys = NULL;
    size_t n = 7;
    assert_int_equal(config_mapping_keys(&keys, &n, c, "remotes"), 0);
    assert_null(keys);
    assert_int_equal(n, 0);
    config_free(c);
    free(path);
}

static void test_dotted_paths(void **state)
{
    (void)state;
    char *path = write_config("a.yaml", "# settings\n"
                                        "submit:\n"
                                        "  scheduler: slurm\n"
                                        "  time: \"04:00:00\"\n"
                                        "  grace: 90s\n"
                                        "  array: 8\n"
                                        "  account: ~\n"
                                        "  extra: [a, b]\n"
                                        "remotes:\n"
                                        "  box2: {host: 10.0.0.6}\n"
                                        "  box1:\n"
                                        "    host: 10.0.0.5\n"
                                        "    port: 2222\n");
    sq_config *c = NULL;
    assert_int_equal(config_load(&c, path), 0);
    assert_string_equal(config_get(c, "submit.scheduler"), "slurm");
    assert_string_equal(config_get(c, "submit.time"), "04:00:00");
    assert_string_equal(config_get(c, "submit.grace"), "90s");
    assert_string_equal(config_get(c, "submit.array"), "8");
    assert_null(config_get(c, "submit.account"));
    assert_null(config_get(c, "submit.extra"));
    assert_null(config_get(c, "submit"));
    assert_null(config_get(c, "submit.scheduler.x"));
    assert_null(config_get(c, "nothing.here"));
    assert_string_equal(config_get(c, "remotes.box1.port"), "2222");
    assert_string_equal(config_path(c), path);

    const char **keys = NULL;
    size_t n = 0;
    assert_int_equal(config_mapping_keys(&keys, &n, c, "remotes"), 0);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], "box2");
    assert_string_equal(keys[1], "box1");
    free(keys);
    assert_int_equal(config_mapping_keys(&keys, &n, c, "submit.scheduler"), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "must be a mapping"));
    config_free(c);
    free(path);
}

static void test_empty_file(void **state)
{
    (void)state;
    char *path = write_config("empty.yaml", "# nothing set yet\n");
    sq_config *c = NULL;
    assert_int_equal(config_load(&c, path), 0);
    assert_null(config_get(c, "submit.time"));
    config_free(c);
    free(path);
}

static void test_refused_files(void **state)
{
    (void)state;
    char *path = write_config("list.yaml", "- a\n- b\n");
    sq_config *c = NULL;
    assert_int_equal(config_load(&c, path), SQ_EINVAL);
    assert_null(c);
    assert_non_null(strstr(sq_error_msg(), ":1:1: the config must be a mapping"));
    free(path);

    path = write_config("bad.yaml", "submit:\n  time: [1,\n");
    assert_int_equal(config_load(&c, path), SQ_EINVAL);
    assert_null(c);
    assert_non_null(strstr(sq_error_msg(), path));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file_is_empty),
        cmocka_unit_test(test_dotted_paths),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_refused_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
