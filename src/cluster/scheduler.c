/*
 * scheduler.c - job scripts for Slurm, PBS Pro and Torque, and the
 * schedulers' commands (sbatch/squeue/scancel, qsub/qstat/qdel) run as
 * children with their output captured. See scheduler.h.
 *
 * Invariants:
 *   - A script is built from the request alone (no clock, no environment),
 *     so the same request always gives the same bytes: the PBS tests
 *     compare scripts with reviewed files.
 *   - Every value written into a directive or the shell part is checked to
 *     hold no newline; values in the shell part are shell-quoted.
 *   - Commands are run from an argv (run_command, never through a shell),
 *     their output bounded by SCHED_MAX_OUTPUT.
 */
#include "util/common.h"

#include "agent/run.h"
#include "agent/spawn.h"
#include "cluster/scheduler.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#define SCHED_MAX_OUTPUT ((size_t)16 << 20)

static const char *const kind_names[] = {"slurm", "pbs-pro", "torque"};

const char *sched_kind_name(sched_kind k)
{
    return kind_names[k];
}

int sched_kind_parse(sched_kind *out, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
        if (!strcmp(name, kind_names[i])) {
            *out = (sched_kind)i;
            return 0;
        }
    }
    return sq_error_set(SQ_EINVAL, "unknown scheduler '%s': use slurm, pbs-pro or torque", name);
}

/* ------------------------------------------------------------------ scripts */

static int check_line(const char *what, const char *value)
{
    if (value && strpbrk(value, "\n\r"))
        return sq_error_set(SQ_EINVAL, "invalid %s '%s': it holds a line break", what, value);
    return 0;
}

