/*
 * schema_postgres.h - the PostgreSQL store's schema as a list of migrations.
 *
 * The table sweepq_schema holds one row: the number of migrations applied.
 * Migration i (0-based) brings a database from version i to i + 1.
 * postgres.c applies the missing ones in one transaction that first takes
 * pg_advisory_xact_lock(SCHEMA_POSTGRES_LOCK), so two machines opening a new
 * database at once end with one schema, migrated once. Never edit a
 * migration that has shipped: append a new one.
 *
 * Invariants the SQL keeps (as schema_sqlite.h, with these differences):
 *   - Times are float8 seconds since the epoch from the database's clock
 *     (extract(epoch from now())), never a client's.
 *   - trials has fillfactor 70 and no index on lease_expires, agent_id or
 *     the result columns, so a heartbeat (lease_expires only) is a HOT
 *     update that writes no index. A claim and a finish change `state`,
 *     which the partial indexes name in their predicates, so they are not
 *     HOT; the free space still keeps the new version on the same page, and
 *     autovacuum runs after 2% of the rows changed (not 20%) so that dead
 *     entries at the head of trials_pending do not pile up under claims.
 *   - trials_pending (pending trials by number) serves claims with
 *     FOR UPDATE SKIP LOCKED; trials_running (running trials by sweep)
 *     serves counts, the reaper and settling. Both stay small.
 *   - sweeps.reopened counts the times trials of the sweep went back to
 *     pending (reaped, retried, failed with tries left, preempted) or were
 *     added: a claim that starts its scan past the numbers it claimed before
 *     does so only while it has not moved (see postgres.c, claim_fn).
 *   - metrics_json is jsonb (merged with ||); postgres.c hands it out as
 *     compact JSON text, as sqlite does.
 *   - logs (one row per shipped (trial, attempt), replaced on each shipping)
 *     is a table of its own, so the hot trials rows stay small; its bytea
 *     travels hex-encoded (encode/decode in the SQL), whatever bytea_output
 *     the server is set to.
 */
#ifndef SQ_SCHEMA_POSTGRES_H
#define SQ_SCHEMA_POSTGRES_H

/* 'SWPQ': the advisory lock that serializes schema creation and migration. */
#define SCHEMA_POSTGRES_LOCK 0x53575051

