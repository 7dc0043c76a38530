/*
 * gpu.c - GPU discovery (snapshot, NVML, nvidia-smi, none) and the
 * visibility rules; see gpu.h for the order of sources and the invariants.
 *
 * NVML is declared here, not included: the few types and functions used are
 * written out with NVML's documented ABI (nvml.h of CUDA 12) and loaded at
 * run time by dynlib (util/dynlib.h), so the binary has no link-time
 * dependency on the driver. Where NVML has versioned entry points the newest
 * one that takes the structures below is tried first. Each probe loads its
 * own dynlib, since a test names another library; dlopen maps it once.
 */
#include "util/common.h"

#include "agent/gpu.h"
#include "agent/spawn.h"
#include "util/dynlib.h"
#include "util/timeutil.h"
#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <unistd.h>

#define NVML_LIBRARY "libnvidia-ml.so.1"
#define SMI_PROGRAM "nvidia-smi"
#define SMI_TIMEOUT 10.0
#define SMI_MAX_OUTPUT ((size_t)1 << 20)
#define SMI_MAX_STDERR ((size_t)4096)
#define SNAPSHOT_MAX ((size_t)16 << 20)
#define MIB ((uint64_t)1 << 20)

/* ---- tables ------------------------------------------------------------ */

static void info_release(gpu_info *g)
{
    free(g->uuid);
    free(g->name);
    free(g->pci_bus_id);
    free(g->procs);
    free(g->hidden_why);
    memset(g, 0, sizeof *g);
}

void gpu_table_release(gpu_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        info_release(&t->gpus[i]);
    free(t->gpus);
    free(t->tried);
    for (size_t i = 0; i < t->nnotes; i++)
        free(t->notes[i]);
    free(t->notes);
    *t = (gpu_table)GPU_TABLE_INIT;
}

const char *gpu_source_name(gpu_source s)
{
    switch (s) {
    case GPU_SOURCE_SNAPSHOT: return "snapshot";
    case GPU_SOURCE_NVML: return "nvml";
    case GPU_SOURCE_SMI: return "nvidia-smi";
    case GPU_SOURCE_NONE: break;
    }
    return "none";
}

const gpu_info *gpu_table_find(const gpu_table *t, int index)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->gpus[i].index == index)
            return &t->gpus[i];
    return NULL;
}

const gpu_info *gpu_table_find_uuid(const gpu_table *t, const char *uuid)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->gpus[i].uuid, uuid))
            return &t->gpus[i];
    return NULL;
}

void gpu_table_note(gpu_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *note = xvasprintf(fmt, ap);
    va_end(ap);
    t->notes = xrealloc(t->notes, (t->nnotes + 1) * sizeof *t->notes);
    t->notes[t->nnotes++] = note;
}

/* Appends a GPU with its strings copied (NULL strings become ""). */
static gpu_info *table_add(gpu_table *t, int index, const char *uuid, const char *name,
                           const char *bus_id)
{
    t->gpus = xrealloc(t->gpus, (t->n + 1) * sizeof *t->gpus);
    gpu_info *g = &t->gpus[t->n++];
    memset(g, 0, sizeof *g);
    g->index = index;
    g->uuid = xstrdup(uuid ? uuid : "");
    g->name = xstrdup(name ? name : "");
    g->pci_bus_id = xstrdup(bus_id ? bus_id : "");
    g->utilization = -1;
    return g;
}

static void info_add_proc(gpu_info *g, int pid, uint64_t used)
{
    g->procs = xrealloc(g->procs, (g->nprocs + 1) * sizeof *g->procs);
    g->procs[g->nprocs++] = (gpu_proc){pid, -1, used};
}

static void info_hide(gpu_info *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info_hide(gpu_info *g, const char *fmt, ...)
{
    if (g->hidden)
        return;
    va_list ap;
    va_start(ap, fmt);
    g->hidden_why = xvasprintf(fmt, ap);
    va_end(ap);
    g->hidden = true;
}

static int cmp_index(const void *a, const void *b)
{
    const gpu_info *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Sorts by index and refuses repeated indices or UUIDs (the invariants). */
static int table_check(gpu_table *t, const char *what)
{
    if (t->n > 1)
        qsort(t->gpus, t->n, sizeof *t->gpus, cmp_index);
    for (size_t i = 0; i < t->n; i++) {
        if (i > 0 && t->gpus[i].index == t->gpus[i - 1].index)
            return sq_error_set(SQ_EINVAL, "%s: GPU index %d appears twice", what,
                                t->gpus[i].index);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->gpus[i].uuid, t->gpus[j].uuid))
                return sq_error_set(SQ_EINVAL, "%s: GPU UUID '%s' appears twice", what,
                                    t->gpus[i].uuid);
    }
    return 0;
}

/* The process group of pid as this machine's /proc shows it, or -1. */
static int proc_pgid(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    strbuf sb = SB_INIT;
    sb_init(&sb, 4096);
    int pgid = -1;
    if (pid > 0 && sb_read_file(&sb, path) == 0) {
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'. */
        const char *close = strrchr(sb_str(&sb), ')');
        int ppid, pgrp;
        char state;
        if (close && sscanf(close + 1, " %c %d %d", &state, &ppid, &pgrp) == 3)
            pgid = pgrp;
    }
    sb_release(&sb);
    sq_error_clear();
    return pgid;
}

static void table_fill_pgids(gpu_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->gpus[i].nprocs; j++)
            t->gpus[i].procs[j].pgid = proc_pgid(t->gpus[i].procs[j].pid);
}

/* ---- snapshot ---------------------------------------------------------- */

