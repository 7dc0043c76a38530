/*
 * propose.h - how an agent gets a new trial of a bayes sweep: it reads the
 * sweep's history from the store, asks the search module for the next
 * trial's parameters (search_propose, a pure function), and inserts and
 * claims that trial in one store step (store_add_claim).
 *
 * Invariants:
 *   - No store lock is held while the model computes: the history is read,
 *     the proposal made, and only then the store's short add-and-claim step
 *     runs. Two agents proposing at once both get a trial; when both
 *     proposed the same number, the store gives the later one the next free
 *     number (the parameters stay what its proposer computed).
 *   - The store never lets the sweep pass its run_cap (store.h invariant 8).
 *   - A proposal's key is unique to the proposal (the agent's id and its
 *     sequence number), so the same proposal sent again after a lost answer
 *     is recognised and returns the same trial (store_add_claim).
 */
#ifndef SQ_AGENT_PROPOSE_H
#define SQ_AGENT_PROPOSE_H

#include "search/search.h"
#include "spec/spec.h"
#include "store/store.h"

/* A proposal made and not yet known to be stored: the strings of its
 * store_trial_def. */
typedef struct proposal {
    store_trial_def def;
    char *key, *params_json;
} proposal;

#define PROPOSAL_INIT                                                                              \
    {                                                                                              \
        {0, NULL, NULL}, NULL, NULL                                                                \
    }

void proposal_release(proposal *p);

/*
 * The history of a bayes sweep as search_propose takes it, from its trials
 * (in number order, as store_list_trials returns them): succeeded ->
 * COMPLETE with the final value of metric (NaN when it reported none),
 * stopped -> STOPPED with the value it reached and its stopped_step,
 * pending and running -> RUNNING, failed and cancelled -> FAILED. *obs
 * (n of them) points into *params, an array of the parsed parameter
 * objects; free both with propose_history_free. A trial whose stored
 * parameters are not a JSON object is left out.
 */
void propose_history(const store_trial *t, size_t n, const char *metric, search_obs **obs,
                     json_t ***params, size_t *nobs);
void propose_history_free(search_obs *obs, json_t **params, size_t n);

/*
 * Makes the next proposal for sweep `name` (spec s, a bayes spec with a
 * metric): reads the history, proposes trial next_number (one past the
 * highest stored, from the sweep row) and fills *p with its key
 * "<agent_id>/p<seq>" hashed with the parameters. 0 with *p left empty (no
 * key) when the sweep takes no trial now (not active, or holding run_cap
 * trials); else 0, or the store's or search_propose's code with the
 * message.
 */
int propose_make(store *st, const char *agent_id, uint64_t seq, const char *name, const spec *s,
                 proposal *p);

#endif
