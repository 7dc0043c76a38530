/*
 * config.h - the project's settings file, .sweepq/config.yaml, read-only.
 *
 * The file is one YAML mapping; sections are nested mappings, for example
 *     submit:   { scheduler: slurm, partition: gpu, time: "04:00:00" }
 *     remotes:  { box1: { host: 10.0.0.5, slots: 2 } }
 * Values are looked up by dotted path ("submit.partition"). A missing file
 * is an empty configuration, so every lookup answers NULL and callers fall
 * back to their defaults.
 *
 * The parser is src/spec/yaml_tree.h (the spec loader's, internal to
 * src/spec but shared here on purpose: one YAML reader with the same
 * alias bounds and scalar rules for every file sweepq reads).
 *
 * Ownership: an sq_config owns its tree; every string it hands out is
 * borrowed and lives until config_free.
 */
#ifndef SQ_CONFIG_H
#define SQ_CONFIG_H

#include <stddef.h>

typedef struct sq_config sq_config;

/*
 * Reads path into *out (caller frees with config_free). A file that does
 * not exist gives an empty configuration. Returns 0, SQ_EIO when the file
 * cannot be read, SQ_EINVAL when it is not YAML or its top is not a mapping
 * (the message names path:line:col).
 */
int config_load(sq_config **out, const char *path);
void config_free(sq_config *c);

/*
 * The scalar at a dotted path ("submit.partition"), as written, or NULL
 * when a part is missing, is not a mapping, the value is null (~ or empty)
 * or the value is a list or mapping. Borrowed.
 */
const char *config_get(const sq_config *c, const char *dotted_path);

/*
 * The keys of the mapping at a dotted path ("remotes"), in file order.
 * *out is a malloc'd array the caller frees (the strings are borrowed);
 * *n is its length. A missing path gives *out = NULL, *n = 0 and 0.
 * Returns SQ_EINVAL when the path names something that is not a mapping.
 */
int config_mapping_keys(const char ***out, size_t *n, const sq_config *c, const char *dotted_path);

/* The file this configuration was read from ("" for none). Borrowed. */
const char *config_path(const sq_config *c);

#endif