/* Bytes from a JSON integer or a size string ("80GiB"). */
static int json_size(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && units_parse_size(json_string_value(v), out) == 0)
        return 0;
    sq_error_clear();
    return SQ_EINVAL;
}

static const char *const snapshot_gpu_keys[] = {
    "index",       "uuid",        "name",        "pci_bus_id", "memory_total",
    "memory_free", "memory_used", "utilization", "processes",  "hidden",
    "hidden_why",  "usable",      "why_not", /* printed by `sweepq gpus --json`; ignored */
};

static bool known_key(const char *key, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(key, keys[i]))
            return true;
    return false;
}

static int snapshot_procs(gpu_info *g, const json_t *procs, const char *name, size_t gi)
{
    if (!json_is_array(procs))
        return sq_error_set(
            SQ_EINVAL, "bad GPU snapshot '%s': gpus[%zu].processes: expected a list", name, gi);
    size_t pi;
    const json_t *p;
    json_array_foreach(procs, pi, p)
    {
        const char *key;
        const json_t *v;
        if (!json_is_object(p))
            return sq_error_set(SQ_EINVAL,
                                "bad GPU snapshot '%s': gpus[%zu].processes[%zu]: expected an "
                                "object {\"pid\": N, \"used_memory\": SIZE}",
                                name, gi, pi);
        json_object_foreach((json_t *)p, key, v)
        {
            if (strcmp(key, "pid") && strcmp(key, "used_memory"))
                return sq_error_set(SQ_EINVAL,
                                    "bad GPU snapshot '%s': gpus[%zu].processes[%zu]: unknown key "
                                    "'%s' (expected pid, used_memory)",
                                    name, gi, pi, key);
        }
        const json_t *pid = json_object_get(p, "pid");
        const json_t *mem = json_object_get(p, "used_memory");
        uint64_t used = GPU_UNKNOWN;
        if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
            json_integer_value(pid) > INT32_MAX)
            return sq_error_set(SQ_EINVAL,
                                "bad GPU snapshot '%s': gpus[%zu].processes[%zu].pid: expected a "
                                "positive integer",
                                name, gi, pi);
        if (mem && !json_is_null(mem) && json_size(mem, &used))
            return sq_error_set(SQ_EINVAL,
                                "bad GPU snapshot '%s': gpus[%zu].processes[%zu].used_memory: "
                                "expected bytes or a size such as \"10GiB\"",
                                name, gi, pi);
        info_add_proc(g, (int)json_integer_value(pid), used);
    }
    return 0;
}

static int snapshot_gpu(gpu_table *t, const json_t *o, const char *name, size_t gi)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(o))
        return sq_error_set(SQ_EINVAL, "bad GPU snapshot '%s': gpus[%zu]: expected an object", name,
                            gi);
    json_object_foreach((json_t *)o, key, v)
    {
        if (!known_key(key, snapshot_gpu_keys, ARRAY_SIZE(snapshot_gpu_keys)))
            return sq_error_set(SQ_EINVAL,
                                "bad GPU snapshot '%s': gpus[%zu]: unknown key '%s' (see "
                                "docs/gpus.md for the format)",
                                name, gi, key);
    }
    const json_t *index = json_object_get(o, "index");
    const json_t *uuid = json_object_get(o, "uuid");
    const json_t *gname = json_object_get(o, "name");
    const json_t *bus = json_object_get(o, "pci_bus_id");
    const json_t *util = json_object_get(o, "utilization");
    const json_t *hidden = json_object_get(o, "hidden");
    const json_t *hidden_why = json_object_get(o, "hidden_why");
    if (index && (!json_is_integer(index) || json_integer_value(index) < 0 ||
                  json_integer_value(index) > 65535))
        return sq_error_set(SQ_EINVAL,
                            "bad GPU snapshot '%s': gpus[%zu].index: expected an integer 0-65535",
                            name, gi);
    if (!json_is_string(uuid) || !json_string_length(uuid))
        return sq_error_set(SQ_EINVAL,
                            "bad GPU snapshot '%s': gpus[%zu].uuid: expected a string such as "
                            "\"GPU-8932f937-d72c-4106-c12f-20bd9faed9f6\"",
                            name, gi);
    if ((gname && !json_is_string(gname)) || (bus && !json_is_string(bus)))
        return sq_error_set(SQ_EINVAL,
                            "bad GPU snapshot '%s': gpus[%zu]: name and pci_bus_id are "
                            "strings",
                            name, gi);
    if (util && !json_is_null(util) &&
        (!json_is_integer(util) || json_integer_value(util) < 0 || json_integer_value(util) > 100))
        return sq_error_set(SQ_EINVAL,
                            "bad GPU snapshot '%s': gpus[%zu].utilization: expected a percentage "
                            "0-100",
                            name, gi);
    if (hidden && !json_is_boolean(hidden))
        return sq_error_set(SQ_EINVAL,
                            "bad GPU snapshot '%s': gpus[%zu].hidden: expected true or "
                            "false",
                            name, gi);

    gpu_info *g =
        table_add(t, index ? (int)json_integer_value(index) : (int)gi, json_string_value(uuid),
                  gname ? json_string_value(gname) : "", bus ? json_string_value(bus) : "");
    if (util && json_is_integer(util))
        g->utilization = (int)json_integer_value(util);
    int rc = 0;
    const json_t *procs = json_object_get(o, "processes");
    if (procs && (rc = snapshot_procs(g, procs, name, gi)))
        return rc;

    static const char *const mem_keys[] = {"memory_total", "memory_free", "memory_used"};
    uint64_t mem[3];
    bool have[3];
    for (size_t k = 0; k < 3; k++) {
        const json_t *m = json_object_get(o, mem_keys[k]);
        have[k] = m != NULL;
        if (m && json_size(m, &mem[k]))
            return sq_error_set(SQ_EINVAL,
                                "bad GPU snapshot '%s': gpus[%zu].%s: expected bytes or a size "
                                "such as \"80GiB\"",
                                name, gi, mem_keys[k]);
    }
    if (!have[0])
        return sq_error_set(SQ_EINVAL, "bad GPU snapshot '%s': gpus[%zu]: memory_total is missing",
                            name, gi);
    /* The figure left out follows from the others; with neither, the
     * processes' memory is what is used. */
    if (!have[2]) {
        if (have[1]) {
            mem[2] = mem[1] <= mem[0] ? mem[0] - mem[1] : 0;
        } else {
            mem[2] = 0;
            for (size_t p = 0; p < g->nprocs; p++)
                if (g->procs[p].used != GPU_UNKNOWN)
                    mem[2] += g->procs[p].used;
        }
    }
    if (!have[1])
        mem[1] = mem[2] <= mem[0] ? mem[0] - mem[2] : 0;
    if (mem[1] > mem[0] || mem[2] > mem[0])
        return sq_error_set(SQ_EINVAL,
                            "bad GPU snapshot '%s': gpus[%zu]: free or used memory is more than "
                            "memory_total",
                            name, gi);
    g->total = mem[0];
    g->free = mem[1];
    g->used = mem[2];
    if (hidden && json_is_true(hidden))
        info_hide(g, "%s",
                  json_is_string(hidden_why) ? json_string_value(hidden_why)
                                             : "hidden in the snapshot");
    return 0;
}

