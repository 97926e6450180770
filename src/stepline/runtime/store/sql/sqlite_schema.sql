-- The SQLite store's schema. `tables` runs at every open (each statement only creates what is missing); the
-- upgrades of a file written by an older stepline run next (paged_history below version 3, stop_dates below 4;
-- version 5 only added a table), then `indexes`. A new file is made with auto_vacuum=INCREMENTAL (sqlite.py), so that retention's deletions can
-- give their pages back to the file system.

-- name: tables
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, arn TEXT NOT NULL, parent TEXT, record TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (kind, arn));
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (kind, parent, seq);
CREATE TABLE IF NOT EXISTS tags (arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
CREATE TABLE IF NOT EXISTS definitions (digest TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    start_date REAL NOT NULL, map_run_arn TEXT, record TEXT NOT NULL, checkpoint TEXT, seq INTEGER NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,  -- how many events its history holds
    stop_date REAL);  -- when it closed (NULL while it runs): retention deletes it some days after
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (state_machine_arn, seq);
CREATE INDEX IF NOT EXISTS executions_running ON executions (status) WHERE status = 'RUNNING';
CREATE TABLE IF NOT EXISTS history (  -- pages of events (codec.py), keyed by the execution's seq (a small index)
    execution INTEGER NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, bodies TEXT NOT NULL,
    PRIMARY KEY (execution, first_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timers (
    execution_arn TEXT NOT NULL, thread TEXT NOT NULL, kind TEXT NOT NULL, token INTEGER NOT NULL, due REAL NOT NULL,
    PRIMARY KEY (execution_arn, thread, kind));
CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due);
CREATE TABLE IF NOT EXISTS tasks (
    execution_arn TEXT NOT NULL, thread TEXT NOT NULL, token INTEGER NOT NULL, effect TEXT NOT NULL,
    task_token TEXT, activity_arn TEXT, worker TEXT, seq INTEGER NOT NULL,
    PRIMARY KEY (execution_arn, thread));
CREATE INDEX IF NOT EXISTS tasks_by_token ON tasks (task_token);
CREATE INDEX IF NOT EXISTS tasks_by_activity ON tasks (activity_arn, worker, seq);
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, execution_arn TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS signals_by_execution ON signals (execution_arn, id);
CREATE TABLE IF NOT EXISTS workers (name TEXT PRIMARY KEY, record TEXT NOT NULL, heartbeat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS iterations (  -- version 5: a running Map's items and results (engine/checkpoint.py)
    execution_arn TEXT NOT NULL, map TEXT NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (execution_arn, map, idx)
) WITHOUT ROWID;

-- name: paged_history
-- Versions 1 and 2 kept one row per event (version 2 only added tables).
ALTER TABLE executions ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
INSERT INTO history SELECT execution, id, id, '[' || body || ']' FROM events;
UPDATE executions SET events = (SELECT count(*) FROM events WHERE execution = executions.seq);
DROP TABLE events;

-- name: stop_dates
-- Version 4: the date an execution closed, as a column that retention's index can find.
ALTER TABLE executions ADD COLUMN stop_date REAL;
UPDATE executions SET stop_date = json_extract(record, '$.stopDate') WHERE status <> 'RUNNING';

-- name: indexes
CREATE INDEX IF NOT EXISTS executions_by_stop_date ON executions (stop_date) WHERE stop_date IS NOT NULL;
