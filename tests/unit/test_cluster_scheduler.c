/*
 * test_cluster_scheduler.c - the parts of the scheduler module that need no
 * scheduler: job records written and read back (and a damaged file
 * refused), requests a scheduler cannot take, the states that count as
 * still running, and the file-system check: on a local directory, and by
 * magic number for the network file systems there is none of here. Scripts
 * are compared whole by tests/e2e/t0800; real Slurm runs in t0801/t0802.
 */
#include "util/common.h"

#include "cluster/scheduler.h"
#include "util/workspace.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sq-sched-XXXXXX");
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

static void test_records_round_trip(void **state)
{
    (void)state;
    char *dir = xasprintf("%s/jobs", tmpdir);
    assert_int_equal(mkdir_p(dir, 0755), 0);
    sched_record *recs = NULL;
    size_t n = 9;
    assert_int_equal(sched_read_jobs(&recs, &n, dir), 0); /* no file yet */
    assert_null(recs);
    assert_int_equal(n, 0);

    assert_int_equal(sched_record_job(dir, SCHED_SLURM, "12", "/p/jobs/submit-1.sh"), 0);
    assert_int_equal(sched_record_job(dir, SCHED_PBS_PRO, "7[].pbs01", "/p/a b/submit-2.sh"), 0);
    assert_int_equal(sched_record_job(dir, SCHED_TORQUE, "8[].srv", "/p/jobs/submit-3.sh"), 0);
    assert_int_equal(sched_read_jobs(&recs, &n, dir), 0);
    assert_int_equal(n, 3);
    assert_int_equal(recs[0].kind, SCHED_SLURM);
    assert_string_equal(recs[0].id, "12");
    assert_int_equal(recs[1].kind, SCHED_PBS_PRO);
    assert_string_equal(recs[1].id, "7[].pbs01");
    assert_string_equal(recs[1].script, "/p/a b/submit-2.sh"); /* a space stays */
    assert_int_equal(recs[2].kind, SCHED_TORQUE);
    sched_records_free(recs, n);

    char *path = xasprintf("%s/jobs.txt", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("lsf 99 x\n", f);
    fclose(f);
    assert_int_equal(sched_read_jobs(&recs, &n, dir), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "jobs.txt:4: not a job record"));
    assert_null(recs);
    free(path);
    free(dir);
}

static sched_job base_job(sched_kind kind)
{
    sched_job j = {
        .kind = kind,
        .sweep = "s",
        .root = "/p",
        .jobs_dir = "/p/.sweepq/sweeps/s/jobs",
        .sweepq = "/usr/bin/sweepq",
        .array = 2,
        .grace = 120,
    };
    return j;
}

static void test_script_refusals(void **state)
{
    (void)state;
    char *text = NULL;
    sched_job j = base_job(SCHED_SLURM);
    assert_int_equal(sched_script(&text, &j), 0);
    assert_non_null(strstr(text, "#SBATCH --array=0-1\n"));
    assert_non_null(strstr(text, "--exit-when-idle -j 1 --grace 60s\n"));
    free(text);

    j.partition = "gpu\n#SBATCH --uid=0";
    assert_int_equal(sched_script(&text, &j), SQ_EINVAL);
    assert_null(text);
    assert_non_null(strstr(sq_error_msg(), "line break"));
    j = base_job(SCHED_SLURM);
    j.grace = 70000;
    assert_int_equal(sched_script(&text, &j), SQ_EINVAL);
    j = base_job(SCHED_SLURM);
    j.array = 0;
    assert_int_equal(sched_script(&text, &j), SQ_EINVAL);
    j = base_job(SCHED_TORQUE);
    j.qos = "high";
    assert_int_equal(sched_script(&text, &j), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "PBS"));

    /* A path with a quote stays one word in the shell part. */
    j = base_job(SCHED_PBS_PRO);
    j.root = "/p/it's here";
    assert_int_equal(sched_script(&text, &j), 0);
    assert_non_null(strstr(text, "cd '/p/it'\\''s here' || exit 1\n"));
    free(text);
}