int gpu_parse_snapshot(gpu_table *out, const char *text, const char *name)
{
    gpu_table t = GPU_TABLE_INIT;
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!root) {
        rc = sq_error_set(SQ_EINVAL, "bad GPU snapshot '%s': line %d: %s", name, jerr.line,
                          jerr.text);
        goto out;
    }
    /* The object `sweepq gpus --json` prints, or just its list of GPUs. */
    const json_t *gpus = json_is_array(root) ? root : json_object_get(root, "gpus");
    if (!json_is_array(gpus)) {
        rc = sq_error_set(
            SQ_EINVAL, "bad GPU snapshot '%s': expected {\"gpus\": [...]} or a list of GPUs", name);
        goto out;
    }
    t.source = GPU_SOURCE_SNAPSHOT;
    t.tried = xstrdup("");
    size_t i;
    const json_t *o;
    json_array_foreach(gpus, i, o)
    {
        if ((rc = snapshot_gpu(&t, o, name, i)))
            goto out;
    }
    char *what = xasprintf("bad GPU snapshot '%s'", name);
    rc = table_check(&t, what);
    free(what);
out:
    json_decref(root);
    if (rc)
        gpu_table_release(&t);
    *out = t;
    return rc;
}

/* ---- nvidia-smi output ------------------------------------------------- */

/* Splits line at commas into at most max trimmed fields (in place).
 * Returns how many there were (may be more than max: the rest are lost). */
