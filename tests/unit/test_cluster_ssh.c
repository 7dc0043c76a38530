/*
 * test_cluster_ssh.c - ssh and rsync command lines (the options every call
 * gets, nothing a host could smuggle in) and ssh_run with real child
 * processes: output and exit status captured, stdin fed, a command past its
 * time limit killed and reaped, a child whose grandchild keeps its stderr
 * open does not hold the caller, a program that does not exist reported.
 */
#include "util/common.h"

#include "cluster/ssh.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

/* The index of s in argv, or -1. */
static int find(const ssh_argv *a, const char *s)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i], s))
            return (int)i;
    return -1;
}

static void test_ssh_argv_has_the_safe_options_and_the_host_last(void **state)
{
    (void)state;
    ssh_target t = {"box.example.com", "alice", 2222, "/keys/id", "/tmp/kh"};
    ssh_argv a = SSH_ARGV_INIT;
    ssh_build(&a, &t, NULL, "echo 'hi'");
    assert_string_equal(a.v[0], "ssh");
    assert_true(find(&a, "BatchMode=yes") > 0);
    assert_true(find(&a, "StrictHostKeyChecking=accept-new") > 0);
    assert_true(find(&a, "ConnectTimeout=10") > 0);
    assert_true(find(&a, "ServerAliveInterval=15") > 0);
    assert_true(find(&a, "UserKnownHostsFile=/tmp/kh") > 0);
    assert_true(find(&a, "IdentitiesOnly=yes") > 0);
    assert_string_equal(a.v[find(&a, "-p") + 1], "2222");
    assert_string_equal(a.v[find(&a, "-i") + 1], "/keys/id");
    assert_string_equal(a.v[find(&a, "-l") + 1], "alice");
    assert_int_equal(find(&a, "-F"), -1); /* the user's ~/.ssh/config still applies */
    assert_string_equal(a.v[a.n - 2], "box.example.com");
    assert_string_equal(a.v[a.n - 1], "echo 'hi'");
    assert_null(a.v[a.n]);
    ssh_argv_release(&a);
}

static void test_rsync_argv_quotes_the_ssh_words(void **state)
{
    (void)state;
    ssh_target t = {"h", NULL, 0, "/my keys/id", NULL};
    ssh_argv a = SSH_ARGV_INIT;
    const char *extra[] = {"--exclude=/x", NULL};
    char *dst = ssh_rsync_remote(&t, "dir with space/");
    ssh_rsync_build(&a, &t, extra, "src/", dst);
    assert_string_equal(a.v[0], "rsync");
    assert_true(find(&a, "--protect-args") > 0);
    const char *e = a.v[find(&a, "-e") + 1];
    assert_non_null(strstr(e, "'-i' '/my keys/id'"));
    assert_int_equal(strncmp(e, "ssh '-o' 'BatchMode=yes'", 24), 0);
    assert_string_equal(a.v[a.n - 1], "h:dir with space/");
    assert_string_equal(a.v[a.n - 2], "src/");
    assert_true(find(&a, "--exclude=/x") > 0);
    free(dst);
    ssh_argv_release(&a);
    ssh_target v6 = {"::1", "u", 0, NULL, NULL};
    dst = ssh_rsync_remote(&v6, "d");
    assert_string_equal(dst, "u@[::1]:d");
    free(dst);
}

