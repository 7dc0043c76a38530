/*
 * search.h - the decisions of an adaptive sweep: which parameters trial N of
 * a bayes sweep gets (search_propose), and whether a trial that reached a
 * band must stop (stop_should). docs/search.md explains both with examples.
 *
 * Everything here is a pure function of its arguments: no I/O, no store, no
 * clock, no global state, so every function is thread-safe and the agent,
 * the store and the unit tests call the same code. The agent reads the
 * history and the band values from the store and acts on the answers.
 *
 * Invariants:
 *   - search_propose(s, h, n, number) gives the same parameters for the same
 *     (spec, history, number) on every machine: its draws come from the
 *     spec's counter-based generator (spec_rand_word) seeded by spec->seed
 *     and number, never from the clock.
 *   - A NaN or infinite metric value never stops a trial and never moves a
 *     band's threshold.
 *   - A parsed stop_rule has at least one band (hyperband, asha) or a
 *     min_iter >= 1 (median); its bands are ascending and distinct.
 */
#ifndef SQ_SEARCH_H
#define SQ_SEARCH_H

#include "spec/spec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- history --------------------------------------------------------- */
typedef enum {
    SEARCH_COMPLETE, /* succeeded: value = its final value of the metric */
    SEARCH_STOPPED,  /* early-terminated: value = last value reached, step = where */
    SEARCH_RUNNING,  /* pending or running: params only (constant liar) */
    SEARCH_FAILED,   /* failed or cancelled: params only, value NAN */
} search_state;

typedef struct search_obs {
    const json_t *params; /* {"dotted.name": value} as spec_trial_params makes */
    search_state state;
    double value;  /* NAN when none */
    uint64_t step; /* SEARCH_STOPPED: the step it was stopped at */
} search_obs;

/*
 * Parameters of trial `number` (1-based) of a bayes sweep: TPE as Optuna v5
 * runs it by default (multivariate, constant liar, 10 startup trials, 24
 * candidates). A pure function of (spec, history, number): spec->seed and
 * number seed the draws, so a sequential run is reproducible. Random
 * draws (spec_trial_params) while fewer than 10 trials are complete or
 * stopped. *out: a new object of the same shape spec_trial_params makes.
 *
 * history: the sweep's other trials, oldest (lowest trial number) first;
 * Optuna weighs older trials less once there are more than 25, so the
 * order matters. The trial being proposed must not be in it. Which trials
 * count how (docs/search.md, "Failed and stopped trials"):
 *   COMPLETE  ranked by value (a NaN value counts as FAILED);
 *   STOPPED   ranked after every complete trial, deepest step first, then
 *             by value (NaN last) - Optuna's rule for pruned trials;
 *   RUNNING   always in the "bad" group (constant liar), so parallel
 *             proposals spread out; not counted for gamma or the startup;
 *   FAILED    left out, as Optuna leaves failed trials out.
 * A trial whose params do not fit the spec (a name missing, a value off
 * the list) is left out. The goal is spec->metric.goal.
 *
 * How each distribution is searched (all as Optuna's TPE would, in the
 * internal coordinate named here):
 *   uniform                       the value itself, [min, max]
 *   int_uniform                   integers, kernels over [min-1/2, max+1/2]
 *   q_uniform                     multiples of q, +-q/2 around each
 *   log_uniform(_values),         log(value): Optuna's log=True
 *   inv_log_uniform(_values)
 *   q_log_uniform(_values)        log(value), each multiple of q the cell
 *                                 log(v-q/2)..log(v+q/2)
 *   normal, log_normal, q_*       UNBOUNDED: searched on the scale of their
 *                                 own CDF, u = Phi((x - mu) / sigma) (x the
 *                                 log of the value for log_normal), a
 *                                 uniform(0, 1) parameter to TPE, so the
 *                                 prior is the spec's normal; u is kept in
 *                                 [1e-15, 1 - 1e-15], i.e. within about
 *                                 7.9 sigma of mu
 *   categorical, paired group     one categorical dimension (a paired group:
 *                                 its index), prior spread by the spec's
 *                                 probabilities when it gives them
 *   constant, one-value ranges    not searched: the value is copied
 * Returns 0, or SQ_EINVAL when the spec has no metric (a bayes sweep needs
 * one) or trial `number` is out of range. *out is NULL on error.
 */
int search_propose(const spec *s, const search_obs *history, size_t n, uint64_t number,
                   json_t **out);

/* ---- early termination ----------------------------------------------- */
typedef enum { STOP_HYPERBAND, STOP_ASHA, STOP_MEDIAN } stop_type;

typedef struct stop_rule {
    stop_type type;
    uint64_t *bands; /* ascending steps where a check is made (median:
                        empty; every step >= min_iter is checked) */
    size_t nbands;
    double eta;
    bool strict; /* hyperband: compare the value at the band (true) or
                    the best so far (false) */
    uint64_t min_iter, max_iter;
    uint64_t min_trials; /* median: stop only when at least this many
                            completed trials have a value at the step */
} stop_rule;

#define STOP_RULE_INIT                                                                             \
    {                                                                                              \
        STOP_HYPERBAND, NULL, 0, 3.0, true, 0, 0, 0                                                \
    }

/*
 * Parses spec->early_terminate (the JSON the spec loader kept). On a bad
 * rule returns SQ_EINVAL with *why set to a sentence saying what to do
 * (the spec loader turns it into file:line:col); the caller frees *why.
 * On success *why is NULL and *out is filled (release it with
 * stop_rule_release); on error *out is empty (STOP_RULE_INIT).
 *
 *   {type: hyperband, min_iter | max_iter + s, eta = 3, strict = true}
 *       W&B's bands (wandb/sweeps hyperband_stopping.py): with max_iter and
 *       s, max_iter / eta^k for k = 1..s, int() of each, those >= 1; else
 *       int(min_iter * eta^k) for k = 0..99. W&B fails on max_iter without
 *       s; sweepq then takes min_iter's bands up to max_iter.
 *   {type: asha, min_iter = 1, eta = 3, max_iter}
 *       rungs int(min_iter * eta^k) up to max_iter (100 rungs without it).
 *   {type: median, min_iter = 1, min_trials = 5}
 *       every step >= min_iter, once min_trials completed trials reached it
 *       (Optuna's MedianPruner: n_startup_trials=5, best value so far).
 */
int stop_rule_parse(const json_t *early_terminate, stop_rule *out, char **why);
void stop_rule_release(stop_rule *r);

/* True when `step` is a step at which r makes a check. */
bool stop_rule_checks_at(const stop_rule *r, uint64_t step);

/*
 * The decision at one band: `others` are the values (raw, not sign-flipped)
 * that the sweep's trials had at this step, THIS TRIAL'S OWN VALUE INCLUDED
 * as the store returns it (hyperband and asha: every trial that reached the
 * step, finished ones too, as W&B counts them; median: completed
 * (succeeded) trials only, so not this one),
 * `value` this trial's value (strict: at the band; else best so far).
 * NaN/Inf in others are ignored; a NaN/Inf value never stops. Returns true
 * when the trial must stop:
 *   hyperband  W&B's rule: flip the sign when maximizing, sort, threshold
 *              = sorted[int(n / eta)]; stop when value is worse than it
 *              (so the first trial to reach a band is never stopped);
 *   asha       Optuna's successive halving: keep the top max(1,
 *              floor(n / eta)); stop when value is worse than the last kept;
 *   median     stop when value is worse than the median of others (the
 *              mean of the middle two for an even count), given at least
 *              min_trials of them.
 */
bool stop_should(const stop_rule *r, bool maximize, const double *others, size_t n, double value);

#endif