static size_t csv_split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (isspace((unsigned char)*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (n < max)
            fields[n] = p;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

/* nvidia-smi writes "[N/A]", "[Not Supported]" or "N/A" for what it cannot
 * tell. */
static bool smi_unknown(const char *s)
{
    return !*s || s[0] == '[' || !strcmp(s, "N/A");
}

/* A whole number from nvidia-smi; false for unknown or malformed text. */
static bool smi_number(const char *s, uint64_t *out)
{
    if (smi_unknown(s) || !isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static int smi_gpu_line(gpu_table *t, char *line, size_t lineno)
{
    enum { F_INDEX, F_UUID, F_NAME, F_TOTAL, F_FREE, F_USED, F_UTIL, F_BUS, NF };
    char *f[16];
    size_t n = csv_split(line, f, ARRAY_SIZE(f));
    if (n < NF || n > ARRAY_SIZE(f))
        return sq_error_set(SQ_EINVAL, "line %zu: expected %d fields, got %zu", lineno, NF, n);
    /* A name with commas in it spreads over several fields: join them. */
    size_t extra = n - NF;
    strbuf name = SB_INIT;
    sb_adds(&name, f[F_NAME]);
    for (size_t k = 1; k <= extra; k++) {
        sb_adds(&name, ", ");
        sb_adds(&name, f[F_NAME + k]);
    }
    char **rest = f + extra; /* F_TOTAL.. shifted by the extra fields */
    uint64_t index, total, free_mib, used, util;
    int rc = 0;
    if (!smi_number(f[F_INDEX], &index) || index > 65535) {
        rc = sq_error_set(SQ_EINVAL, "line %zu: bad GPU index '%s'", lineno, f[F_INDEX]);
        goto out;
    }
    if (strncmp(f[F_UUID], "GPU-", 4)) {
        rc = sq_error_set(SQ_EINVAL, "line %zu: bad GPU UUID '%s'", lineno, f[F_UUID]);
        goto out;
    }
    gpu_info *g = table_add(t, (int)index, f[F_UUID], sb_str(&name),
                            smi_unknown(rest[F_BUS]) ? "" : rest[F_BUS]);
    bool have_total = smi_number(rest[F_TOTAL], &total);
    bool have_free = smi_number(rest[F_FREE], &free_mib);
    bool have_used = smi_number(rest[F_USED], &used);
    if (smi_number(rest[F_UTIL], &util) && util <= 100)
        g->utilization = (int)util;
    if (!have_total || !have_free) {
        /* Without these no trial can be placed on it safely. */
        info_hide(g, "nvidia-smi does not report its memory (total '%s', free '%s')", rest[F_TOTAL],
                  rest[F_FREE]);
        goto out;
    }
    g->total = total * MIB;
    g->free = free_mib * MIB;
    if (g->free > g->total)
        g->free = g->total;
    g->used = have_used ? used * MIB : g->total - g->free;
out:
    sb_release(&name);
    return rc;
}

static int smi_app_line(gpu_table *t, char *line, size_t lineno)
{
    char *f[4];
    size_t n = csv_split(line, f, ARRAY_SIZE(f));
    if (n != 3)
        return sq_error_set(SQ_EINVAL, "compute apps line %zu: expected 3 fields, got %zu", lineno,
                            n);
    uint64_t pid, used;
    if (!smi_number(f[1], &pid) || pid == 0 || pid > INT32_MAX)
        return sq_error_set(SQ_EINVAL, "compute apps line %zu: bad pid '%s'", lineno, f[1]);
    for (size_t i = 0; i < t->n; i++) {
        if (!strcmp(t->gpus[i].uuid, f[0])) {
            info_add_proc(&t->gpus[i], (int)pid,
                          smi_number(f[2], &used) ? used * MIB : GPU_UNKNOWN);
            return 0;
        }
    }
    /* A process on a device --query-gpu did not list (a MIG instance): its
     * memory already shows in the parent GPU's figures. */
    return 0;
}

/* Calls fn on each non-empty line of text (copied, so fn may cut it up). */
static int for_each_line(gpu_table *t, const char *text, int (*fn)(gpu_table *, char *, size_t))
{
    char *copy = xstrdup(text ? text : "");
    char *save = NULL;
    size_t lineno = 0;
    int rc = 0;
    /* strtok_r skips empty lines, which nvidia-smi does not write anyway. */
    for (char *line = strtok_r(copy, "\r\n", &save); line && !rc;
         line = strtok_r(NULL, "\r\n", &save)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p)
            rc = fn(t, p, lineno);
    }
    free(copy);
    return rc;
}

int gpu_parse_smi(gpu_table *out, const char *gpus_csv, const char *apps_csv)
{
    gpu_table t = GPU_TABLE_INIT;
    t.source = GPU_SOURCE_SMI;
    t.tried = xstrdup("");
    int rc = for_each_line(&t, gpus_csv, smi_gpu_line);
    if (!rc)
        rc = table_check(&t, "nvidia-smi");
    if (!rc)
        rc = for_each_line(&t, apps_csv, smi_app_line);
    if (rc)
        gpu_table_release(&t);
    *out = t;
    return rc;
}

/* ---- nvidia-smi, the process ------------------------------------------- */

/* The first non-blank line of s, trimmed, at most 200 bytes; caller frees. */
static char *first_line(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strcspn(s, "\r\n");
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n > 200 ? 200 : n);
}

/* Reads what is available on *fd into sb and closes *fd at end of file.
 * Past sb's maximum the rest is dropped (drop_excess) or false returned. */
static bool drain_fd(int *fd, strbuf *sb, bool drop_excess)
{
    char chunk[8192];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return true;
    }
    size_t room = sb->max - sb->len;
    if ((size_t)n > room) {
        if (!drop_excess)
            return false;
        n = (ssize_t)room;
    }
    sb_add(sb, chunk, (size_t)n);
    return true;
}

/*
 * Runs `program query --format=...` without a shell, its stdout captured
 * into out. Returns 0 when it exited 0; otherwise SQ_ERROR with *why (caller
 * frees) saying what went wrong. The child leads its own process group, dies
 * with this process, and is killed with its group when it passes timeout.
 */
static int smi_run(strbuf *out, char **why, const char *program, const char *query, double timeout)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    strbuf err = SB_INIT;
    sb_init(&err, SMI_MAX_STDERR);
    pid_t pid = -1;
    int rc = SQ_ERROR, spawn_errno = 0;
    *why = NULL;
    char *argv[] = {(char *)program, (char *)query, GPU_SMI_FORMAT, NULL};

    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        *why = xasprintf("cannot make a pipe: %s", strerror(errno));
        goto out;
    }
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.stdout_fd = outp[1];
    o.stderr_fd = errp[1];
    o.new_pgroup = true;
    o.die_with_parent = true;
    if (spawn_start(&pid, &spawn_errno, &o) < 0) {
        if (spawn_errno == ENOENT)
            *why = xstrdup(strchr(program, '/') ? "not found" : "not found in PATH");
        else
            *why = xstrdup(sq_error_msg());
        sq_error_clear();
        pid = -1;
        goto out;
    }
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;

    double deadline = time_mono() + timeout;
    bool too_big = false, timed_out = false;
    while ((outp[0] >= 0 || errp[0] >= 0) && !too_big) {
        double left = deadline - time_mono();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pf[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        int np = poll(pf, 2, (int)(left * 1000) + 1);
        if (np < 0 && errno != EINTR) {
            *why = xasprintf("cannot read its output: %s", strerror(errno));
            break;
        }
        if (np <= 0)
            continue;
        if (outp[0] >= 0 && pf[0].revents)
            too_big = !drain_fd(&outp[0], out, false);
        if (errp[0] >= 0 && pf[1].revents)
            drain_fd(&errp[0], &err, true);
    }
    spawn_status st = {0, 0};
    /* Output closed: the process should end at once; give it until the
     * deadline, not forever. */
    int reaped = 0;
    double pause = 0.001;
    while (!too_big && !timed_out && !*why && (reaped = spawn_reap(pid, false, &st)) == 0) {
        if (time_mono() >= deadline) {
            timed_out = true;
            break;
        }
        time_sleep(pause);
        pause = pause < 0.02 ? pause * 2 : pause;
    }
    if (reaped != 1) {
        spawn_signal_group(pid, SIGKILL);
        spawn_reap(pid, true, &st);
    }
    pid = -1;
    if (*why)
        goto out;
    if (timed_out) {
        *why = xasprintf("timed out after %gs", timeout);
    } else if (too_big) {
        *why = xasprintf("printed more than %zu bytes", out->max);
    } else if (st.exit_code != 0) {
        char status[64];
        char *line = first_line(err.len ? sb_str(&err) : sb_str(out));
        *why = xasprintf("%s%s%s", spawn_status_text(&st, status, sizeof status), *line ? ": " : "",
                         line);
        free(line);
    } else {
        rc = 0;
    }
out:
    for (int k = 0; k < 2; k++) {
        if (outp[k] >= 0)
            close(outp[k]);
        if (errp[k] >= 0)
            close(errp[k]);
    }
    sb_release(&err);
    return rc;
}

