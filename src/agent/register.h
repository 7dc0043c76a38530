/*
 * register.h - turning a loaded spec into a sweep in a store: its identity
 * (canonical spec and command template), its settings, its trials, and the
 * frozen copy of the spec file in the project.
 *
 * Invariants:
 *   - Registering the same spec twice adds nothing (the store's create is
 *     idempotent); registering an edited grid adds only its new trials.
 *   - Trials are made in chunks (REGISTER_CHUNK at a time), so a sweep of a
 *     million trials never holds more than one chunk in memory. The first
 *     chunk goes through store_create_sweep in one transaction with the
 *     sweep itself; later chunks through store_add_trials.
 *   - An open-ended random sweep starts with REGISTER_OPEN_ENDED_FIRST
 *     trials; agents add more with sweep_extend as they need them.
 *   - A bayes sweep starts with none: its store total is its run_cap (0:
 *     none), and agents propose and claim each trial (propose.h).
 */
#ifndef SQ_AGENT_REGISTER_H
#define SQ_AGENT_REGISTER_H

#include "spec/spec.h"
#include "store/store.h"
#include "util/workspace.h"

#include <stddef.h>
#include <stdint.h>

#define REGISTER_CHUNK 65536
#define REGISTER_OPEN_ENDED_FIRST 64

/*
 * Registers spec s in st: creates the sweep (or finds the same one) and
 * adds its trials, then writes the frozen copy of the spec's text to
 * .sweepq/sweeps/NAME/spec.yaml under ws (may be NULL: no copy) when it is
 * missing or this call added trials. *out_id gets the sweep's id and *out_added (may be NULL) the
 * number of trials added by this call (0: it was already there). Returns 0, or the store's code
 * (SQ_ECONFLICT when a sweep of that name exists with another command or settings), or SQ_EINVAL /
 * SQ_EIO with the message.
 */
int sweep_register(store *st, const workspace *ws, const spec *s, int64_t *out_id,
                   uint64_t *out_added);

/*
 * Adds the next n trials (numbers sw->next_number, ...) of the open-ended
 * random sweep sw, made from its spec s. SQ_EINVAL when sw is not
 * open-ended or is bayes (its trials are proposed one by one).
 */
int sweep_extend(store *st, const store_sweep *sw, const spec *s, size_t n);

/*
 * The command template of s as canonical JSON (sorted keys): command or
 * command_shell, program, interpreter, env and workdir. A change of any of
 * these is a different sweep. Caller frees.
 */
char *sweep_command_json(const spec *s);

#endif
