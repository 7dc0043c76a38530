/*
 * test_cluster_remote.c - the remotes in .sweepq/config.yaml: saving one
 * splices only its entry (the rest of the file, comments and odd layouts
 * included, stays byte for byte), replacing and removing touch only that
 * entry, a flow-style or null `remotes:` is rewritten in block style, bad
 * remotes are refused before anything is written, and loading reports the
 * file and the remote that is wrong.
 */
#include "util/common.h"

#include "cluster/remote.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];
static char *path;

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sq-remote-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    path = xasprintf("%s/config.yaml", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    free(path);
    return rc == 0 ? 0 : -1;
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(void)
{
    strbuf sb = SB_INIT;
    assert_int_equal(sb_read_file(&sb, path), 0);
    return sb_detach(&sb);
}

static remote make(const char *name, const char *host)
{
    remote r = {0};
    r.name = (char *)name;
    r.host = (char *)host;
    return r;
}

static void test_add_appends_after_the_last_entry_and_keeps_every_other_byte(void **state)
{
    (void)state;
    const char *before = "# top\n"
                         "remotes:\n"
                         "  a:\n"
                         "    host: a.example.com   # keep me\n"
                         "\n"
                         "# next section\n"
                         "submit: {partition: gpu}\n";
    write_file(before);
    remote r = make("b", "b.example.com");
    r.port = 2222;
    r.slots = 3;
    assert_int_equal(remote_save(path, &r), 0);
    char *after = read_file();
    assert_string_equal(after, "# top\n"
                               "remotes:\n"
                               "  a:\n"
                               "    host: a.example.com   # keep me\n"
                               "  b:\n"
                               "    host: b.example.com\n"
                               "    port: 2222\n"
                               "    slots: 3\n"
                               "\n"
                               "# next section\n"
                               "submit: {partition: gpu}\n");
    free(after);
}

static void test_replace_touches_only_that_entry(void **state)
{
    (void)state;
    write_file("remotes:\n"
               "    # four-space indent\n"
               "    a:\n"
               "        host: a\n"
               "        slots: 9\n"
               "    # about b\n"
               "    b:\n"
               "        host: b\n");
    remote r = make("a", "a2");
    r.user = "u";
    assert_int_equal(remote_save(path, &r), 0);
    char *after = read_file();
    assert_string_equal(after, "remotes:\n"
                               "    # four-space indent\n"
                               "    a:\n"
                               "      host: a2\n"
                               "      user: u\n"
                               "    # about b\n"
                               "    b:\n"
                               "        host: b\n");
    free(after);
    remote_list l = REMOTE_LIST_INIT;
    assert_int_equal(remote_list_load(&l, path), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].host, "a2");
    assert_int_equal(l.items[0].slots, 0);
    assert_string_equal(l.items[1].host, "b");
    remote_list_release(&l);
}

static void test_delete_removes_only_that_entry(void **state)
{
    (void)state;
    write_file("x: 1 # one\n"
               "remotes:\n"
               "  a: {host: a}\n"
               "  b:\n"
               "    host: b\n"
               "    port: 22\n"
               "  c:\n"
               "    host: c\n"
               "y: 2\n");
    assert_int_equal(remote_delete(path, "b"), 0);
    char *after = read_file();
    assert_string_equal(after, "x: 1 # one\n"
                               "remotes:\n"
                               "  a: {host: a}\n"
                               "  c:\n"
                               "    host: c\n"
                               "y: 2\n");
    free(after);
    assert_int_equal(remote_delete(path, "b"), SQ_ENOTFOUND);
}

static void test_flow_style_remotes_are_rewritten_in_block_style(void **state)
{
    (void)state;
    write_file("# c\nremotes: {a: {host: a, slots: 2}}\nz: 1\n");
    remote r = make("b", "b");
    assert_int_equal(remote_save(path, &r), 0);
    char *after = read_file();
    assert_string_equal(
        after, "# c\nremotes:\n  a:\n    host: a\n    slots: 2\n  b:\n    host: b\nz: 1\n");
    free(after);
}

