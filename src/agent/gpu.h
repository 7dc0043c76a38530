/*
 * gpu.h - what GPUs this machine has, and which of them an agent may use.
 *
 * SOURCES. gpu_probe_read asks them in this order; the first that answers
 * fills the table, and the table says which one it was and why each earlier
 * one did not answer ("NVML: libnvidia-ml.so.1 not found").
 *   0. snapshot    a JSON file named by gpu_probe_opts.snapshot, else by
 *                  $SWEEPQ_GPU_SNAPSHOT: a testing aid (docs/gpus.md). It is
 *                  read again on every call, so a test can change it while
 *                  an agent runs. When one is named it is the only source:
 *                  a missing or malformed snapshot is an error, never a
 *                  silent fall-through to the real hardware.
 *   1. nvml        libnvidia-ml.so.1, loaded with dlopen on the first read
 *                  and initialised once for the probe's life (no link-time
 *                  dependency: a machine without the driver runs CPU trials).
 *   2. nvidia-smi  `--query-gpu=...` and `--query-compute-apps=...` with
 *                  csv,noheader,nounits, run without a shell through the
 *                  spawn module, each bounded in time and in output.
 *   3. none        no GPUs; not an error.
 *
 * WHAT A TABLE HOLDS. Every GPU the source reports, in NVML index order
 * (PCI bus order, as nvidia-smi numbers them), with its compute processes.
 * gpu_table_restrict then marks the GPUs this agent must not use (hidden)
 * without removing them, so `sweepq gpus` can say why.
 *
 * VISIBILITY (gpu_table_restrict). An inherited CUDA_VISIBLE_DEVICES is read
 * as CUDA reads it with CUDA_DEVICE_ORDER=PCI_BUS_ID: comma-separated NVML
 * indices or GPU UUIDs (a unique prefix such as "GPU-8932f937" is enough);
 * the first entry that names no GPU ends the list (it and what follows are
 * ignored, as CUDA does; a note says so); "" hides every GPU; MIG devices
 * are not supported and end the list the same way. The agent's --gpus
 * option (auto | none | a list of indices or UUIDs, as `sweepq gpus`
 * shows them) restricts further; it is checked strictly.
 *
 * Invariants: every string of a table is owned by it; gpus[i].index values
 * are distinct and so are uuids; a hidden GPU has a reason.
 */
#ifndef SQ_GPU_H
#define SQ_GPU_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GPU_SOURCE_NONE,
    GPU_SOURCE_SNAPSHOT,
    GPU_SOURCE_NVML,
    GPU_SOURCE_SMI,
} gpu_source;

/* A memory figure the source did not report (NVML_VALUE_NOT_AVAILABLE,
 * nvidia-smi's "[N/A]"). */
#define GPU_UNKNOWN UINT64_MAX

typedef struct gpu_proc {
    int pid;       /* as the driver reports it */
    int pgid;      /* its process group, read from /proc here; -1 when that pid
                      is not visible here (gone, or another pid namespace) */
    uint64_t used; /* bytes of GPU memory; GPU_UNKNOWN when not reported */
} gpu_proc;

typedef struct gpu_info {
    int index;        /* NVML index: PCI bus order, as nvidia-smi shows */
    char *uuid;       /* "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6" */
    char *name;       /* "NVIDIA H100 80GB HBM3"; "" when unknown */
    char *pci_bus_id; /* "00000000:19:00.0"; "" when unknown */
    uint64_t total;   /* bytes */
    uint64_t free;    /* bytes, as the source saw it at read time */
    uint64_t used;    /* bytes */
    int utilization;  /* percent of time a kernel ran; -1 when unknown */
    gpu_proc *procs;  /* compute processes */
    size_t nprocs;
    bool hidden;      /* not this agent's to use (gpu_table_restrict) */
    char *hidden_why; /* why, when hidden: "not in CUDA_VISIBLE_DEVICES=2,3" */
} gpu_info;

typedef struct gpu_table {
    gpu_source source; /* which source answered */
    gpu_info *gpus;
    size_t n;
    char *tried;  /* why earlier sources did not answer, "; "-joined
                     ("" when the first one asked answered) */
    char **notes; /* things the agent survives but should say */
    size_t nnotes;
} gpu_table;

#define GPU_TABLE_INIT                                                                             \
    {                                                                                              \
        GPU_SOURCE_NONE, NULL, 0, NULL, NULL, 0                                                    \
    }

