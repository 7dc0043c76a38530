/*
 * gpu_alloc.h - which GPUs a trial gets: pure decisions over a GPU table
 * (gpu.h, already restricted to the agent's GPUs) and the agent's own
 * reservations, so they can be tested on snapshots and explained.
 *
 * REQUESTS (from the spec's resources)
 *   gpus: N        N whole GPUs, exclusively: no reservation of this agent
 *                  on them, and at least max(min_free, memory) free.
 *   gpu_memory: S  a share of one GPU (when gpus is 0): packed onto a GPU
 *                  while the rules below hold.
 *   min_free       a GPU with less free memory than this, not counting what
 *                  this agent's own trials use, takes no new trial: it is
 *                  busy with other users' work (agent default 4 GiB, as
 *                  seed 001's workers).
 *
 * THE PACKING RULE for a share S on GPU g. Let R be the sum of this agent's
 * reservations on g, F the free memory the last discovery saw, and P the
 * part of this agent's reservations on g that its trials have not used yet
 * (for each reservation, its size minus what the processes of its trial's
 * process group use on g, as the driver lists them; a trial not started,
 * or whose processes cannot be seen, counts as using nothing). Then S fits
 * g when
 *     R + S <= total          the reservations fit the GPU, and
 *     F >= S + P              the free memory has room for S and for what
 *                             this agent's trials may still allocate.
 * F already lacks what this agent's trials use, so counting only the
 * unused part P neither counts that usage twice (F >= S + R would) nor
 * forgets trials that started but have not allocated yet (F >= S would let
 * two trials launched in the same round share the same free bytes). When
 * trials cannot be attributed (their pids live in another pid namespace)
 * the rule only gets stricter, never looser. Among GPUs where S fits, the
 * best fit (least room left) is chosen, so whole GPUs stay free for
 * exclusive trials.
 *
 * LIFE OF A RESERVATION (what the agent calls, see docs/gpus.md)
 *   gpu_alloc_count / gpu_alloc_fit   before claiming: how many fit now, or
 *                                     whether the request can ever fit here
 *   gpu_alloc_choose + gpu_alloc_take for each claimed trial
 *   gpu_alloc_started                 once its process group exists
 *   gpu_alloc_drop                    when it ends (or failed to start)
 *
 * Every function taking a const gpu_alloc * accepts NULL for "no
 * reservations" (e.g. `sweepq gpus`, or judging another agent's GPUs).
 *
 * Invariants: an owner holds at most one reservation per GPU; an exclusive
 * reservation is the only one on its GPU; gpu_alloc_choose never returns
 * a grant that would break a rule above for the table it was given.
 */
#ifndef SQ_GPU_ALLOC_H
#define SQ_GPU_ALLOC_H

#include "agent/gpu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPU_MIN_FREE_DEFAULT ((uint64_t)4 << 30)

typedef struct gpu_request {
    int gpus;          /* whole GPUs, exclusively; 0: see memory */
    uint64_t memory;   /* gpus == 0: bytes of one shared GPU; gpus > 0: the
                          free memory each GPU must have; 0: none */
    uint64_t min_free; /* bytes (0: no minimum) */
} gpu_request;

/* Whether r asks for any GPU at all. */
static inline bool gpu_request_wants_gpu(const gpu_request *r)
{
    return r->gpus > 0 || r->memory > 0;
}

typedef struct gpu_hold {
    char *owner;     /* the trial, as the caller names it ("sweep/12") */
    char *uuid;      /* the GPU */
    bool exclusive;  /* the whole GPU */
    uint64_t memory; /* bytes reserved on it (shared holds) */
    int pgid;        /* the trial's process group once started; -1 before */
} gpu_hold;

/* The agent's reservations. */
typedef struct gpu_alloc {
    gpu_hold *holds;
    size_t n, cap;
} gpu_alloc;

#define GPU_ALLOC_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
void gpu_alloc_release(gpu_alloc *a);

/* What a trial was given. */
typedef struct gpu_grant {
    size_t n;     /* GPUs (0 for a request with no GPU) */
    int *indices; /* their NVML indices, ascending */
    char **uuids; /* their UUIDs, in the same order */
    bool exclusive;
    uint64_t memory; /* bytes reserved on the one GPU of a shared grant */
} gpu_grant;

#define GPU_GRANT_INIT                                                                             \
    {                                                                                              \
        0, NULL, NULL, false, 0                                                                    \
    }
void gpu_grant_release(gpu_grant *g);

/*
 * The value for the trial's CUDA_VISIBLE_DEVICES ("" for no GPU): the GPUs'
 * UUIDs, or with by_index their NVML indices (right only together with
 * CUDA_DEVICE_ORDER=PCI_BUS_ID, which the trial always gets). Caller frees.
 */
char *gpu_grant_cuda_visible(const gpu_grant *g, bool by_index);

typedef enum {
    GPU_FIT_NOW,   /* it fits now */
    GPU_FIT_LATER, /* not now: this agent's trials or other work are in the way */
    GPU_FIT_NEVER, /* not on this agent's GPUs, whatever runs on them */
} gpu_fit;

/*
 * Whether r fits now, later, or never on t's usable GPUs given a's
 * reservations. A request with no GPU always fits. *out_why (may be NULL)
 * gets a one-line reason for LATER and NEVER naming each GPU's obstacle,
 * or NULL for NOW; the caller frees it.
 */
gpu_fit gpu_alloc_fit(char **out_why, const gpu_table *t, const gpu_alloc *a, const gpu_request *r);

/*
 * How many trials asking r could start together now (at most max), as if
 * each were chosen and taken in turn. A request with no GPU gives max.
 */
size_t gpu_alloc_count(const gpu_table *t, const gpu_alloc *a, const gpu_request *r, size_t max);

/*
 * Chooses GPUs for one trial asking r: exclusive requests get the GPUs with
 * the most free memory, shared ones the best fit. Does not reserve them
 * (gpu_alloc_take does). Returns 0 with *out filled (n = 0 for a request
 * with no GPU), SQ_EBUSY when it does not fit now, SQ_EINVAL when it never
 * can; both with the reason as the message and *out empty.
 */
int gpu_alloc_choose(gpu_grant *out, const gpu_table *t, const gpu_alloc *a, const gpu_request *r);

/* Records g's GPUs as held by owner (copied). An owner that already holds
 * something is a programmer error. */
void gpu_alloc_take(gpu_alloc *a, const char *owner, const gpu_grant *g);

/* Tells which process group owner's trial runs as, so that its usage can
 * be told apart from other work. */
void gpu_alloc_started(gpu_alloc *a, const char *owner, int pgid);

/* Releases everything owner holds; returns how many GPUs it held. */
size_t gpu_alloc_drop(gpu_alloc *a, const char *owner);

/*
 * Why GPU t->gpus[i] cannot take a trial asking r now, or NULL when it can.
 * With a request for no GPU it says whether the GPU takes new trials at all
 * (usable, not held whole, enough free memory for r->min_free): what
 * `sweepq gpus` shows. Caller frees.
 */
char *gpu_alloc_why_not(const gpu_table *t, const gpu_alloc *a, size_t i, const gpu_request *r);

#endif