/* "HH:MM:SS" (hours may pass 24; PBS and Slurm both read that). */
static void format_hms(char *buf, size_t size, double seconds)
{
    unsigned long long s = (unsigned long long)(seconds + 0.5);
    snprintf(buf, size, "%02llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
}

/* Memory in whole MiB, rounded up: the unit every scheduler takes. */
static unsigned long long mem_mib(uint64_t bytes)
{
    return (unsigned long long)((bytes + ((uint64_t)1 << 20) - 1) >> 20);
}

/* One directive line per line of extra text; blank lines are skipped. */
static void add_extra(strbuf *sb, const char *prefix, const char *extra)
{
    const char *p = extra;
    while (p && *p) {
        size_t n = strcspn(p, "\n");
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        if (n)
            sb_addf(sb, "%s %.*s\n", prefix, (int)n, s);
        p = s + n;
        if (*p == '\n')
            p++;
    }
}

/* The shell part every script ends with: into the project, then the agent.
 * A store URL with a password goes to the agent in $SWEEPQ_STORE, not in
 * its argv, which every user of the node can read in /proc. */
static void add_agent(strbuf *sb, const sched_job *j, double agent_grace)
{
    char grace[32];
    bool secret = store_url_has_password(j->store_url);
    snprintf(grace, sizeof grace, "%llds", (long long)(agent_grace + 0.5));
    sb_adds(sb, "cd ");
    sb_add_shell_quoted(sb, j->root);
    sb_adds(sb, " || exit 1\n");
    if (secret) {
        sb_adds(sb, "SWEEPQ_STORE=");
        sb_add_shell_quoted(sb, j->store_url);
        sb_adds(sb, " ");
    }
    sb_adds(sb, "exec ");
    sb_add_shell_quoted(sb, j->sweepq);
    sb_adds(sb, " agent --sweep ");
    sb_add_shell_quoted(sb, j->sweep);
    sb_addf(sb, " --exit-when-idle -j %d --grace %s", j->cpus > 0 ? j->cpus : 1, grace);
    if (j->max_trials > 0)
        sb_addf(sb, " --max-trials %d", j->max_trials);
    if (j->store_url && !secret) {
        sb_adds(sb, " --store ");
        sb_add_shell_quoted(sb, j->store_url);
    }
    sb_addc(sb, '\n');
}

static void slurm_script(strbuf *sb, const sched_job *j)
{
    char buf[64];
    sb_adds(sb, "#!/bin/bash\n");
    sb_addf(sb, "#SBATCH --job-name=sweepq-%s\n", j->sweep);
    sb_addf(sb, "#SBATCH --array=0-%d\n", j->array - 1);
    sb_addf(sb, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", j->jobs_dir);
    sb_adds(sb, "#SBATCH --open-mode=append\n");
    sb_addf(sb, "#SBATCH --signal=B:USR1@%lld\n", (long long)(j->grace + 0.5));
    sb_adds(sb, "#SBATCH --requeue\n");
    if (j->time > 0) {
        format_hms(buf, sizeof buf, j->time);
        sb_addf(sb, "#SBATCH --time=%s\n", buf);
    }
    if (j->partition)
        sb_addf(sb, "#SBATCH --partition=%s\n", j->partition);
    if (j->account)
        sb_addf(sb, "#SBATCH --account=%s\n", j->account);
    if (j->qos)
        sb_addf(sb, "#SBATCH --qos=%s\n", j->qos);
    sb_addf(sb, "#SBATCH --cpus-per-task=%d\n", j->cpus > 0 ? j->cpus : 1);
    if (j->mem)
        sb_addf(sb, "#SBATCH --mem=%lluM\n", mem_mib(j->mem));
    if (j->gpus_per_task > 0)
        sb_addf(sb, "#SBATCH --gres=gpu:%d\n", j->gpus_per_task);
    add_extra(sb, "#SBATCH", j->extra);
    sb_addf(sb,
            "#\n"
            "# Written by 'sweepq submit %s': each array task runs one agent until the\n"
            "# sweep has nothing left to claim. On USR1 (%llds before the time limit)\n"
            "# the agent stops its trials (SIGUSR1 first: their cue to checkpoint),\n"
            "# records them as preempted and requeues this job.\n",
            j->sweep, (long long)(j->grace + 0.5));
    sb_adds(sb, "export SWEEPQ_REQUEUE=1\n");
    add_agent(sb, j, j->grace / 2);
}

static void pbs_script(strbuf *sb, const sched_job *j)
{
    char buf[64];
    bool pro = j->kind == SCHED_PBS_PRO;
    sb_adds(sb, "#!/bin/bash\n");
    sb_addf(sb, "#PBS -N sweepq-%s\n", j->sweep);
    if (j->array > 1)
        sb_addf(sb, "#PBS %s 0-%d\n", pro ? "-J" : "-t", j->array - 1);
    sb_adds(sb, "#PBS -j oe\n");
    sb_addf(sb, "#PBS -o %s/\n", j->jobs_dir);
    sb_adds(sb, "#PBS -r y\n");
    if (j->time > 0) {
        format_hms(buf, sizeof buf, j->time);
        sb_addf(sb, "#PBS -l walltime=%s\n", buf);
    }
    int cpus = j->cpus > 0 ? j->cpus : 1;
    if (pro) {
        sb_addf(sb, "#PBS -l select=1:ncpus=%d", cpus);
        if (j->mem)
            sb_addf(sb, ":mem=%llumb", mem_mib(j->mem));
        if (j->gpus_per_task > 0)
            sb_addf(sb, ":ngpus=%d", j->gpus_per_task);
        sb_addc(sb, '\n');
    } else {
        sb_addf(sb, "#PBS -l nodes=1:ppn=%d", cpus);
        if (j->gpus_per_task > 0)
            sb_addf(sb, ":gpus=%d", j->gpus_per_task);
        sb_addc(sb, '\n');
        if (j->mem)
            sb_addf(sb, "#PBS -l mem=%llumb\n", mem_mib(j->mem));
    }
    if (j->partition)
        sb_addf(sb, "#PBS -q %s\n", j->partition);
    if (j->account)
        sb_addf(sb, "#PBS -A %s\n", j->account);
    add_extra(sb, "#PBS", j->extra);
    sb_addf(sb,
            "#\n"
            "# Written by 'sweepq submit %s': each array task runs one agent until the\n"
            "# sweep has nothing left to claim. At the walltime the agent gets SIGTERM\n"
            "# and puts its running trials back (preempted) for the next job.\n",
            j->sweep);
    add_agent(sb, j, j->grace / 2);
}

int sched_script(char **out, const sched_job *j)
{
    strbuf sb = SB_INIT;
    int rc;
    *out = NULL;
    if ((rc = check_line("sweep name", j->sweep)) || (rc = check_line("directory", j->root)) ||
        (rc = check_line("directory", j->jobs_dir)) || (rc = check_line("path", j->sweepq)) ||
        (rc = check_line("store URL", j->store_url)) ||
        (rc = check_line("partition", j->partition)) || (rc = check_line("account", j->account)) ||
        (rc = check_line("QOS", j->qos)))
        return rc;
    if (j->array < 1 || j->cpus < 0 || j->gpus_per_task < 0)
        return sq_error_set(SQ_EINVAL, "invalid job: --array, --cpus and --gpus-per-task take "
                                       "positive numbers");
    if (j->kind == SCHED_SLURM) {
        if (j->grace < 1 || j->grace > 65535)
            return sq_error_set(SQ_EINVAL,
                                "invalid grace period of %.0f s: Slurm signals 1 to 65535 s "
                                "before the limit",
                                j->grace);
        slurm_script(&sb, j);
    } else {
        if (j->qos)
            return sq_error_set(SQ_EINVAL,
                                "cannot use QOS '%s' with PBS: it has no QOS; pass "
                                "it with --extra if your site has a resource for it",
                                j->qos);
        pbs_script(&sb, j);
    }
    *out = sb_detach(&sb);
    return 0;
}

/* ----------------------------------------------------------------- commands */

/* Whether name is an executable file in PATH. */
static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    bool found = false;
    while (!found && *path) {
        size_t n = strcspn(path, ":");
        char *full = xasprintf("%.*s/%s", (int)(n ? n : 1), n ? path : ".", name);
        found = access(full, X_OK) == 0;
        free(full);
        path += n;
        if (*path == ':')
            path++;
    }
    return found;
}

/* Runs argv in cwd (NULL: here) to its end, its output captured into *r
 * (which this inits; the caller releases it): run_command, with no time
 * limit, as the scheduler's own commands have none. */
static int capture(run_result *r, char *const *argv, const char *cwd)
{
    run_result_init(r, SCHED_MAX_OUTPUT);
    return run_command(r, argv, cwd, NULL, 0);
}

/* The last non-empty line of text, trimmed, into a new string. */
static char *last_line(const char *text)
{
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    return xstrndup(start, (size_t)(end - start));
}

/* "sbatch failed (exit status 1): MESSAGE" from a finished command. */
static int command_failed(const run_result *r, const char *what)
{
    char buf[128];
    spawn_status st = {r->exit_code, r->term_signal};
    char *msg = last_line(sb_str(&r->err));
    if (!*msg) {
        free(msg);
        msg = last_line(sb_str(&r->out));
    }
    int rc = sq_error_set(SQ_ERROR, "%s failed (%s)%s%s", what,
                          spawn_status_text(&st, buf, sizeof buf), *msg ? ": " : "", msg);
    free(msg);
    return rc;
}

int sched_pbs_flavor(sched_kind *out)
{
    static const char *const probes[][2] = {{"qstat", "--version"}, {"pbsnodes", "--version"}};
    for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
        if (!in_path(probes[i][0]))
            continue;
        char *argv[] = {(char *)probes[i][0], (char *)probes[i][1], NULL};
        run_result r;
        if (capture(&r, argv, NULL)) {
            run_result_release(&r);
            continue;
        }
        const char *text = sb_str(&r.out);
        if (!*text)
            text = sb_str(&r.err);
        int found = strstr(text, "pbs_version") ? 1 : strstr(text, "Version:") ? 2 : 0;
        run_result_release(&r);
        if (found) {
            *out = found == 1 ? SCHED_PBS_PRO : SCHED_TORQUE;
            return 0;
        }
    }
    return sq_error_set(SQ_ENOTFOUND, "cannot tell PBS Pro from Torque: neither 'qstat --version' "
                                      "nor 'pbsnodes --version' says; pass --pbs-flavor pro or "
                                      "--pbs-flavor torque");
}