static void test_targets_that_could_be_options_are_refused(void **state)
{
    (void)state;
    ssh_target ok = {"gpu-1.example.com", "me", 22, "~/.ssh/id_ed25519", NULL};
    assert_int_equal(ssh_target_check(&ok), 0);
    ssh_target bad[] = {
        {"-oProxyCommand=touch x", NULL, 0, NULL, NULL},
        {"a b", NULL, 0, NULL, NULL},
        {"h;rm", NULL, 0, NULL, NULL},
        {"h", "-l", 0, NULL, NULL},
        {"h", "u@v", 0, NULL, NULL},
        {"h", NULL, 70000, NULL, NULL},
        {"h", NULL, 0, "/a\"b", NULL},
        {"h", NULL, 0, NULL, "/a\nb"},
        {"", NULL, 0, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(ssh_target_check(&bad[i]), SQ_EINVAL);
}

static void test_run_captures_output_and_exit_status(void **state)
{
    (void)state;
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
    assert_int_equal(run_command(&r, argv, NULL, NULL, 20), 0);
    assert_string_equal(sb_str(&r.out), "out\n");
    assert_string_equal(sb_str(&r.err), "err\n");
    assert_int_equal(r.exit_code, 3);
    assert_false(r.timed_out);
    char *why = ssh_result_why(&r);
    assert_string_equal(why, "err");
    free(why);
    run_result_release(&r);
}

static void test_why_names_the_cause_above_rsyncs_summary(void **state)
{
    (void)state;
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
    r.exit_code = 255;
    sb_adds(&r.err, "Warning: Identity file /k not accessible: No such file or directory.\n"
                    "root@h: Permission denied (publickey).\n"
                    "rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]\n"
                    "rsync error: unexplained error (code 255) at io.c(232) [Receiver=3.2.7]\n");
    char *why = ssh_result_why(&r);
    assert_string_equal(why, "root@h: Permission denied (publickey). (rsync error: unexplained "
                             "error (code 255) at io.c(232) [Receiver=3.2.7])");
    free(why);
    sb_reset(&r.err);
    sb_adds(&r.err, "rsync: [sender] change_dir \"/x\" failed: No such file or directory (2)\n"
                    "rsync error: some files/attrs were not transferred (code 23) at main.c(1)\n"
                    "rsync: [Receiver] write error: Broken pipe (32)\n");
    why = ssh_result_why(&r);
    assert_non_null(strstr(why, "change_dir \"/x\" failed"));
    free(why);
    run_result_release(&r);
}

static void test_run_feeds_stdin_larger_than_a_pipe(void **state)
{
    (void)state;
    strbuf in = SB_INIT;
    for (int i = 0; i < 50000; i++)
        sb_addf(&in, "line %d\n", i);
    char *argv[] = {"wc", "-l", NULL};
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
    assert_int_equal(run_command(&r, argv, NULL, sb_str(&in), 20), 0);
    assert_int_equal(atoi(sb_str(&r.out)), 50000);
    assert_int_equal(r.exit_code, 0);
    run_result_release(&r);
    sb_release(&in);
}

static void test_run_kills_a_command_past_its_time_limit(void **state)
{
    (void)state;
    /* It ignores SIGTERM, so only the SIGKILL a second later stops it. */
    char *argv[] = {"sh", "-c", "trap '' TERM; echo started; sleep 30", NULL};
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
    assert_int_equal(run_command(&r, argv, NULL, NULL, 0.5), 0);
    assert_true(r.timed_out);
    assert_string_equal(sb_str(&r.out), "started\n");
    assert_int_equal(r.exit_code, -1);
    assert_int_equal(r.term_signal, 9);
    char *why = ssh_result_why(&r);
    assert_non_null(strstr(why, "no answer within the time limit"));
    free(why);
    run_result_release(&r);
}

static void test_run_returns_when_the_child_ends_though_a_grandchild_holds_stderr(void **state)
{
    (void)state;
    /* As an ssh that leaves a ControlPersist master behind does. */
    char *argv[] = {"sh", "-c", "sleep 300 >&2 & echo $!", NULL};
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
    assert_int_equal(run_command(&r, argv, NULL, NULL, 60), 0);
    assert_false(r.timed_out);
    assert_int_equal(r.exit_code, 0);
    int grandchild = atoi(sb_str(&r.out));
    assert_true(grandchild > 0);
    kill(grandchild, SIGKILL);
    run_result_release(&r);
}

static void test_run_reports_a_program_that_does_not_exist(void **state)
{
    (void)state;
    char *argv[] = {"/nonexistent/ssh", NULL};
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
    assert_int_equal(run_command(&r, argv, NULL, NULL, 5), SQ_ERROR);
    assert_non_null(strstr(sq_error_msg(), "cannot run '/nonexistent/ssh'"));
    run_result_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_argv_has_the_safe_options_and_the_host_last),
        cmocka_unit_test(test_rsync_argv_quotes_the_ssh_words),
        cmocka_unit_test(test_targets_that_could_be_options_are_refused),
        cmocka_unit_test(test_run_captures_output_and_exit_status),
        cmocka_unit_test(test_why_names_the_cause_above_rsyncs_summary),
        cmocka_unit_test(test_run_feeds_stdin_larger_than_a_pipe),
        cmocka_unit_test(test_run_kills_a_command_past_its_time_limit),
        cmocka_unit_test(test_run_returns_when_the_child_ends_though_a_grandchild_holds_stderr),
        cmocka_unit_test(test_run_reports_a_program_that_does_not_exist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