static void test_null_remotes_and_missing_file(void **state)
{
    (void)state;
    write_file("remotes:\nother: 1\n");
    remote r = make("a", "h");
    assert_int_equal(remote_save(path, &r), 0);
    char *after = read_file();
    assert_string_equal(after, "remotes:\n  a:\n    host: h\nother: 1\n");
    free(after);
    unlink(path);
    assert_int_equal(remote_save(path, &r), 0);
    after = read_file();
    assert_string_equal(after, "remotes:\n  a:\n    host: h\n");
    free(after);
}

static void test_values_that_yaml_would_read_otherwise_are_quoted(void **state)
{
    (void)state;
    unlink(path);
    remote r = make("a", "10.0.0.1");
    r.user = "yes";
    r.key = "/keys/my key#1";
    r.workdir = "runs: \"x\"";
    assert_int_equal(remote_save(path, &r), 0);
    remote got;
    assert_int_equal(remote_lookup(&got, path, "a"), 0);
    assert_string_equal(got.host, "10.0.0.1");
    assert_string_equal(got.user, "yes");
    assert_string_equal(got.key, "/keys/my key#1");
    assert_string_equal(got.workdir, "runs: \"x\"");
    remote_release(&got);
}

static void test_bad_remotes_are_refused_and_nothing_is_written(void **state)
{
    (void)state;
    const char *before = "remotes:\n  a:\n    host: a\n";
    write_file(before);
    remote r = make("x.y", "h");
    assert_int_equal(remote_save(path, &r), SQ_EINVAL);
    r = make("ok", "-oProxyCommand=id");
    assert_int_equal(remote_save(path, &r), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "starts with '-'"));
    r = make("ok", "h");
    r.key = "/a'b";
    assert_int_equal(remote_save(path, &r), SQ_EINVAL);
    r = make("ok", "h");
    r.user = "a@b";
    assert_int_equal(remote_save(path, &r), SQ_EINVAL);
    char *after = read_file();
    assert_string_equal(after, before);
    free(after);
}

static void test_load_names_the_remote_and_the_field_that_is_wrong(void **state)
{
    (void)state;
    write_file("remotes:\n  a:\n    host: h\n    port: many\n");
    remote_list l = REMOTE_LIST_INIT;
    assert_int_equal(remote_list_load(&l, path), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "remote 'a': port 'many' is not a whole number"));
    write_file("remotes:\n  a:\n    user: u\n");
    assert_int_equal(remote_list_load(&l, path), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "remote 'a' has no host"));
    write_file("remotes: [a, b]\n");
    assert_int_equal(remote_list_load(&l, path), SQ_EINVAL);
    write_file("remotes:\n  a: {host: h}\n");
    remote r;
    assert_int_equal(remote_lookup(&r, path, "zz"), SQ_ENOTFOUND);
    assert_non_null(strstr(sq_error_msg(), "sweepq remote add zz --host HOST"));
}

static void test_default_workdir_is_under_sweepq_in_the_home(void **state)
{
    (void)state;
    char *w = remote_default_workdir("/home/me/my-proj");
    assert_string_equal(w, "sweepq/my-proj");
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_appends_after_the_last_entry_and_keeps_every_other_byte),
        cmocka_unit_test(test_replace_touches_only_that_entry),
        cmocka_unit_test(test_delete_removes_only_that_entry),
        cmocka_unit_test(test_flow_style_remotes_are_rewritten_in_block_style),
        cmocka_unit_test(test_null_remotes_and_missing_file),
        cmocka_unit_test(test_values_that_yaml_would_read_otherwise_are_quoted),
        cmocka_unit_test(test_bad_remotes_are_refused_and_nothing_is_written),
        cmocka_unit_test(test_load_names_the_remote_and_the_field_that_is_wrong),
        cmocka_unit_test(test_default_workdir_is_under_sweepq_in_the_home),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