int sched_detect(sched_kind *out)
{
    bool slurm = in_path("sbatch"), pbs = in_path("qsub");
    if (slurm && pbs)
        return sq_error_set(SQ_ECONFLICT, "cannot choose a scheduler: both sbatch (Slurm) and qsub "
                                          "(PBS) are installed; pass --slurm or --pbs, or set "
                                          "submit.scheduler in .sweepq/config.yaml");
    if (slurm) {
        *out = SCHED_SLURM;
        return 0;
    }
    if (pbs)
        return sched_pbs_flavor(out);
    return sq_error_set(SQ_ENOTFOUND, "cannot find a scheduler: neither sbatch (Slurm) nor qsub "
                                      "(PBS) is in PATH; run this on the cluster's login node");
}

int sched_submit(char **out_id, sched_kind kind, const char *script_path, const char *cwd)
{
    char *slurm_argv[] = {"sbatch", "--parsable", (char *)script_path, NULL};
    char *pbs_argv[] = {"qsub", (char *)script_path, NULL};
    run_result r;
    *out_id = NULL;
    int rc = capture(&r, kind == SCHED_SLURM ? slurm_argv : pbs_argv, cwd);
    if (rc)
        goto cleanup;
    if (r.exit_code != 0) {
        rc = command_failed(&r, kind == SCHED_SLURM ? "sbatch" : "qsub");
        goto cleanup;
    }
    /* sbatch --parsable prints "ID" or "ID;CLUSTER"; qsub prints "ID.SERVER". */
    char *id = last_line(sb_str(&r.out));
    id[strcspn(id, kind == SCHED_SLURM ? "; \t" : " \t")] = '\0';
    if (!*id) {
        free(id);
        rc =
            sq_error_set(SQ_ERROR, "%s printed no job id", kind == SCHED_SLURM ? "sbatch" : "qsub");
        goto cleanup;
    }
    *out_id = id;
cleanup:
    run_result_release(&r);
    return rc;
}

