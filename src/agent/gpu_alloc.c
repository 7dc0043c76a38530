/*
 * gpu_alloc.c - GPU allocation decisions; see gpu_alloc.h for the rules.
 *
 * Everything here is a function of (table, reservations, request): nothing
 * reads the clock, the hardware or the environment. Each GPU is judged by
 * gpu_judge, which every exported function shares, so the reason `sweepq
 * gpus` prints is the very test the agent applies.
 */
#include "util/common.h"

#include "agent/gpu_alloc.h"
#include "util/units.h"

/* Reservations seen as one array, borrowed: gpu_alloc_count appends
 * simulated ones without copying strings. */
typedef struct holds_view {
    const gpu_hold *h;
    size_t n;
} holds_view;

/* What this agent has on one GPU. */
typedef struct gpu_usage {
    uint64_t reserved;     /* sum of shared reservations */
    uint64_t pending;      /* reserved but not yet used by their trials */
    uint64_t ours_used;    /* what this agent's trials use there, as attributed */
    size_t shared;         /* number of shared reservations */
    const char *exclusive; /* owner of an exclusive reservation, or NULL */
} gpu_usage;

static const char *size_text(uint64_t bytes, char *buf, unsigned size)
{
    return units_format_size(bytes, buf, size);
}

/* What the trial in process group pgid uses on g; false when it cannot be
 * told (not started, no process visible, or memory not reported). */
static bool trial_usage(const gpu_info *g, int pgid, uint64_t *out)
{
    uint64_t sum = 0;
    bool seen = false;
    if (pgid <= 0)
        return false;
    for (size_t i = 0; i < g->nprocs; i++) {
        if (g->procs[i].pgid != pgid)
            continue;
        if (g->procs[i].used == GPU_UNKNOWN)
            return false;
        sum += g->procs[i].used;
        seen = true;
    }
    *out = sum;
    return seen;
}

static gpu_usage usage_of(const gpu_info *g, holds_view v)
{
    gpu_usage u = {0, 0, 0, 0, NULL};
    for (size_t i = 0; i < v.n; i++) {
        const gpu_hold *h = &v.h[i];
        if (strcmp(h->uuid, g->uuid))
            continue;
        uint64_t used = 0;
        bool known = trial_usage(g, h->pgid, &used);
        if (known)
            u.ours_used += used;
        if (h->exclusive) {
            u.exclusive = h->owner;
            continue;
        }
        u.shared++;
        u.reserved += h->memory;
        if (!known || used < h->memory)
            u.pending += h->memory - (known ? used : 0);
    }
    return u;
}

/* True when process p belongs to one of this agent's trials on g. */
static bool proc_is_ours(const gpu_info *g, const gpu_proc *p, holds_view v)
{
    if (p->pgid <= 0)
        return false;
    for (size_t i = 0; i < v.n; i++)
        if (v.h[i].pgid == p->pgid && !strcmp(v.h[i].uuid, g->uuid))
            return true;
    return false;
}

/* " (pid 4242 uses 60 GiB, pid 77)" for the other work on g, or "". */
static void add_foreign(strbuf *why, const gpu_info *g, holds_view v)
{
    size_t shown = 0, more = 0;
    for (size_t i = 0; i < g->nprocs; i++) {
        const gpu_proc *p = &g->procs[i];
        if (proc_is_ours(g, p, v))
            continue;
        if (shown == 3) {
            more++;
            continue;
        }
        char sz[32];
        sb_addf(why, "%s%d", shown ? ", pid " : "; other work: pid ", p->pid);
        if (p->used != GPU_UNKNOWN)
            sb_addf(why, " uses %s", size_text(p->used, sz, sizeof sz));
        shown++;
    }
    if (more)
        sb_addf(why, " and %zu more", more);
}

/*
 * Judges GPU t->gpus[i] for r: NOW (with *room, the bytes it would have
 * left: smaller is a better fit for shares, larger for whole GPUs), LATER or
 * NEVER, with the reason appended to why (may be NULL).
 */
