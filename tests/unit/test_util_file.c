/*
 * test_util_file.c - file_replace on real files: content, mode, failure.
 */
#include "util/common.h"

#include "util/file.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/sq-file-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static size_t entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_replace_writes_then_replaces_keeping_the_mode(void **state)
{
    char *path = xasprintf("%s/f.txt", dir);
    assert_int_equal(file_replace(path, "first\n", 6), 0);
    strbuf sb = SB_INIT;
    assert_int_equal(sb_read_file(&sb, path), 0);
    assert_string_equal(sb_str(&sb), "first\n");
    sb_release(&sb);

    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(file_replace(path, "second", 6), 0);
    assert_int_equal(sb_read_file(&sb, path), 0);
    assert_string_equal(sb_str(&sb), "second");
    sb_release(&sb);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(entries(), 1); /* no temporary file left */
    free(path);
}

static void test_a_new_file_gets_the_umask_mode(void **state)
{
    char *path = xasprintf("%s/new.txt", dir);
    mode_t old = umask(022);
    assert_int_equal(file_replace(path, "", 0), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_size, 0);
    free(path);
}

static void test_failure_names_the_path_and_leaves_nothing(void **state)
{
    char *path = xasprintf("%s/missing/f.txt", dir);
    assert_int_equal(file_replace(path, "x", 1), SQ_EIO);
    assert_non_null(strstr(sq_error_msg(), path));
    assert_int_equal(entries(), 0);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_writes_then_replaces_keeping_the_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_new_file_gets_the_umask_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_names_the_path_and_leaves_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