static void test_states(void **state)
{
    (void)state;
    assert_true(sched_state_active(SCHED_SLURM, "PENDING"));
    assert_true(sched_state_active(SCHED_SLURM, "RUNNING"));
    assert_true(sched_state_active(SCHED_SLURM, "REQUEUED"));
    assert_false(sched_state_active(SCHED_SLURM, "COMPLETED"));
    assert_false(sched_state_active(SCHED_SLURM, "CANCELLED"));
    assert_false(sched_state_active(SCHED_SLURM, "TIMEOUT"));
    assert_true(sched_state_active(SCHED_PBS_PRO, "Q"));
    assert_true(sched_state_active(SCHED_PBS_PRO, "B"));
    assert_false(sched_state_active(SCHED_PBS_PRO, "F"));
    assert_false(sched_state_active(SCHED_PBS_PRO, "X"));
    assert_false(sched_state_active(SCHED_TORQUE, "C"));
}

static void test_kind_names(void **state)
{
    (void)state;
    sched_kind k;
    for (int i = SCHED_SLURM; i <= SCHED_TORQUE; i++) {
        assert_int_equal(sched_kind_parse(&k, sched_kind_name((sched_kind)i)), 0);
        assert_int_equal(k, i);
    }
    assert_int_equal(sched_kind_parse(&k, "lsf"), SQ_EINVAL);
}

static void test_local_fs_is_not_network(void **state)
{
    (void)state;
    const char *name = "x";
    assert_int_equal(sched_network_fs(&name, tmpdir), 0);
    assert_null(name);
    char *missing = xasprintf("%s/none/such", tmpdir);
    assert_int_equal(sched_network_fs(&name, missing), SQ_EIO);
    free(missing);
}

/* The numbers are written out from each file system's sources (statfs(2),
 * <linux/magic.h>, Lustre's, GPFS's, BeeGFS's), not taken from the table. */
static void test_network_fs_magic_numbers_are_named(void **state)
{
    (void)state;
    assert_string_equal(sched_network_fs_name(0x6969), "NFS");
    assert_string_equal(sched_network_fs_name(0xFF534D42L), "CIFS");
    assert_string_equal(sched_network_fs_name(0xFE534D42L), "SMB2");
    assert_string_equal(sched_network_fs_name(0x517B), "SMB");
    assert_string_equal(sched_network_fs_name(0x0BD00BD0), "Lustre");
    assert_string_equal(sched_network_fs_name(0x47504653), "GPFS");
    assert_string_equal(sched_network_fs_name(0x19830326), "BeeGFS");
    assert_string_equal(sched_network_fs_name(0x00C36400), "CephFS");
    assert_string_equal(sched_network_fs_name(0x5346414F), "AFS"); /* OpenAFS */
    assert_string_equal(sched_network_fs_name(0x6B414653), "AFS"); /* the kernel's kAFS */
}

static void test_sign_extended_magic_is_still_network(void **state)
{
    (void)state;
    /* A 32-bit f_type of CIFS or SMB2 has its top bit set: negative once
     * widened from a signed word. */
    assert_string_equal(sched_network_fs_name((long)(int32_t)0xFF534D42U), "CIFS");
    assert_string_equal(sched_network_fs_name((long)(int32_t)0xFE534D42U), "SMB2");
}

static void test_local_fs_magic_numbers_are_not_network(void **state)
{
    (void)state;
    assert_null(sched_network_fs_name(0xEF53));      /* ext2/3/4 */
    assert_null(sched_network_fs_name(0x58465342));  /* xfs */
    assert_null(sched_network_fs_name(0x01021994));  /* tmpfs */
    assert_null(sched_network_fs_name(0x9123683EL)); /* btrfs */
    assert_null(sched_network_fs_name(0x794C7630));  /* overlayfs */
    assert_null(sched_network_fs_name(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_round_trip),
        cmocka_unit_test(test_script_refusals),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_local_fs_is_not_network),
        cmocka_unit_test(test_network_fs_magic_numbers_are_named),
        cmocka_unit_test(test_sign_extended_magic_is_still_network),
        cmocka_unit_test(test_local_fs_magic_numbers_are_not_network),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