static const char *const schema_postgres_migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE sweeps (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    name text NOT NULL UNIQUE,\n"
    "    state int NOT NULL DEFAULT 0,\n"
    "    spec_json text NOT NULL,\n"
    "    spec_yaml text,\n"
    "    command_json text NOT NULL,\n"
    "    tags_json text NOT NULL DEFAULT '[]',\n"
    "    metric_name text,\n"
    "    maximize boolean NOT NULL DEFAULT false,\n"
    "    max_attempts int NOT NULL,\n"
    "    lease_ttl float8 NOT NULL,\n"
    "    timeout float8 NOT NULL DEFAULT 0,\n"
    "    cpus int NOT NULL DEFAULT 1,\n"
    "    gpus int NOT NULL DEFAULT 0,\n"
    "    gpu_memory bigint NOT NULL DEFAULT 0,\n"
    "    open_ended boolean NOT NULL DEFAULT false,\n"
    "    total bigint NOT NULL DEFAULT 0,\n"
    "    next_number bigint NOT NULL DEFAULT 1,\n"
    "    n_total bigint NOT NULL DEFAULT 0,\n"
    "    reopened bigint NOT NULL DEFAULT 0,\n"
    "    created_at float8 NOT NULL,\n"
    "    updated_at float8 NOT NULL,\n"
    "    finished_at float8 NOT NULL DEFAULT 0,\n"
    "    completion_claimed boolean NOT NULL DEFAULT false,\n"
    "    completion_by text,\n"
    "    completion_at float8 NOT NULL DEFAULT 0\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE trials (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    sweep_id bigint NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,\n"
    "    number bigint NOT NULL,\n"
    "    key text NOT NULL,\n"
    "    params_json text NOT NULL,\n"
    "    state int NOT NULL DEFAULT 0,\n"
    "    attempt int NOT NULL DEFAULT 0,\n"
    "    failures int NOT NULL DEFAULT 0,\n"
    "    agent_id text,\n"
    "    lease_expires float8 NOT NULL DEFAULT 0,\n"
    "    created_at float8 NOT NULL,\n"
    "    started_at float8 NOT NULL DEFAULT 0,\n"
    "    finished_at float8 NOT NULL DEFAULT 0,\n"
    "    exit_code int NOT NULL DEFAULT -1,\n"
    "    term_signal int NOT NULL DEFAULT 0,\n"
    "    last_outcome int NOT NULL DEFAULT 0,\n"
    "    error text,\n"
    "    metrics_json jsonb NOT NULL DEFAULT '{}',\n"
    "    cancel_requested boolean NOT NULL DEFAULT false,\n"
    "    UNIQUE (sweep_id, number)\n"
    ") WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,\n"
    "       autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0);\n"
    "CREATE INDEX trials_pending ON trials (sweep_id, number) WHERE state = 0;\n"
    "CREATE INDEX trials_running ON trials (sweep_id) WHERE state = 1;\n"
    "CREATE INDEX trials_failed ON trials (sweep_id) WHERE state = 3;\n"
    "CREATE INDEX trials_cancelled ON trials (sweep_id) WHERE state = 4;\n"
    "CREATE TABLE attempts (\n"
    "    trial_id bigint NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "    attempt int NOT NULL,\n"
    "    agent_id text,\n"
    "    started_at float8 NOT NULL,\n"
    "    finished_at float8 NOT NULL DEFAULT 0,\n"
    "    outcome int NOT NULL DEFAULT 0,\n"
    "    exit_code int NOT NULL DEFAULT -1,\n"
    "    signal int NOT NULL DEFAULT 0,\n"
    "    error text,\n"
    "    PRIMARY KEY (trial_id, attempt)\n"
    ");\n"
    "CREATE TABLE metrics (\n"
    "    seq bigserial PRIMARY KEY,\n"
    "    trial_id bigint NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "    attempt int NOT NULL,\n"
    "    step bigint,\n"
    "    time float8 NOT NULL,\n"
    "    name text NOT NULL,\n"
    "    value float8\n"
    ");\n"
    "CREATE INDEX metrics_trial ON metrics (trial_id, attempt);\n"
    "CREATE TABLE agents (\n"
    "    id text PRIMARY KEY,\n"
    "    host text,\n"
    "    pid int NOT NULL DEFAULT 0,\n"
    "    slots int NOT NULL DEFAULT 0,\n"
    "    gpus_json text,\n"
    "    version text,\n"
    "    started_at float8 NOT NULL,\n"
    "    last_seen float8 NOT NULL\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE FUNCTION trials_archive() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    INSERT INTO attempts(trial_id, attempt, agent_id, started_at, finished_at, outcome,\n"
    "                         exit_code, signal, error)\n"
    "    VALUES (OLD.id, OLD.attempt, OLD.agent_id, OLD.started_at, OLD.finished_at,\n"
    "            OLD.last_outcome, OLD.exit_code, OLD.term_signal, OLD.error);\n"
    "    RETURN NULL;\n"
    "END $$;\n"
    "CREATE TRIGGER trials_archive AFTER UPDATE OF attempt ON trials FOR EACH ROW\n"
    "WHEN (OLD.attempt > 0 AND NEW.attempt > OLD.attempt) EXECUTE FUNCTION trials_archive();\n",
    /* 2: log tails shipped by agents (store_put_log), at most STORE_LOG_MAX
     * bytes each; bytea, since a program's output need not be UTF-8 and may
     * hold NUL bytes, which text refuses. */
    "CREATE TABLE logs (\n"
    "    trial_id bigint NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "    attempt int NOT NULL,\n"
    "    updated_at float8 NOT NULL,\n"
    "    text bytea NOT NULL,\n"
    "    PRIMARY KEY (trial_id, attempt)\n"
    ");\n",
    /* 3: idempotent claims (store_claim_request). trials.claim_request is
     * the request id of the claim that made the current attempt (NULL for
     * none; no index: a heartbeat stays a HOT update). claim_requests holds
     * each agent's latest request id per sweep, so a repeated request is
     * told from a new one even when it claimed nothing; claimed_tx is the
     * txid_current() of the transaction that stored it, which lets the
     * claim in that same transaction (and only there) go ahead. One row per
     * (agent, sweep): deleted with the sweep, and with the agent when it
     * deregisters. */
    "ALTER TABLE trials ADD COLUMN claim_request text;\n"
    "CREATE TABLE claim_requests (\n"
    "    agent_id text NOT NULL,\n"
    "    sweep_id bigint NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,\n"
    "    request_id text NOT NULL,\n"
    "    claimed_at float8 NOT NULL,\n"
    "    claimed_tx bigint NOT NULL,\n"
    "    PRIMARY KEY (agent_id, sweep_id)\n"
    ");\n"
    "CREATE INDEX claim_requests_sweep ON claim_requests (sweep_id);\n",
    /* 4: early termination. Trials in state 5 (stopped) are counted by
     * trials_stopped like failed and cancelled; stopped_step is the step a
     * stopped trial was stopped at (0 otherwise; no index, so a heartbeat
     * stays HOT). metrics_trial_step replaces metrics_trial: it serves a
     * trial's series as before and finds one metric's row at one step for
     * store_band_values. */
    "ALTER TABLE trials ADD COLUMN stopped_step bigint NOT NULL DEFAULT 0;\n"
    "CREATE INDEX trials_stopped ON trials (sweep_id) WHERE state = 5;\n"
    "DROP INDEX metrics_trial;\n"
    "CREATE INDEX metrics_trial_step ON metrics (trial_id, attempt, name, step);\n",
    /* 5: the completion is a lease (store_complete_update). completion_by
     * holds it until completion_expires (0: nobody holds it); a failed
     * on_complete may be won again from completion_retry_at; after
     * max_attempts failures it is given up. completion_claimed now means
     * done: a completion claimed before this migration counts as done. */
    "ALTER TABLE sweeps ADD COLUMN completion_expires float8 NOT NULL DEFAULT 0;\n"
    "ALTER TABLE sweeps ADD COLUMN completion_failures int NOT NULL DEFAULT 0;\n"
    "ALTER TABLE sweeps ADD COLUMN completion_retry_at float8 NOT NULL DEFAULT 0;\n",
};

#endif
