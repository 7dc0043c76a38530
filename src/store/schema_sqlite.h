/*
 * schema_sqlite.h - the SQLite store's schema as a list of migrations.
 *
 * PRAGMA user_version is the number of migrations applied. Migration i
 * (0-based) brings a database from version i to i + 1; sqlite.c applies the
 * missing ones in one BEGIN IMMEDIATE transaction at open, so two processes
 * opening a new store at once migrate it once. Never edit a migration that
 * has shipped: append a new one (ALTER TABLE, CREATE INDEX, ...).
 *
 * Invariants the SQL keeps:
 *   - trials.state and sweeps.state hold the trial_state and sweep_state
 *     enums of store.h; attempts.outcome and trials.last_outcome hold
 *     attempt_outcome.
 *   - sweeps.n_total counts the sweep's trials: sqlite.c adds what it
 *     inserts, and trials are only deleted with their sweep. Counts by state
 *     come from partial indexes: pending (trials_pending), running
 *     (trials_running, a few hundred rows at most), failed, cancelled and
 *     stopped (usually few); succeeded is the rest. No counter row is written on a
 *     claim or a finish, which keeps the sweep's row out of the hot path.
 *   - A trial's row holds its last attempt (attempt, agent_id, started_at,
 *     finished_at, last_outcome, exit_code, term_signal, error). The trigger
 *     trials_archive copies it to the attempts table when the trial is
 *     claimed again (attempt + 1), so attempts holds every earlier attempt
 *     and a trial that succeeds at its first try writes no attempts row.
 *   - trials_pending (pending trials by number) serves claims; trials_running
 *     (running trials by lease expiry) serves the reaper. Claim + finish
 *     write 5 pages: the trial's leaf twice, two index leaves on claim, one
 *     on finish.
 *   - logs holds one row per (trial, attempt) whose log an agent shipped: the
 *     last STORE_LOG_MAX bytes, replaced on each shipping. Deleted with the
 *     trial. A separate table, so the trial rows the claim path writes stay
 *     small.
 */
#ifndef SQ_SCHEMA_SQLITE_H
#define SQ_SCHEMA_SQLITE_H

/* 'SWPQ': marks the file as a sweepq store (PRAGMA application_id). */
#define SCHEMA_SQLITE_APPLICATION_ID 0x53575051