static gpu_fit gpu_judge(const gpu_table *t, holds_view v, size_t i, const gpu_request *r,
                         uint64_t *room, strbuf *why)
{
    const gpu_info *g = &t->gpus[i];
    char a[32], b[32], c[32];
    strbuf scratch = SB_INIT;
    strbuf *w = why ? why : &scratch;
    gpu_fit fit = GPU_FIT_NOW;
    bool whole = r->gpus > 0, share = !whole && r->memory > 0;
    uint64_t need = whole && r->memory > r->min_free ? r->memory : r->min_free;

    if (g->hidden) {
        sb_adds(w, g->hidden_why);
        fit = GPU_FIT_NEVER;
        goto out;
    }
    if (share && r->memory > g->total) {
        sb_addf(w, "has %s in all; the trial asks for %s", size_text(g->total, a, sizeof a),
                size_text(r->memory, b, sizeof b));
        fit = GPU_FIT_NEVER;
        goto out;
    }
    if (need > g->total) {
        if (whole && r->memory > r->min_free)
            sb_addf(w, "has %s in all; the trial needs %s free", size_text(g->total, a, sizeof a),
                    size_text(need, b, sizeof b));
        else
            sb_addf(w, "has %s in all, less than min_free_gpu_memory %s",
                    size_text(g->total, a, sizeof a), size_text(need, b, sizeof b));
        fit = GPU_FIT_NEVER;
        goto out;
    }

    gpu_usage u = usage_of(g, v);
    /* Free memory as if this agent's trials were not there: what other
     * work leaves. */
    uint64_t foreign_free = g->free + u.ours_used;
    if (foreign_free > g->total || foreign_free < g->free)
        foreign_free = g->total;
    fit = GPU_FIT_LATER;
    if (u.exclusive) {
        sb_addf(w, "held whole by trial %s", u.exclusive);
        goto out;
    }
    if (whole && u.shared) {
        sb_addf(w, "shared by %zu trial%s of this agent", u.shared, u.shared == 1 ? "" : "s");
        goto out;
    }
    if (foreign_free < r->min_free) {
        sb_addf(w, "only %s free, less than min_free_gpu_memory %s",
                size_text(foreign_free, a, sizeof a), size_text(r->min_free, b, sizeof b));
        add_foreign(w, g, v);
        goto out;
    }
    if (whole && g->free < r->memory) {
        sb_addf(w, "only %s free; the trial needs %s", size_text(g->free, a, sizeof a),
                size_text(r->memory, b, sizeof b));
        add_foreign(w, g, v);
        goto out;
    }
    if (share && u.reserved + r->memory > g->total) {
        sb_addf(w, "this agent's trials reserve %s of its %s; %s more does not fit",
                size_text(u.reserved, a, sizeof a), size_text(g->total, b, sizeof b),
                size_text(r->memory, c, sizeof c));
        goto out;
    }
    if (share && (g->free < r->memory || g->free - r->memory < u.pending)) {
        sb_addf(w, "only %s free; the trial asks for %s", size_text(g->free, a, sizeof a),
                size_text(r->memory, b, sizeof b));
        if (u.pending)
            sb_addf(w, " and this agent's trials may still take %s",
                    size_text(u.pending, c, sizeof c));
        add_foreign(w, g, v);
        goto out;
    }
    fit = GPU_FIT_NOW;
    if (room) {
        if (share) {
            uint64_t by_reservations = g->total - u.reserved - r->memory;
            uint64_t by_free = g->free - r->memory - u.pending;
            *room = by_reservations < by_free ? by_reservations : by_free;
        } else {
            *room = g->free;
        }
    }
out:
    sb_release(&scratch);
    return fit;
}

static holds_view view_of(const gpu_alloc *a)
{
    return (holds_view){a ? a->holds : NULL, a ? a->n : 0};
}

/* The choice itself, over a view. idx gets the chosen positions in t
 * (r->gpus of them for whole GPUs, else 1). why (may be NULL) gets the
 * reasons when it does not fit. */