/* Frees what t holds and leaves it as GPU_TABLE_INIT. */
void gpu_table_release(gpu_table *t);

/* "snapshot", "nvml", "nvidia-smi", "none". */
const char *gpu_source_name(gpu_source s);

/* The GPU whose NVML index is index, or NULL; borrowed. */
const gpu_info *gpu_table_find(const gpu_table *t, int index);
/* The GPU with exactly this UUID, or NULL; borrowed. */
const gpu_info *gpu_table_find_uuid(const gpu_table *t, const char *uuid);

typedef struct gpu_probe_opts {
    const char *snapshot;     /* path; NULL: $SWEEPQ_GPU_SNAPSHOT; "": none */
    bool no_nvml;             /* skip NVML */
    bool no_smi;              /* skip nvidia-smi */
    const char *nvml_library; /* NULL: "libnvidia-ml.so.1" */
    const char *smi_program;  /* NULL: "nvidia-smi", looked up in PATH */
    double smi_timeout;       /* seconds for each nvidia-smi run; 0: 10 */
} gpu_probe_opts;

typedef struct gpu_probe gpu_probe;

/* A probe for repeated reads; o may be NULL (defaults). Copies what it needs
 * from o and reads $SWEEPQ_GPU_SNAPSHOT now. Never NULL. */
gpu_probe *gpu_probe_new(const gpu_probe_opts *o);

/* Shuts NVML down if this probe started it (the library stays loaded, as
 * every library util/dynlib.h loads). NULL: no-op. */
void gpu_probe_free(gpu_probe *p);

/*
 * Reads the GPUs now from the first source that answers and fills *out
 * (which must be GPU_TABLE_INIT or released). Returns 0, also when no
 * source answered (source none, n = 0, tried says why). A named snapshot
 * that cannot be read gives SQ_ENOTFOUND, one that is malformed SQ_EINVAL,
 * each with a message naming the file; *out is then left empty.
 */
int gpu_probe_read(gpu_probe *p, gpu_table *out);

/*
 * Parses a snapshot's text (name is used in messages) into *out with source
 * snapshot. Accepts the shape `sweepq gpus --json` prints, so a real
 * machine's output is a valid snapshot. SQ_EINVAL with "FILE: ..." on error,
 * *out left empty.
 */
int gpu_parse_snapshot(gpu_table *out, const char *text, const char *name);

/*
 * Parses nvidia-smi's output: gpus_csv from GPU_SMI_QUERY_GPU, apps_csv
 * (may be NULL or "") from GPU_SMI_QUERY_APPS, both csv,noheader,nounits.
 * Fills *out with source nvidia-smi. SQ_EINVAL naming the line on error.
 */
int gpu_parse_smi(gpu_table *out, const char *gpus_csv, const char *apps_csv);

/* The arguments gpu_probe_read passes nvidia-smi (after the program). */
#define GPU_SMI_QUERY_GPU                                                                          \
    "--query-gpu=index,uuid,name,memory.total,memory.free,memory.used,utilization.gpu,pci.bus_id"
#define GPU_SMI_QUERY_APPS "--query-compute-apps=gpu_uuid,pid,used_memory"
#define GPU_SMI_FORMAT "--format=csv,noheader,nounits"

/*
 * Marks the GPUs this agent must not use. cuda_visible is the inherited
 * CUDA_VISIBLE_DEVICES (NULL: unset, nothing hidden by it); option is the
 * --gpus value (NULL or "auto": all; "none"; a list of indices and UUIDs).
 * Never un-hides a GPU. Returns 0, or SQ_EINVAL when option is malformed or
 * names a GPU that is not in the table (the message lists those that are);
 * problems in cuda_visible only add notes, as CUDA only ignores them.
 */
int gpu_table_restrict(gpu_table *t, const char *cuda_visible, const char *option);

/* Appends a formatted note to t->notes. */
void gpu_table_note(gpu_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The table as JSON: {"source", "tried", "notes", "gpus": [{"index", "uuid",
 * "name", "pci_bus_id", "memory_total", "memory_free", "memory_used" (bytes),
 * "utilization" (null when unknown), "processes": [{"pid", "used_memory"}],
 * "hidden", "hidden_why"}]}: what `sweepq gpus --json` prints, what an agent
 * registers as its gpus_json, and a valid snapshot. New reference.
 */
json_t *gpu_table_json(const gpu_table *t);

#endif