bool sched_state_active(sched_kind kind, const char *state)
{
    static const char *const slurm_ended[] = {
        "COMPLETED", "CANCELLED",     "FAILED",       "TIMEOUT",  "PREEMPTED", "NODE_FAIL",
        "BOOT_FAIL", "OUT_OF_MEMORY", "SPECIAL_EXIT", "DEADLINE", "REVOKED",
    };
    if (kind != SCHED_SLURM) /* F: finished job, X: finished subjob (PBS Pro), C: Torque */
        return strcmp(state, "F") && strcmp(state, "X") && strcmp(state, "C");
    for (size_t i = 0; i < ARRAY_SIZE(slurm_ended); i++)
        if (!strcmp(state, slurm_ended[i]))
            return false;
    return true;
}

int sched_cancel(sched_kind kind, const char *const *ids, size_t nids)
{
    if (!nids)
        return 0;
    char **argv = xcalloc(nids + 2, sizeof *argv);
    argv[0] = kind == SCHED_SLURM ? "scancel" : "qdel";
    for (size_t i = 0; i < nids; i++)
        argv[i + 1] = (char *)ids[i];
    run_result r;
    int rc = capture(&r, argv, NULL);
    if (!rc && r.exit_code != 0)
        rc = command_failed(&r, argv[0]);
    run_result_release(&r);
    free(argv);
    return rc;
}

void sched_rows_free(sched_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].job);
        free(rows[i].task);
        free(rows[i].state);
        free(rows[i].time);
        free(rows[i].reason);
    }
    free(rows);
}

/* Splits line into at most max fields at sep (sep 0: runs of blanks). */
static size_t split_fields(char **fields, size_t max, char *line, char sep)
{
    size_t n = 0;
    char *p = line;
    while (n < max && *p) {
        if (!sep)
            while (*p == ' ' || *p == '\t')
                p++;
        if (!*p)
            break;
        fields[n++] = p;
        if (n == max) /* the last field keeps the rest of the line */
            break;
        size_t len = sep ? strcspn(p, (char[]){sep, 0}) : strcspn(p, " \t");
        if (!p[len])
            break;
        p[len] = '\0';
        p += len + 1;
    }
    return n;
}

static ssize_t find_id(const char *const *ids, size_t nids, const char *id, size_t len)
{
    for (size_t i = 0; i < nids; i++)
        if (strlen(ids[i]) == len && !strncmp(ids[i], id, len))
            return (ssize_t)i;
    return -1;
}

