/*
 * test_agent_spawn.c - the spawn module against real processes: exit codes,
 * signals, exec failures, descriptors, process groups and the
 * parent-death signal.
 */
#include "util/common.h"

#include "agent/spawn.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sq-spawn-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

/* Runs argv to its end and returns how it ended. */
static spawn_status run_to_end(char *const *argv, const spawn_opts *base)
{
    spawn_opts o = SPAWN_OPTS_INIT;
    if (base)
        o = *base;
    o.argv = argv;
    pid_t pid;
    assert_int_equal(spawn_start(&pid, NULL, &o), 0);
    assert_true(pid > 0);
    spawn_status st = {0, 0};
    assert_int_equal(spawn_reap(pid, true, &st), 1);
    return st;
}

static char *read_file(const char *path)
{
    strbuf sb = SB_INIT;
    assert_int_equal(sb_read_file(&sb, path), 0);
    return sb_detach(&sb);
}

/* True once pid no longer runs (gone, or a zombie nobody reaped yet). */
static bool process_gone(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    strbuf sb = SB_INIT;
    if (sb_read_file(&sb, path) != 0)
        return true;
    const char *close_paren = strrchr(sb_str(&sb), ')');
    bool zombie = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
    sb_release(&sb);
    return zombie;
}

static bool wait_gone(pid_t pid, double seconds)
{
    double deadline = time_mono() + seconds;
    while (!process_gone(pid)) {
        if (time_mono() > deadline)
            return false;
        time_sleep(0.01);
    }
    return true;
}

static void test_spawn_reports_exit_code(void **state)
{
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    spawn_status st = run_to_end(argv, NULL);
    assert_int_equal(st.exit_code, 3);
    assert_int_equal(st.term_signal, 0);
    char buf[64];
    assert_string_equal(spawn_status_text(&st, buf, sizeof buf), "exit status 3");
}

static void test_spawn_reports_killing_signal(void **state)
{
    char *argv[] = {"sh", "-c", "kill -9 $$", NULL};
    spawn_status st = run_to_end(argv, NULL);
    assert_int_equal(st.exit_code, -1);
    assert_int_equal(st.term_signal, SIGKILL);
    char buf[64];
    assert_string_equal(spawn_status_text(&st, buf, sizeof buf), "killed by signal 9 (Killed)");
}