/* Both queries; 0 with *out filled, or SQ_ERROR with *why. */
static int smi_read(gpu_table *out, char **why, const char *program, double timeout)
{
    strbuf gpus = SB_INIT, apps = SB_INIT;
    sb_init(&gpus, SMI_MAX_OUTPUT);
    sb_init(&apps, SMI_MAX_OUTPUT);
    int rc = smi_run(&gpus, why, program, GPU_SMI_QUERY_GPU, timeout);
    if (!rc)
        rc = smi_run(&apps, why, program, GPU_SMI_QUERY_APPS, timeout);
    if (!rc && (rc = gpu_parse_smi(out, sb_str(&gpus), sb_str(&apps)))) {
        *why = xasprintf("unexpected output: %s", sq_error_msg());
        sq_error_clear();
        rc = SQ_ERROR;
    }
    sb_release(&gpus);
    sb_release(&apps);
    return rc;
}

/* ---- NVML -------------------------------------------------------------- */

/* NVML's ABI, as documented in nvml.h (CUDA 12). */
typedef int nvml_return;
enum {
    NVML_OK = 0,
    NVML_NOT_SUPPORTED = 3,
    NVML_INSUFFICIENT_SIZE = 7,
};
typedef struct nvml_device_st *nvml_device;
typedef struct {
    unsigned long long total, free, used; /* nvmlMemory_t (v1) */
} nvml_memory;
typedef struct {
    unsigned int gpu, memory; /* nvmlUtilization_t */
} nvml_utilization;
typedef struct {
    unsigned int pid; /* nvmlProcessInfo_v1_t */
    unsigned long long used_gpu_memory;
} nvml_process_v1;
typedef struct {
    unsigned int pid; /* nvmlProcessInfo_t: the v2 and v3 calls both take it */
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id, compute_instance_id;
} nvml_process_v2;
typedef struct {
    char bus_id_legacy[16]; /* nvmlPciInfo_t, as the v2 and v3 calls fill it */
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} nvml_pci_info;
#define NVML_UUID_SIZE 96                        /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_NAME_SIZE 96                        /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NVML_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL /* NVML_VALUE_NOT_AVAILABLE */

typedef struct nvml_api {
    dynlib lib;
    /* lib's tables, whose slots are the functions below */
    dynlib_symbol symbols[9], optional[8];
    bool ready; /* nvmlInit succeeded; shut down at the end */
    char *why;  /* why NVML cannot be used, once known */
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    nvml_return (*get_count)(unsigned int *);
    nvml_return (*get_handle)(unsigned int, nvml_device *);
    nvml_return (*get_uuid)(nvml_device, char *, unsigned int);
    nvml_return (*get_memory)(nvml_device, nvml_memory *);
    /* Optional: a driver without them still gives the GPUs and memory. */
    const char *(*error_string)(nvml_return);
    nvml_return (*get_name)(nvml_device, char *, unsigned int);
    nvml_return (*get_utilization)(nvml_device, nvml_utilization *);
    nvml_return (*get_pci)(nvml_device, nvml_pci_info *);
    nvml_return (*get_procs)(nvml_device, unsigned int *, void *);    /* v3 or v2 */
    nvml_return (*get_procs_v1)(nvml_device, unsigned int *, void *); /* older drivers */
    size_t proc_size; /* sizeof the struct get_procs fills */
} nvml_api;