static void add_row(sched_row **rows, size_t *n, size_t *cap, const char *job, const char *task,
                    const char *state, const char *time, const char *reason)
{
    XGROW(*rows, *cap, *n + 1);
    (*rows)[(*n)++] =
        (sched_row){xstrdup(job), xstrdup(task), xstrdup(state), xstrdup(time), xstrdup(reason)};
}

/* squeue lines "ARRAYJOB|TASK|STATE|TIME|REASON" of this user's jobs. */
static void parse_squeue(sched_row **rows, size_t *n, size_t *cap, char *text,
                         const char *const *ids, size_t nids)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[5];
        if (split_fields(f, 5, line, '|') != 5)
            continue;
        ssize_t k = find_id(ids, nids, f[0], strlen(f[0]));
        if (k < 0)
            continue;
        add_row(rows, n, cap, ids[k], strcmp(f[1], "N/A") ? f[1] : "", f[2], f[3], f[4]);
    }
}

/* qstat's table: "ID NAME USER TIME S QUEUE" after a line of dashes. An
 * array task's id is "123[4].server"; the array's own is "123[].server". */
static void parse_qstat(sched_row **rows, size_t *n, size_t *cap, char *text,
                        const char *const *ids, size_t nids)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[6];
        if (split_fields(f, 6, line, 0) != 6 || f[0][0] == '-' || !strcmp(f[0], "Job"))
            continue;
        const char *id = f[0];
        const char *open = strchr(id, '['), *close = open ? strchr(open, ']') : NULL;
        char *task = open && close ? xstrndup(open + 1, (size_t)(close - open - 1)) : xstrdup("");
        /* The recorded id of the job this line belongs to: "123[]" + suffix,
         * or the id itself for a job that is not an array. */
        char *job =
            open && close ? xasprintf("%.*s[]%s", (int)(open - id), id, close + 1) : xstrdup(id);
        ssize_t k = find_id(ids, nids, job, strlen(job));
        if (k < 0) { /* qstat may shorten the server name: match the number */
            size_t num = strcspn(id, "[.");
            for (size_t i = 0; i < nids && k < 0; i++)
                if (strncmp(ids[i], id, num) == 0 && strchr("[.", ids[i][num]))
                    k = (ssize_t)i;
        }
        if (k >= 0 && !(*task == '\0' && open))
            add_row(rows, n, cap, ids[k], task, f[4], f[3], "");
        free(task);
        free(job);
    }
}

int sched_queue(sched_row **out, size_t *n, sched_kind kind, const char *const *ids, size_t nids)
{
    sched_row *rows = NULL;
    size_t count = 0, cap = 0;
    run_result r;
    int rc = 0;
    *out = NULL;
    *n = 0;
    if (!nids)
        return 0;
    if (kind == SCHED_SLURM) {
        /* Not -j: squeue fails outright when one id has left its memory. */
        char *argv[] = {"squeue", "-h", "--me", "--states=all", "-o", "%F|%K|%T|%M|%R", NULL};
        rc = capture(&r, argv, NULL);
        if (!rc && r.exit_code != 0)
            rc = command_failed(&r, "squeue");
        if (!rc)
            parse_squeue(&rows, &count, &cap, r.out.buf ? r.out.buf : "", ids, nids);
    } else {
        char **argv = xcalloc(nids + 4, sizeof *argv);
        size_t k = 0;
        argv[k++] = "qstat";
        argv[k++] = "-t";
        if (kind == SCHED_PBS_PRO)
            argv[k++] = "-x"; /* finished jobs too */
        for (size_t i = 0; i < nids; i++)
            argv[k++] = (char *)ids[i];
        rc = capture(&r, argv, NULL);
        free(argv);
        /* qstat exits non-zero when some id is unknown but prints the rest. */
        if (!rc && r.exit_code != 0 && !r.out.len)
            rc = command_failed(&r, "qstat");
        if (!rc && r.out.buf)
            parse_qstat(&rows, &count, &cap, r.out.buf, ids, nids);
    }
    run_result_release(&r);
    if (rc) {
        sched_rows_free(rows, count);
        return rc;
    }
    *out = rows;
    *n = count;
    return 0;
}