static gpu_fit choose_in(size_t *idx, const gpu_table *t, holds_view v, const gpu_request *r,
                         strbuf *why)
{
    size_t want = r->gpus > 0 ? (size_t)r->gpus : 1;
    size_t now = 0, possible = 0;
    uint64_t *rooms = xcalloc(t->n + 1, sizeof *rooms);
    size_t *cands = xcalloc(t->n + 1, sizeof *cands);
    strbuf reasons = SB_INIT;
    for (size_t i = 0; i < t->n; i++) {
        uint64_t room = 0;
        size_t mark = reasons.len;
        sb_addf(&reasons, "%sGPU %d: ", reasons.len ? "; " : "", t->gpus[i].index);
        gpu_fit f = gpu_judge(t, v, i, r, &room, &reasons);
        if (f == GPU_FIT_NOW) {
            /* Only obstacles are worth reading. */
            reasons.len = mark;
            reasons.buf[mark] = '\0';
            rooms[i] = room;
            cands[now++] = i;
        }
        if (f != GPU_FIT_NEVER)
            possible++;
    }
    gpu_fit fit = now >= want ? GPU_FIT_NOW : possible >= want ? GPU_FIT_LATER : GPU_FIT_NEVER;
    if (fit == GPU_FIT_NOW) {
        /* Whole GPUs: most free first; shares: least room first (best
         * fit). Ties keep index order (the table is sorted by index). */
        bool best_fit = r->gpus == 0;
        for (size_t k = 0; k < want; k++) {
            size_t best = k;
            for (size_t j = k + 1; j < now; j++) {
                uint64_t rj = rooms[cands[j]], rb = rooms[cands[best]];
                if (best_fit ? rj < rb : rj > rb)
                    best = j;
            }
            size_t tmp = cands[k];
            cands[k] = cands[best];
            cands[best] = tmp;
            idx[k] = cands[k];
        }
    } else if (why) {
        char sz[32];
        if (r->gpus > 0)
            sb_addf(why, "needs %d whole GPU%s with %s free", r->gpus, r->gpus == 1 ? "" : "s",
                    size_text(r->memory > r->min_free ? r->memory : r->min_free, sz, sizeof sz));
        else
            sb_addf(why, "needs %s of one GPU", size_text(r->memory, sz, sizeof sz));
        if (fit == GPU_FIT_LATER)
            sb_addf(why, "; not now: %zu of this agent's GPUs could take it now", now);
        else
            sb_addf(why, "; this agent can never give it: %zu of its GPUs could ever take it",
                    possible);
        if (t->n)
            sb_addf(why, " (%s)", sb_str(&reasons));
        else
            sb_addf(why, " (no GPUs found: %s)", t->tried && *t->tried ? t->tried : "none");
    }
    sb_release(&reasons);
    free(rooms);
    free(cands);
    return fit;
}

void gpu_alloc_release(gpu_alloc *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->holds[i].owner);
        free(a->holds[i].uuid);
    }
    free(a->holds);
    *a = (gpu_alloc)GPU_ALLOC_INIT;
}

void gpu_grant_release(gpu_grant *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->uuids[i]);
    free(g->uuids);
    free(g->indices);
    *g = (gpu_grant)GPU_GRANT_INIT;
}

char *gpu_grant_cuda_visible(const gpu_grant *g, bool by_index)
{
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < g->n; i++) {
        if (i)
            sb_addc(&sb, ',');
        if (by_index)
            sb_addf(&sb, "%d", g->indices[i]);
        else
            sb_adds(&sb, g->uuids[i]);
    }
    return sb_detach(&sb);
}

gpu_fit gpu_alloc_fit(char **out_why, const gpu_table *t, const gpu_alloc *a, const gpu_request *r)
{
    if (out_why)
        *out_why = NULL;
    if (!gpu_request_wants_gpu(r))
        return GPU_FIT_NOW;
    size_t want = r->gpus > 0 ? (size_t)r->gpus : 1;
    size_t *idx = xcalloc(want, sizeof *idx);
    strbuf why = SB_INIT;
    gpu_fit fit = choose_in(idx, t, view_of(a), r, out_why ? &why : NULL);
    if (out_why && fit != GPU_FIT_NOW)
        *out_why = sb_detach(&why);
    sb_release(&why);
    free(idx);
    return fit;
}

