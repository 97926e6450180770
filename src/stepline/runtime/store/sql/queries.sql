-- The store's statements, one `-- name: NAME` block each, loaded once by core.py; sqlite_queries.sql and
-- postgres_queries.sql hold those written differently for one database (lists, arrays, locks, leases).
-- Parameters are :name. Dates are datetimes (stored as epoch seconds by SQLite, timestamptz by PostgreSQL).
-- nextval('creation_order') numbers rows in creation order (a sequence in PostgreSQL, a function in SQLite).

-- name: schema_version
SELECT value FROM meta WHERE key = 'schema_version';

-- name: set_schema_version
INSERT INTO meta VALUES ('schema_version', :version) ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: create_resource
INSERT INTO resources (kind, arn, parent, record, seq)
VALUES (:kind, :arn, :parent, :record, nextval('creation_order'))
ON CONFLICT (kind, arn) DO NOTHING RETURNING arn;

-- name: put_resource
INSERT INTO resources (kind, arn, parent, record, seq)
VALUES (:kind, :arn, :parent, :record, nextval('creation_order'))
ON CONFLICT (kind, arn) DO UPDATE SET record = excluded.record;

-- name: get_resource
SELECT record FROM resources WHERE kind = :kind AND arn = :arn;

-- name: list_resources
SELECT record FROM resources WHERE kind = :kind ORDER BY seq;

-- name: list_resources_of_parent
SELECT record FROM resources WHERE kind = :kind AND parent = :parent ORDER BY seq;

-- name: delete_tags
DELETE FROM tags WHERE arn = :arn;

-- name: delete_resource
DELETE FROM resources WHERE kind = :kind AND arn = :arn RETURNING arn;

-- name: get_tags
SELECT key, value FROM tags WHERE arn = :arn ORDER BY key;

-- name: set_tag
INSERT INTO tags VALUES (:arn, :key, :value) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value;

-- name: remove_tag
DELETE FROM tags WHERE arn = :arn AND key = :key;

-- name: put_definition
INSERT INTO definitions VALUES (:digest, :definition) ON CONFLICT (digest) DO NOTHING;

-- name: get_definition
SELECT definition FROM definitions WHERE digest = :digest;

-- name: get_execution
SELECT record FROM executions WHERE arn = :arn;

-- name: list_executions
-- {where} is built from fixed column names, so each filter combination gets its own plan.
SELECT record FROM executions {where} ORDER BY seq DESC LIMIT :limit;

-- name: event_count
SELECT events FROM executions WHERE arn = :arn;

-- name: get_checkpoint
SELECT checkpoint FROM executions WHERE arn = :arn;

-- name: running_executions
SELECT arn FROM executions WHERE status = 'RUNNING' ORDER BY seq;

-- name: closed_before
-- Retention: the executions that closed before :before, oldest first (a redriven one runs again: NULL).
SELECT arn FROM executions WHERE stop_date < :before AND status <> 'RUNNING' ORDER BY stop_date LIMIT :limit;

-- name: count_running
-- An index-only count on both stores (their partial indexes of RUNNING rows): cheap enough for every scrape.
SELECT count(*) FROM executions WHERE status = 'RUNNING';

-- name: due_timers
SELECT execution_arn, thread, kind, token, due FROM timers WHERE due <= :now ORDER BY due LIMIT :limit;

-- name: next_timer_due
SELECT min(due) FROM timers;

-- name: pending_tasks
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks ORDER BY seq;

-- name: pending_tasks_of
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE execution_arn = :arn ORDER BY seq;

-- name: find_task
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE task_token = :task_token LIMIT 1;

-- name: post_signal
INSERT INTO signals (execution_arn, kind, payload) VALUES (:arn, :kind, :payload) RETURNING id;

-- name: signals
SELECT id, execution_arn, kind, payload FROM signals ORDER BY id LIMIT :limit;

-- name: report_worker
INSERT INTO workers VALUES (:name, :record, :now)
ON CONFLICT (name) DO UPDATE SET record = excluded.record, heartbeat = excluded.heartbeat;

-- name: list_workers
SELECT name, record, heartbeat FROM workers ORDER BY name;

-- name: remove_worker
DELETE FROM workers WHERE name = :name;

-- name: schedule_due_times
-- A schedule's next due time is a timer of kind 'schedule' under the schedule's ARN; its token is the nominal due
-- time in epoch seconds (the due time itself may be later in a flexible window).
SELECT execution_arn, token, due FROM timers WHERE kind = 'schedule';

-- name: clear_schedule_due
DELETE FROM timers WHERE execution_arn = :arn AND thread = '' AND kind = 'schedule';

-- name: end_schedule
DELETE FROM timers WHERE execution_arn = :arn AND thread = '' AND kind = 'schedule' AND token = :token
RETURNING token;