/* ---------------------------------------------------------- file systems */

/* statfs f_type values of file systems shared between machines. Those not
 * in <linux/magic.h> are from the file systems' own sources. */
static const struct {
    unsigned long magic;
    const char *name;
} network_fs[] = {
    {NFS_SUPER_MAGIC, "NFS"}, {0xFF534D42UL, "CIFS"},     {0xFE534D42UL, "SMB2"},
    {SMB_SUPER_MAGIC, "SMB"}, {0x0BD00BD0UL, "Lustre"},   {0x47504653UL, "GPFS"},
    {0x19830326UL, "BeeGFS"}, {0x00C36400UL, "CephFS"},   {AFS_SUPER_MAGIC, "AFS"},
    {0x6B414653UL, "AFS"},    {0xAAD7AAEAUL, "PanFS"},    {0x7461636FUL, "OCFS2"},
    {0x01161970UL, "GFS2"},   {0x13661366UL, "OrangeFS"}, {CODA_SUPER_MAGIC, "Coda"},
    {0x564CUL, "NCP"},
};

const char *sched_network_fs_name(long f_type)
{
    /* Magic numbers are 32 bits; where f_type is a signed 32-bit word (or
     * was sign-extended from one) 0xFF534D42 arrives negative. */
    unsigned long magic = (unsigned long)(uint32_t)f_type;
    for (size_t i = 0; i < ARRAY_SIZE(network_fs); i++)
        if (magic == network_fs[i].magic)
            return network_fs[i].name;
    return NULL;
}

int sched_network_fs(const char **fs_name, const char *path)
{
    struct statfs s;
    *fs_name = NULL;
    if (statfs(path, &s) != 0)
        return sq_error_set(SQ_EIO, "cannot inspect the file system of '%s': %s", path,
                            strerror(errno));
    *fs_name = sched_network_fs_name((long)s.f_type);
    return *fs_name ? 1 : 0;
}

/* ------------------------------------------------------------- job records */

#define JOBS_FILE "jobs.txt"

void sched_records_free(sched_record *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++) {
        free(recs[i].id);
        free(recs[i].script);
    }
    free(recs);
}

int sched_record_job(const char *jobs_dir, sched_kind kind, const char *id, const char *script)
{
    char *path = xasprintf("%s/" JOBS_FILE, jobs_dir);
    int rc = 0;
    FILE *f = fopen(path, "a");
    if (!f) {
        rc = sq_error_set(SQ_EIO, "cannot record job '%s' in '%s': %s", id, path, strerror(errno));
        goto cleanup;
    }
    fprintf(f, "%s %s %s\n", sched_kind_name(kind), id, script);
    if (fclose(f) != 0)
        rc = sq_error_set(SQ_EIO, "cannot record job '%s' in '%s': %s", id, path, strerror(errno));
cleanup:
    free(path);
    return rc;
}

int sched_read_jobs(sched_record **out, size_t *n, const char *jobs_dir)
{
    char *path = xasprintf("%s/" JOBS_FILE, jobs_dir);
    strbuf sb = SB_INIT;
    sched_record *recs = NULL;
    size_t count = 0, cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    sb_init(&sb, SCHED_MAX_OUTPUT);
    rc = sb_read_file(&sb, path);
    if (rc == SQ_ENOTFOUND) {
        sq_error_clear();
        rc = 0;
        goto cleanup;
    }
    if (rc)
        goto cleanup;
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(sb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[3];
        sched_kind kind = SCHED_SLURM;
        lineno++;
        if (split_fields(f, 3, line, ' ') != 3 || sched_kind_parse(&kind, f[0])) {
            rc =
                sq_error_set(SQ_EINVAL, "%s:%d: not a job record ('KIND ID SCRIPT')", path, lineno);
            goto cleanup;
        }
        XGROW(recs, cap, count + 1);
        recs[count++] = (sched_record){kind, xstrdup(f[1]), xstrdup(f[2])};
    }
    *out = recs;
    *n = count;
    recs = NULL;
cleanup:
    sched_records_free(recs, count);
    sb_release(&sb);
    free(path);
    return rc;
}