size_t gpu_alloc_count(const gpu_table *t, const gpu_alloc *a, const gpu_request *r, size_t max)
{
    if (!gpu_request_wants_gpu(r))
        return max;
    size_t want = r->gpus > 0 ? (size_t)r->gpus : 1;
    size_t base = a ? a->n : 0, count = 0;
    /* The real reservations, then one simulated trial after another. Each
     * placement removes at least one GPU's worth of room or one whole GPU,
     * so this ends; max bounds it anyway. */
    gpu_hold *sim = xcalloc(base + 1, sizeof *sim);
    if (base)
        memcpy(sim, a->holds, base * sizeof *sim);
    size_t *idx = xcalloc(want, sizeof *idx);
    size_t n = base;
    while (count < max) {
        holds_view v = {sim, n};
        if (choose_in(idx, t, v, r, NULL) != GPU_FIT_NOW)
            break;
        sim = xrealloc(sim, (n + want) * sizeof *sim);
        for (size_t k = 0; k < want; k++)
            sim[n++] = (gpu_hold){"(next trial)", t->gpus[idx[k]].uuid, r->gpus > 0,
                                  r->gpus > 0 ? 0 : r->memory, -1};
        count++;
    }
    free(idx);
    free(sim);
    return count;
}

int gpu_alloc_choose(gpu_grant *out, const gpu_table *t, const gpu_alloc *a, const gpu_request *r)
{
    *out = (gpu_grant)GPU_GRANT_INIT;
    if (!gpu_request_wants_gpu(r))
        return 0;
    size_t want = r->gpus > 0 ? (size_t)r->gpus : 1;
    size_t *idx = xcalloc(want, sizeof *idx);
    strbuf why = SB_INIT;
    int rc = 0;
    gpu_fit fit = choose_in(idx, t, view_of(a), r, &why);
    if (fit != GPU_FIT_NOW) {
        rc = sq_error_set(fit == GPU_FIT_LATER ? SQ_EBUSY : SQ_EINVAL, "%s", sb_str(&why));
        goto out;
    }
    /* Ascending indices, so CUDA numbers the trial's GPUs in bus order. */
    for (size_t k = 1; k < want; k++)
        for (size_t j = k; j > 0 && t->gpus[idx[j - 1]].index > t->gpus[idx[j]].index; j--) {
            size_t tmp = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = tmp;
        }
    out->n = want;
    out->indices = xcalloc(want, sizeof *out->indices);
    out->uuids = xcalloc(want, sizeof *out->uuids);
    for (size_t k = 0; k < want; k++) {
        out->indices[k] = t->gpus[idx[k]].index;
        out->uuids[k] = xstrdup(t->gpus[idx[k]].uuid);
    }
    out->exclusive = r->gpus > 0;
    out->memory = r->gpus > 0 ? 0 : r->memory;
out:
    sb_release(&why);
    free(idx);
    return rc;
}

void gpu_alloc_take(gpu_alloc *a, const char *owner, const gpu_grant *g)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->holds[i].owner, owner))
            SQ_BUG("gpu_alloc_take: '%s' already holds GPU %s", owner, a->holds[i].uuid);
    for (size_t k = 0; k < g->n; k++) {
        XGROW(a->holds, a->cap, a->n + 1);
        a->holds[a->n++] = (gpu_hold){xstrdup(owner), xstrdup(g->uuids[k]), g->exclusive,
                                      g->exclusive ? 0 : g->memory, -1};
    }
}

void gpu_alloc_started(gpu_alloc *a, const char *owner, int pgid)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->holds[i].owner, owner))
            a->holds[i].pgid = pgid;
}

size_t gpu_alloc_drop(gpu_alloc *a, const char *owner)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (!strcmp(a->holds[i].owner, owner)) {
            free(a->holds[i].owner);
            free(a->holds[i].uuid);
            dropped++;
        } else {
            a->holds[kept++] = a->holds[i];
        }
    }
    a->n = kept;
    return dropped;
}

char *gpu_alloc_why_not(const gpu_table *t, const gpu_alloc *a, size_t i, const gpu_request *r)
{
    SQ_ASSERT(i < t->n);
    strbuf why = SB_INIT;
    if (gpu_judge(t, view_of(a), i, r, NULL, &why) == GPU_FIT_NOW) {
        sb_release(&why);
        return NULL;
    }
    return sb_detach(&why);
}