static void test_spawn_exec_failure_names_the_program(void **state)
{
    char *argv[] = {"no-such-program-sweepq", "x", NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    pid_t pid = 123;
    int err = 0;
    assert_int_equal(spawn_start(&pid, &err, &o), SQ_ERROR);
    assert_int_equal(pid, -1);
    assert_int_equal(err, ENOENT);
    assert_string_equal(sq_error_msg(),
                        "cannot run 'no-such-program-sweepq': No such file or directory");
}

static void test_spawn_exec_failure_of_a_non_executable(void **state)
{
    char *path = xasprintf("%s/not-executable", tmpdir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    char *argv[] = {path, NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    pid_t pid;
    int err = 0;
    assert_int_equal(spawn_start(&pid, &err, &o), SQ_ERROR);
    assert_int_equal(err, EACCES);
    char *want = xasprintf("cannot run '%s': Permission denied", path);
    assert_string_equal(sq_error_msg(), want);
    free(want);
    free(path);
}

static void test_spawn_bad_directory_is_reported(void **state)
{
    char *argv[] = {"true", NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.cwd = "/no/such/dir";
    pid_t pid;
    assert_int_equal(spawn_start(&pid, NULL, &o), SQ_ERROR);
    assert_string_equal(sq_error_msg(), "cannot run 'true': cannot enter directory "
                                        "'/no/such/dir': No such file or directory");
}

static void test_spawn_sets_env_directory_and_output(void **state)
{
    char *log = xasprintf("%s/out.log", tmpdir);
    int fd = open(log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char *argv[] = {"sh", "-c", "echo \"$FOO\"; pwd; echo err >&2; cat", NULL};
    char *envp[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.envp = envp;
    o.cwd = tmpdir;
    o.stdout_fd = fd;
    o.stderr_fd = fd;
    spawn_status st = run_to_end(argv, &o);
    close(fd);
    assert_int_equal(st.exit_code, 0);
    char *got = read_file(log);
    /* cat read /dev/null: nothing more after "err". */
    char *want = xasprintf("bar baz\n%s\nerr\n", tmpdir);
    assert_string_equal(got, want);
    free(want);
    free(got);
    free(log);
}

static void test_spawn_child_leads_its_own_process_group(void **state)
{
    char *argv[] = {"sleep", "30", NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.new_pgroup = true;
    pid_t pid;
    assert_int_equal(spawn_start(&pid, NULL, &o), 0);
    assert_int_equal(getpgid(pid), pid);
    assert_int_equal(spawn_exited(pid), 0);
    spawn_status st;
    assert_int_equal(spawn_reap(pid, false, &st), 0);
    assert_int_equal(spawn_signal_group(pid, SIGTERM), 0);
    assert_int_equal(spawn_reap(pid, true, &st), 1);
    assert_int_equal(st.term_signal, SIGTERM);
}

static void test_spawn_group_signal_reaches_grandchildren(void **state)
{
    char *pidfile = xasprintf("%s/grandchild.pid", tmpdir);
    char *script = xasprintf("sleep 60 & echo $! > '%s'; wait", pidfile);
    char *argv[] = {"sh", "-c", script, NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.new_pgroup = true;
    pid_t pid;
    assert_int_equal(spawn_start(&pid, NULL, &o), 0);
    double deadline = time_mono() + 10;
    strbuf sb = SB_INIT;
    while (sb_read_file(&sb, pidfile) != 0 || !strchr(sb_str(&sb), '\n')) {
        assert_true(time_mono() < deadline);
        sb_reset(&sb);
        time_sleep(0.01);
    }
    pid_t grandchild = (pid_t)atoi(sb_str(&sb));
    sb_release(&sb);
    assert_true(grandchild > 0);
    assert_false(process_gone(grandchild));

    assert_int_equal(spawn_signal_group(pid, SIGKILL), 0);
    spawn_status st;
    assert_int_equal(spawn_reap(pid, true, &st), 1);
    assert_int_equal(st.term_signal, SIGKILL);
    assert_true(wait_gone(grandchild, 10));
    free(script);
    free(pidfile);
}

static void test_spawn_exited_leaves_the_zombie_for_reap(void **state)
{
    char *argv[] = {"true", NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.new_pgroup = true;
    pid_t pid;
    assert_int_equal(spawn_start(&pid, NULL, &o), 0);
    double deadline = time_mono() + 10;
    while (spawn_exited(pid) == 0) {
        assert_true(time_mono() < deadline);
        time_sleep(0.005);
    }
    assert_int_equal(spawn_exited(pid), 1); /* still there: not reaped */
    assert_int_equal(spawn_signal_group(pid, SIGKILL), 0);
    spawn_status st;
    assert_int_equal(spawn_reap(pid, false, &st), 1);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(spawn_reap(pid, false, &st), SQ_ENOTFOUND);
}

static void test_spawn_child_dies_with_its_parent(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t middle = fork();
    assert_true(middle >= 0);
    if (middle == 0) {
        close(fds[0]);
        char *argv[] = {"sleep", "60", NULL};
        spawn_opts o = SPAWN_OPTS_INIT;
        o.argv = argv;
        o.new_pgroup = true;
        o.die_with_parent = true;
        pid_t pid;
        if (spawn_start(&pid, NULL, &o) != 0)
            _exit(1);
        if (write(fds[1], &pid, sizeof pid) != sizeof pid)
            _exit(1);
        _exit(0); /* dies without reaping or killing its child */
    }
    close(fds[1]);
    pid_t child = 0;
    assert_int_equal(read(fds[0], &child, sizeof child), (ssize_t)sizeof child);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(middle, &status, 0), middle);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(wait_gone(child, 10));
}

static void test_spawn_resets_ignored_and_blocked_signals(void **state)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_term;
    sigaction(SIGTERM, &ign, &old_term);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old_mask);

    char *term_argv[] = {"sh", "-c", "kill -TERM $$; sleep 5; exit 0", NULL};
    spawn_status st = run_to_end(term_argv, NULL);
    assert_int_equal(st.term_signal, SIGTERM);
    char *usr1_argv[] = {"sh", "-c", "kill -USR1 $$; sleep 5; exit 0", NULL};
    st = run_to_end(usr1_argv, NULL);
    assert_int_equal(st.term_signal, SIGUSR1);

    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

/* A descriptor the parent opened without O_CLOEXEC (as some libraries do)
 * does not reach the child; 0-2 do. */
static void test_spawn_passes_only_standard_descriptors(void **state)
{
    int leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    assert_true(leaked > 2);
    char *script =
        xasprintf("test -e /proc/self/fd/%d && exit 3; test -e /proc/self/fd/2 || exit 4; "
                  "exit 0",
                  leaked);
    char *argv[] = {"sh", "-c", script, NULL};
    spawn_status st = run_to_end(argv, NULL);
    close(leaked);
    free(script);
    assert_int_equal(st.exit_code, 0);
}

static void test_spawn_many_children_in_a_row(void **state)
{
    char *argv[] = {"true", NULL};
    for (int i = 0; i < 200; i++) {
        spawn_status st = run_to_end(argv, NULL);
        assert_int_equal(st.exit_code, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_reports_exit_code),
        cmocka_unit_test(test_spawn_reports_killing_signal),
        cmocka_unit_test(test_spawn_exec_failure_names_the_program),
        cmocka_unit_test(test_spawn_exec_failure_of_a_non_executable),
        cmocka_unit_test(test_spawn_bad_directory_is_reported),
        cmocka_unit_test(test_spawn_sets_env_directory_and_output),
        cmocka_unit_test(test_spawn_child_leads_its_own_process_group),
        cmocka_unit_test(test_spawn_group_signal_reaches_grandchildren),
        cmocka_unit_test(test_spawn_exited_leaves_the_zombie_for_reap),
        cmocka_unit_test(test_spawn_child_dies_with_its_parent),
        cmocka_unit_test(test_spawn_resets_ignored_and_blocked_signals),
        cmocka_unit_test(test_spawn_passes_only_standard_descriptors),
        cmocka_unit_test(test_spawn_many_children_in_a_row),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