static const char *const schema_sqlite_migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE sweeps (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    name TEXT NOT NULL UNIQUE,\n"
    "    state INTEGER NOT NULL DEFAULT 0,\n"
    "    spec_json TEXT NOT NULL,\n"
    "    spec_yaml TEXT,\n"
    "    command_json TEXT NOT NULL,\n"
    "    tags_json TEXT NOT NULL DEFAULT '[]',\n"
    "    metric_name TEXT,\n"
    "    maximize INTEGER NOT NULL DEFAULT 0,\n"
    "    max_attempts INTEGER NOT NULL,\n"
    "    lease_ttl REAL NOT NULL,\n"
    "    timeout REAL NOT NULL DEFAULT 0,\n"
    "    cpus INTEGER NOT NULL DEFAULT 1,\n"
    "    gpus INTEGER NOT NULL DEFAULT 0,\n"
    "    gpu_memory INTEGER NOT NULL DEFAULT 0,\n"
    "    open_ended INTEGER NOT NULL DEFAULT 0,\n"
    "    total INTEGER NOT NULL DEFAULT 0,\n"
    "    next_number INTEGER NOT NULL DEFAULT 1,\n"
    "    n_total INTEGER NOT NULL DEFAULT 0,\n"
    "    created_at REAL NOT NULL,\n"
    "    updated_at REAL NOT NULL,\n"
    "    finished_at REAL NOT NULL DEFAULT 0,\n"
    "    completion_claimed INTEGER NOT NULL DEFAULT 0,\n"
    "    completion_by TEXT,\n"
    "    completion_at REAL NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE trials (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,\n"
    "    number INTEGER NOT NULL,\n"
    "    key TEXT NOT NULL,\n"
    "    params_json TEXT NOT NULL,\n"
    "    state INTEGER NOT NULL DEFAULT 0,\n"
    "    attempt INTEGER NOT NULL DEFAULT 0,\n"
    "    failures INTEGER NOT NULL DEFAULT 0,\n"
    "    agent_id TEXT,\n"
    "    lease_expires REAL NOT NULL DEFAULT 0,\n"
    "    created_at REAL NOT NULL,\n"
    "    started_at REAL NOT NULL DEFAULT 0,\n"
    "    finished_at REAL NOT NULL DEFAULT 0,\n"
    "    exit_code INTEGER NOT NULL DEFAULT -1,\n"
    "    term_signal INTEGER NOT NULL DEFAULT 0,\n"
    "    last_outcome INTEGER NOT NULL DEFAULT 0,\n"
    "    error TEXT,\n"
    "    metrics_json TEXT NOT NULL DEFAULT '{}',\n"
    "    cancel_requested INTEGER NOT NULL DEFAULT 0,\n"
    "    UNIQUE (sweep_id, number)\n"
    ");\n"
    "CREATE INDEX trials_pending ON trials(sweep_id, number) WHERE state = 0;\n"
    "CREATE INDEX trials_running ON trials(lease_expires) WHERE state = 1;\n"
    "CREATE INDEX trials_failed ON trials(sweep_id) WHERE state = 3;\n"
    "CREATE INDEX trials_cancelled ON trials(sweep_id) WHERE state = 4;\n"
    "CREATE TABLE attempts (\n"
    "    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "    attempt INTEGER NOT NULL,\n"
    "    agent_id TEXT,\n"
    "    started_at REAL NOT NULL,\n"
    "    finished_at REAL NOT NULL DEFAULT 0,\n"
    "    outcome INTEGER NOT NULL DEFAULT 0,\n"
    "    exit_code INTEGER NOT NULL DEFAULT -1,\n"
    "    signal INTEGER NOT NULL DEFAULT 0,\n"
    "    error TEXT,\n"
    "    PRIMARY KEY (trial_id, attempt)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE metrics (\n"
    "    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "    attempt INTEGER NOT NULL,\n"
    "    step INTEGER,\n"
    "    time REAL NOT NULL,\n"
    "    name TEXT NOT NULL,\n"
    "    value REAL\n"
    ");\n"
    "CREATE INDEX metrics_trial ON metrics(trial_id, attempt);\n"
    "CREATE TABLE agents (\n"
    "    id TEXT PRIMARY KEY,\n"
    "    host TEXT,\n"
    "    pid INTEGER NOT NULL DEFAULT 0,\n"
    "    slots INTEGER NOT NULL DEFAULT 0,\n"
    "    gpus_json TEXT,\n"
    "    version TEXT,\n"
    "    started_at REAL NOT NULL,\n"
    "    last_seen REAL NOT NULL\n"
    ");\n"
    "CREATE TRIGGER trials_archive AFTER UPDATE OF attempt ON trials\n"
    "WHEN old.attempt > 0 AND new.attempt > old.attempt BEGIN\n"
    "    INSERT INTO attempts(trial_id, attempt, agent_id, started_at, finished_at, outcome,\n"
    "                         exit_code, signal, error)\n"
    "    VALUES (old.id, old.attempt, old.agent_id, old.started_at, old.finished_at,\n"
    "            old.last_outcome, old.exit_code, old.term_signal, old.error);\n"
    "END;\n",
    /* 2: log tails shipped by agents (store_put_log), at most STORE_LOG_MAX
     * bytes each; a BLOB, since a program's output need not be UTF-8. */
    "CREATE TABLE logs (\n"
    "    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "    attempt INTEGER NOT NULL,\n"
    "    updated_at REAL NOT NULL,\n"
    "    text BLOB NOT NULL,\n"
    "    PRIMARY KEY (trial_id, attempt)\n"
    ");\n",
    /* 3: idempotent claims (store_claim_request). trials.claim_request is
     * the request id of the claim that made the current attempt (NULL for
     * none); claim_requests holds each agent's latest request id per sweep,
     * so a repeated request is told from a new one even when it claimed
     * nothing. One row per (agent, sweep): deleted with the sweep, and with
     * the agent when it deregisters. */
    "ALTER TABLE trials ADD COLUMN claim_request TEXT;\n"
    "CREATE TABLE claim_requests (\n"
    "    agent_id TEXT NOT NULL,\n"
    "    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,\n"
    "    request_id TEXT NOT NULL,\n"
    "    claimed_at REAL NOT NULL,\n"
    "    PRIMARY KEY (agent_id, sweep_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX claim_requests_sweep ON claim_requests(sweep_id);\n",
    /* 4: early termination. Trials in state 5 (stopped) are counted by
     * trials_stopped like failed and cancelled; stopped_step is the step a
     * stopped trial was stopped at (0 otherwise). metrics_trial_step
     * replaces metrics_trial: it serves a trial's series as before and
     * finds one metric's row at one step for store_band_values. */
    "ALTER TABLE trials ADD COLUMN stopped_step INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX trials_stopped ON trials(sweep_id) WHERE state = 5;\n"
    "DROP INDEX metrics_trial;\n"
    "CREATE INDEX metrics_trial_step ON metrics(trial_id, attempt, name, step);\n",
    /* 5: the completion is a lease (store_complete_update). completion_by
     * holds it until completion_expires (0: nobody holds it); a failed
     * on_complete may be won again from completion_retry_at; after
     * max_attempts failures it is given up. completion_claimed now means
     * done: a completion claimed before this migration counts as done. */
    "ALTER TABLE sweeps ADD COLUMN completion_expires REAL NOT NULL DEFAULT 0;\n"
    "ALTER TABLE sweeps ADD COLUMN completion_failures INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE sweeps ADD COLUMN completion_retry_at REAL NOT NULL DEFAULT 0;\n",
};

#endif