static const char *nvml_error(const nvml_api *n, nvml_return r)
{
    const char *s = n->error_string ? n->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

/* Loads and initialises NVML once; afterwards n->ready or n->why says how it
 * went. */
static void nvml_open(nvml_api *n, const char *library)
{
    /* Each newest entry point is followed by the older name of the drivers
     * from before it (same slot). */
    const dynlib_symbol symbols[] = {
        {"nvmlInit_v2", (void **)&n->init},
        {"nvmlInit", (void **)&n->init},
        {"nvmlShutdown", (void **)&n->shutdown},
        {"nvmlDeviceGetCount_v2", (void **)&n->get_count},
        {"nvmlDeviceGetCount", (void **)&n->get_count},
        {"nvmlDeviceGetHandleByIndex_v2", (void **)&n->get_handle},
        {"nvmlDeviceGetHandleByIndex", (void **)&n->get_handle},
        {"nvmlDeviceGetUUID", (void **)&n->get_uuid},
        {"nvmlDeviceGetMemoryInfo", (void **)&n->get_memory},
    };
    const dynlib_symbol optional[] = {
        {"nvmlErrorString", (void **)&n->error_string},
        {"nvmlDeviceGetName", (void **)&n->get_name},
        {"nvmlDeviceGetUtilizationRates", (void **)&n->get_utilization},
        {"nvmlDeviceGetPciInfo_v3", (void **)&n->get_pci},
        {"nvmlDeviceGetPciInfo_v2", (void **)&n->get_pci},
        {"nvmlDeviceGetComputeRunningProcesses_v3", (void **)&n->get_procs},
        {"nvmlDeviceGetComputeRunningProcesses_v2", (void **)&n->get_procs},
        /* Another slot: it fills the older, smaller struct. */
        {"nvmlDeviceGetComputeRunningProcesses", (void **)&n->get_procs_v1},
    };
    _Static_assert(sizeof symbols == sizeof n->symbols, "nvml_api.symbols is the table's size");
    _Static_assert(sizeof optional == sizeof n->optional, "nvml_api.optional is the table's size");
    memcpy(n->symbols, symbols, sizeof symbols);
    memcpy(n->optional, optional, sizeof optional);
    n->lib = (dynlib){.soname = library,
                      .what = "the NVIDIA management library",
                      .package = NULL, /* it comes with the NVIDIA driver */
                      .symbols = n->symbols,
                      .nsymbols = ARRAY_SIZE(n->symbols),
                      .optional = n->optional,
                      .noptional = ARRAY_SIZE(n->optional)};
    if (dynlib_load(&n->lib) != 0) {
        n->why = xstrdup(sq_error_msg());
        return;
    }
    n->proc_size = sizeof(nvml_process_v2);
    if (!n->get_procs) {
        n->get_procs = n->get_procs_v1;
        n->proc_size = sizeof(nvml_process_v1);
    }
    nvml_return r = n->init();
    if (r != NVML_OK) {
        n->why = xasprintf("nvmlInit failed: %s", nvml_error(n, r));
        return;
    }
    n->ready = true;
}

/* Shuts NVML down if this probe started it; the library stays loaded, as
 * dynlib keeps every library it loaded. */
static void nvml_close(nvml_api *n)
{
    if (n->ready)
        n->shutdown();
    free(n->why);
    memset(n, 0, sizeof *n);
}

/* The compute processes of dev into g; a failure is a note, not an error. */
static void nvml_procs(const nvml_api *n, nvml_device dev, gpu_info *g, gpu_table *t)
{
    if (!n->get_procs)
        return;
    unsigned int cap = 16, count = 0;
    void *buf = NULL;
    nvml_return r = NVML_INSUFFICIENT_SIZE;
    /* The list can grow between calls: retry a few times with room to
     * spare. */
    for (int tries = 0; tries < 4 && r == NVML_INSUFFICIENT_SIZE; tries++) {
        buf = xrealloc(buf, cap * n->proc_size);
        count = cap;
        r = n->get_procs(dev, &count, buf);
        if (r == NVML_INSUFFICIENT_SIZE)
            cap = count + 16;
    }
    if (r != NVML_OK) {
        if (r != NVML_NOT_SUPPORTED)
            gpu_table_note(t, "NVML: GPU %d: cannot list its processes: %s", g->index,
                           nvml_error(n, r));
        free(buf);
        return;
    }
    for (unsigned int i = 0; i < count && i < cap; i++) {
        unsigned int pid;
        unsigned long long used;
        if (n->proc_size == sizeof(nvml_process_v2)) {
            const nvml_process_v2 *p = (const nvml_process_v2 *)buf + i;
            pid = p->pid;
            used = p->used_gpu_memory;
        } else {
            const nvml_process_v1 *p = (const nvml_process_v1 *)buf + i;
            pid = p->pid;
            used = p->used_gpu_memory;
        }
        if (pid == 0 || pid > INT32_MAX)
            continue;
        info_add_proc(g, (int)pid, used == NVML_NOT_AVAILABLE ? GPU_UNKNOWN : (uint64_t)used);
    }
    free(buf);
}

/* Reads every GPU through NVML. 0 with *out, or SQ_ERROR with *why. */
static int nvml_read(const nvml_api *n, gpu_table *out, char **why)
{
    gpu_table t = GPU_TABLE_INIT;
    t.source = GPU_SOURCE_NVML;
    t.tried = xstrdup("");
    unsigned int count = 0;
    nvml_return r = n->get_count(&count);
    if (r != NVML_OK) {
        *why = xasprintf("cannot count the GPUs: %s", nvml_error(n, r));
        gpu_table_release(&t);
        return SQ_ERROR;
    }
    for (unsigned int i = 0; i < count; i++) {
        nvml_device dev = NULL;
        char uuid[NVML_UUID_SIZE] = "", name[NVML_NAME_SIZE] = "";
        nvml_memory mem = {0, 0, 0};
        nvml_pci_info pci;
        memset(&pci, 0, sizeof pci);
        if ((r = n->get_handle(i, &dev)) != NVML_OK || (r = n->get_uuid(dev, uuid, sizeof uuid)) ||
            (r = n->get_memory(dev, &mem)) != NVML_OK) {
            /* Left out: a GPU we cannot identify or measure takes no trial. */
            gpu_table_note(&t, "NVML: GPU %u left out: %s", i, nvml_error(n, r));
            continue;
        }
        if (n->get_name && n->get_name(dev, name, sizeof name) != NVML_OK)
            name[0] = '\0';
        if (n->get_pci && n->get_pci(dev, &pci) != NVML_OK)
            pci.bus_id[0] = '\0';
        uuid[sizeof uuid - 1] = name[sizeof name - 1] = pci.bus_id[sizeof pci.bus_id - 1] = '\0';
        gpu_info *g = table_add(&t, (int)i, uuid, name, pci.bus_id);
        g->total = mem.total;
        g->free = mem.free <= mem.total ? mem.free : mem.total;
        g->used = mem.used <= mem.total ? mem.used : mem.total;
        nvml_utilization util;
        if (n->get_utilization && n->get_utilization(dev, &util) == NVML_OK && util.gpu <= 100)
            g->utilization = (int)util.gpu;
        nvml_procs(n, dev, g, &t);
    }
    *out = t;
    return 0;
}

/* ---- the probe --------------------------------------------------------- */

struct gpu_probe {
    char *snapshot; /* NULL: none */
    bool no_nvml, no_smi;
    char *nvml_library;
    char *smi_program;
    double smi_timeout;
    bool nvml_tried; /* nvml_open ran */
    nvml_api nvml;
};

gpu_probe *gpu_probe_new(const gpu_probe_opts *o)
{
    gpu_probe_opts defaults = {0};
    if (!o)
        o = &defaults;
    gpu_probe *p = xcalloc(1, sizeof *p);
    const char *snap = o->snapshot ? o->snapshot : getenv("SWEEPQ_GPU_SNAPSHOT");
    p->snapshot = snap && *snap ? xstrdup(snap) : NULL;
    p->no_nvml = o->no_nvml;
    p->no_smi = o->no_smi;
    p->nvml_library = xstrdup(o->nvml_library ? o->nvml_library : NVML_LIBRARY);
    p->smi_program = xstrdup(o->smi_program ? o->smi_program : SMI_PROGRAM);
    p->smi_timeout = o->smi_timeout > 0 ? o->smi_timeout : SMI_TIMEOUT;
    return p;
}

void gpu_probe_free(gpu_probe *p)
{
    if (!p)
        return;
    nvml_close(&p->nvml);
    free(p->snapshot);
    free(p->nvml_library);
    free(p->smi_program);
    free(p);
}

static int probe_snapshot(gpu_probe *p, gpu_table *out)
{
    /* Opened here first only to say plainly what is wrong with the path. */
    FILE *f = fopen(p->snapshot, "rb");
    if (!f)
        return sq_error_set(errno == ENOENT ? SQ_ENOTFOUND : SQ_EIO,
                            "cannot read GPU snapshot '%s': %s", p->snapshot, strerror(errno));
    fclose(f);
    strbuf sb = SB_INIT;
    sb_init(&sb, SNAPSHOT_MAX);
    int rc = sb_read_file(&sb, p->snapshot);
    if (!rc)
        rc = gpu_parse_snapshot(out, sb_str(&sb), p->snapshot);
    sb_release(&sb);
    return rc;
}

int gpu_probe_read(gpu_probe *p, gpu_table *out)
{
    *out = (gpu_table)GPU_TABLE_INIT;
    if (p->snapshot) {
        int rc = probe_snapshot(p, out);
        if (!rc)
            table_fill_pgids(out);
        return rc;
    }
    strbuf tried = SB_INIT;
    char *why = NULL;
    bool answered = false;
    if (p->no_nvml) {
        sb_adds(&tried, "NVML: not asked");
    } else {
        if (!p->nvml_tried) {
            nvml_open(&p->nvml, p->nvml_library);
            p->nvml_tried = true;
        }
        if (p->nvml.ready && nvml_read(&p->nvml, out, &why) == 0)
            answered = true;
        else
            sb_addf(&tried, "NVML: %s", why ? why : p->nvml.why);
        free(why);
        why = NULL;
    }
    if (!answered) {
        if (p->no_smi) {
            sb_adds(&tried, "; nvidia-smi: not asked");
        } else if (smi_read(out, &why, p->smi_program, p->smi_timeout) == 0) {
            answered = true;
        } else {
            sb_addf(&tried, "; nvidia-smi: %s", why);
        }
        free(why);
    }
    if (!answered)
        out->source = GPU_SOURCE_NONE;
    free(out->tried);
    out->tried = sb_detach(&tried);
    table_fill_pgids(out);
    return 0;
}

/* ---- visibility -------------------------------------------------------- */

/* Finds the GPU entry names: an index or a (prefix of a) UUID. Returns its
 * position in t, or -1 with *why (allocated; the caller frees it). */
static long resolve_entry(const gpu_table *t, const char *entry, char **why)
{
    *why = NULL;
    if (!*entry) {
        *why = xstrdup("an empty entry");
        return -1;
    }
    if (isdigit((unsigned char)entry[0]) || entry[0] == '-') {
        char *end;
        errno = 0;
        long v = strtol(entry, &end, 10);
        if (*end || errno) {
            *why = xasprintf("'%s' is not a GPU index or UUID", entry);
            return -1;
        }
        for (size_t i = 0; i < t->n; i++)
            if (t->gpus[i].index == v)
                return (long)i;
        *why = xasprintf("there is no GPU %ld", v);
        return -1;
    }
    if (!strncasecmp(entry, "MIG-", 4)) {
        *why = xasprintf("'%s' is a MIG device; sweepq schedules whole GPUs only", entry);
        return -1;
    }
    if (strncasecmp(entry, "GPU-", 4)) {
        *why = xasprintf("'%s' is not a GPU index or UUID", entry);
        return -1;
    }
    long found = -1;
    size_t matches = 0, len = strlen(entry);
    for (size_t i = 0; i < t->n; i++) {
        if (!strncasecmp(t->gpus[i].uuid, entry, len)) {
            found = (long)i;
            matches++;
        }
    }
    if (matches == 1)
        return found;
    *why = matches ? xasprintf("'%s' matches %zu GPUs", entry, matches)
                   : xasprintf("there is no GPU with UUID '%s'", entry);
    return -1;
}

/* Marks in keep[] the GPUs a list names. strict: the first bad entry is an
 * error (SQ_EINVAL, *why set); otherwise it ends the list as in CUDA and
 * *why says so. */
static int resolve_list(const gpu_table *t, const char *list, bool *keep, bool strict, char **why)
{
    char *copy = xstrdup(list);
    char *p = copy;
    int rc = 0;
    *why = NULL;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (isspace((unsigned char)*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        /* A trailing comma, as in "0,1,", is not an entry. */
        if (!*p && !comma && p != copy)
            break;
        long i = resolve_entry(t, p, why);
        if (i < 0) {
            rc = strict ? SQ_EINVAL : 0;
            break;
        }
        keep[i] = true;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    return rc;
}

/* "0, 1, 2" for messages; caller frees. */
static char *table_indices(const gpu_table *t)
{
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < t->n; i++)
        sb_addf(&sb, "%s%d", i ? ", " : "", t->gpus[i].index);
    if (!t->n)
        sb_adds(&sb, "none");
    return sb_detach(&sb);
}

int gpu_table_restrict(gpu_table *t, const char *cuda_visible, const char *option)
{
    bool *by_env = xcalloc(t->n + 1, sizeof *by_env);
    bool *by_option = xcalloc(t->n + 1, sizeof *by_option);
    bool use_option = option && strcmp(option, "auto");
    bool option_none = option && !strcmp(option, "none");
    char *why = NULL;
    int rc = 0;

    /* The option first: a bad one changes nothing. */
    if (use_option && !option_none && resolve_list(t, option, by_option, true, &why)) {
        char *have = table_indices(t);
        rc = sq_error_set(SQ_EINVAL,
                          "bad --gpus '%s': %s; use auto, none, or GPU indices or UUIDs from "
                          "'sweepq gpus' (GPUs here: %s)",
                          option, why, have);
        free(have);
        goto out;
    }
    if (cuda_visible) {
        free(why);
        resolve_list(t, cuda_visible, by_env, false, &why);
        if (why && *cuda_visible)
            gpu_table_note(t,
                           "CUDA_VISIBLE_DEVICES='%s': %s; that entry and those after it are "
                           "ignored, as CUDA does",
                           cuda_visible, why);
        for (size_t i = 0; i < t->n; i++) {
            if (by_env[i])
                continue;
            if (*cuda_visible)
                info_hide(&t->gpus[i], "not in CUDA_VISIBLE_DEVICES=%s", cuda_visible);
            else
                info_hide(&t->gpus[i], "CUDA_VISIBLE_DEVICES is empty");
        }
    }
    if (use_option) {
        for (size_t i = 0; i < t->n; i++) {
            if (option_none)
                info_hide(&t->gpus[i], "--gpus none");
            else if (!by_option[i])
                info_hide(&t->gpus[i], "not in --gpus %s", option);
            else if (cuda_visible && !by_env[i])
                gpu_table_note(t, "--gpus names GPU %d, which CUDA_VISIBLE_DEVICES hides",
                               t->gpus[i].index);
        }
    }
out:
    free(why);
    free(by_env);
    free(by_option);
    return rc;
}

/* ---- JSON -------------------------------------------------------------- */

static json_t *json_bytes(uint64_t v)
{
    return v == GPU_UNKNOWN || v > (uint64_t)INT64_MAX ? json_null() : json_integer((json_int_t)v);
}

json_t *gpu_table_json(const gpu_table *t)
{
    json_t *root = json_object();
    json_object_set_new(root, "source", json_string(gpu_source_name(t->source)));
    json_object_set_new(root, "tried", json_string(t->tried ? t->tried : ""));
    json_t *notes = json_array();
    for (size_t i = 0; i < t->nnotes; i++)
        json_array_append_new(notes, json_string(t->notes[i]));
    json_object_set_new(root, "notes", notes);
    json_t *gpus = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const gpu_info *g = &t->gpus[i];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(g->index));
        json_object_set_new(o, "uuid", json_string(g->uuid));
        json_object_set_new(o, "name", json_string(g->name));
        json_object_set_new(o, "pci_bus_id", json_string(g->pci_bus_id));
        json_object_set_new(o, "memory_total", json_bytes(g->total));
        json_object_set_new(o, "memory_free", json_bytes(g->free));
        json_object_set_new(o, "memory_used", json_bytes(g->used));
        json_object_set_new(o, "utilization",
                            g->utilization >= 0 ? json_integer(g->utilization) : json_null());
        json_t *procs = json_array();
        for (size_t j = 0; j < g->nprocs; j++) {
            json_t *p = json_object();
            json_object_set_new(p, "pid", json_integer(g->procs[j].pid));
            json_object_set_new(p, "used_memory", json_bytes(g->procs[j].used));
            json_array_append_new(procs, p);
        }
        json_object_set_new(o, "processes", procs);
        json_object_set_new(o, "hidden", json_boolean(g->hidden));
        json_object_set_new(o, "hidden_why", g->hidden ? json_string(g->hidden_why) : json_null());
        json_array_append_new(gpus, o);
    }
    json_object_set_new(root, "gpus", gpus);
    return root;
}
