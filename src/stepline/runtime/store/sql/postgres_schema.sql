-- The PostgreSQL store's schema, as numbered migrations. `stepline db upgrade` (and the first open of an empty
-- schema) applies, in one transaction, every migration above the version recorded in meta.schema_version.
-- Never edit a migration that has shipped: add the next one.

-- migration: 1
-- Resources, definitions, executions and their histories, the runtime's timers and tasks, and leases.
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

-- Creation order of resources, executions and tasks, shared by every process.
CREATE SEQUENCE creation_order;

CREATE TABLE resources (
    kind text NOT NULL,                    -- state_machine, version, alias, activity
    arn text NOT NULL,
    parent text,                           -- a version's or an alias's state machine
    record jsonb NOT NULL,                 -- the describe call's members; dates as epoch seconds
    seq bigint NOT NULL DEFAULT nextval('creation_order'),
    PRIMARY KEY (kind, arn));
CREATE INDEX resources_by_parent ON resources (kind, parent, seq);

CREATE TABLE tags (arn text NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (arn, key));

CREATE TABLE definitions (digest text PRIMARY KEY, definition text NOT NULL);

CREATE TABLE executions (
    arn text PRIMARY KEY,
    state_machine_arn text NOT NULL,
    name text NOT NULL,
    status text NOT NULL,
    start_date timestamptz NOT NULL,
    map_run_arn text,
    record jsonb NOT NULL,
    checkpoint text,                       -- the interpreter's position (JSON text); NULL once succeeded
    seq bigint NOT NULL DEFAULT nextval('creation_order'),
    lease_owner text,                      -- the worker that claimed it last
    lease_expires timestamptz NOT NULL DEFAULT '-infinity',   -- free when <= now
    fence bigint NOT NULL DEFAULT 0);      -- raised by every claim; a commit must carry the current one
CREATE INDEX executions_by_machine ON executions (state_machine_arn, seq);
CREATE INDEX executions_claimable ON executions (lease_expires, seq) WHERE status = 'RUNNING';

CREATE TABLE events (
    execution_arn text NOT NULL,
    id integer NOT NULL,
    body text NOT NULL,                    -- the event as JSON text; timestamp in epoch seconds
    PRIMARY KEY (execution_arn, id));

CREATE TABLE timers (
    execution_arn text NOT NULL,
    thread text NOT NULL,
    kind text NOT NULL,
    token bigint NOT NULL,
    due timestamptz NOT NULL,
    claimed_by text,
    claimed_until timestamptz NOT NULL DEFAULT '-infinity',   -- a claim lasts until then
    PRIMARY KEY (execution_arn, thread, kind));
CREATE INDEX timers_by_due ON timers (due);

CREATE TABLE tasks (
    execution_arn text NOT NULL,
    thread text NOT NULL,
    token bigint NOT NULL,
    effect text NOT NULL,                  -- the InvokeTask effect as JSON text
    task_token text,
    activity_arn text,
    worker text,                           -- the activity worker that took it
    seq bigint NOT NULL DEFAULT nextval('creation_order'),
    PRIMARY KEY (execution_arn, thread));
CREATE INDEX tasks_by_token ON tasks (task_token);
CREATE INDEX tasks_unclaimed ON tasks (activity_arn, seq) WHERE worker IS NULL;

-- migration: 2
-- Several workers: the inbox of signals for running executions, the workers' reports, and an index for the
-- claims of executions that need a worker (never started, or left by a worker whose lease expired).
CREATE TABLE signals (
    id bigserial PRIMARY KEY,              -- the order signals of one execution are applied in
    execution_arn text NOT NULL,
    kind text NOT NULL,                    -- stop, task_ok, task_failed, heartbeat, redrive, activity_started, timer
    payload text NOT NULL,                 -- JSON text: {"thread", "token", "payload"}
    posted timestamptz NOT NULL DEFAULT now());
CREATE INDEX signals_by_execution ON signals (execution_arn, id);

CREATE TABLE workers (
    name text PRIMARY KEY,
    record jsonb NOT NULL,                 -- host, pid, started, leases, tasks, intervals
    heartbeat timestamptz NOT NULL);

CREATE INDEX executions_needing_worker ON executions (lease_expires, seq)
    WHERE status = 'RUNNING' AND (lease_owner IS NOT NULL OR checkpoint IS NULL);

-- migration: 3
-- Histories in pages (store/codec.py): a row per execution per commit instead of one per event. The
-- execution's row counts its events; a commit whose events would not continue them exactly is refused.
CREATE TABLE history (
    execution_arn text NOT NULL,
    first_id integer NOT NULL,
    last_id integer NOT NULL,
    bodies text NOT NULL,                  -- the events as one JSON array; timestamps as RFC 3339 text
    PRIMARY KEY (execution_arn, first_id));
-- A resource's record is read whole at every StartExecution (a state machine's holds its definition): as text
-- it is sent as it is, where jsonb was serialised again at every read (the costliest statement of a start).
ALTER TABLE resources ALTER COLUMN record TYPE text USING record::text;
-- Long values (pages, checkpoints, definitions) are compressed as they are written: lz4 costs the server half
-- the CPU of the default pglz. Where the server has no lz4 (built without it, or before PostgreSQL 14), pglz stays.
DO $$ BEGIN
    ALTER TABLE history ALTER COLUMN bodies SET COMPRESSION lz4;
    ALTER TABLE executions ALTER COLUMN checkpoint SET COMPRESSION lz4;
    ALTER TABLE resources ALTER COLUMN record SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN NULL;
END $$;
INSERT INTO history SELECT execution_arn, id, id, '[' || body || ']' FROM events;
ALTER TABLE executions ADD COLUMN events integer NOT NULL DEFAULT 0;
UPDATE executions SET events = (SELECT count(*) FROM events WHERE execution_arn = arn);
DROP TABLE events;

-- migration: 4
-- Retention: the date an execution closed (NULL while it runs), as a column an index finds the oldest by.
ALTER TABLE executions ADD COLUMN stop_date timestamptz;
UPDATE executions SET stop_date = to_timestamp((record->>'stopDate')::float8)
WHERE status <> 'RUNNING' AND jsonb_typeof(record->'stopDate') = 'number';
CREATE INDEX executions_by_stop_date ON executions (stop_date) WHERE stop_date IS NOT NULL;

-- migration: 5
-- A running Map's items and its iterations' results, apart from the checkpoint (engine/checkpoint.py): row -1 holds
-- the items, row i the result of iteration i, each written once by the commit that produced it.
CREATE TABLE iterations (
    execution_arn text NOT NULL,
    map text NOT NULL,                     -- the Map state's thread, the event it entered at and its retries
    idx integer NOT NULL,
    body text NOT NULL,                    -- JSON text
    PRIMARY KEY (execution_arn, map, idx));
