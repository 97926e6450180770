-- The SQLite store's own statements (queries.sql holds those both databases share). Lists of values come as
-- JSON arrays (json_each); the writes of a commit are one statement per row (executemany: no round trips here).

-- name: create_execution
-- Its lease, if any, is kept in memory (hold).
INSERT INTO executions (arn, state_machine_arn, name, status, start_date, map_run_arn, record, seq)
VALUES (:arn, :state_machine_arn, :name, :status, :start_date, :map_run_arn, :record, nextval('creation_order'))
ON CONFLICT (arn) DO NOTHING RETURNING arn;

-- name: update_execution
-- A redrive sets RUNNING: the execution is open again (its stop date goes).
UPDATE executions SET record = merge_record(record, :summary), status = coalesce(:status, status),
    stop_date = CASE WHEN :status = 'RUNNING' THEN NULL ELSE stop_date END
WHERE arn = :arn;

-- name: history_pages
-- The pages holding events first..last (ids are gap-free), in order.
SELECT bodies FROM history
WHERE execution = (SELECT seq FROM executions WHERE arn = :arn) AND first_id <= :last AND last_id >= :first
ORDER BY first_id;

-- name: load_executions
SELECT arn, record, checkpoint FROM executions WHERE arn IN (SELECT value FROM json_each(:arns));

-- name: pending_tasks_among
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE execution_arn IN (SELECT value FROM json_each(:arns)) ORDER BY seq;

-- name: signals_of
SELECT id, execution_arn, kind, payload FROM signals WHERE execution_arn IN (SELECT value FROM json_each(:arns))
ORDER BY id LIMIT :limit;

-- name: claim_activity_task
UPDATE tasks SET worker = :worker
WHERE (execution_arn, thread) = (
    SELECT execution_arn, thread FROM tasks WHERE activity_arn = :activity_arn AND worker IS NULL ORDER BY seq LIMIT 1)
RETURNING execution_arn, thread, token, effect, task_token, activity_arn, worker;

-- name: clear_timers
DELETE FROM timers WHERE execution_arn = :arn;

-- name: clear_tasks
DELETE FROM tasks WHERE execution_arn = :arn;

-- name: clear_signals
DELETE FROM signals WHERE execution_arn = :arn;

-- name: consume_signals
DELETE FROM signals WHERE id = :id;

-- name: delete_timers
DELETE FROM timers WHERE execution_arn = :arn AND thread = :thread AND kind = :kind;

-- name: set_timers
INSERT INTO timers VALUES (:arn, :thread, :kind, :token, :due)
ON CONFLICT (execution_arn, thread, kind) DO UPDATE SET token = excluded.token, due = excluded.due;

-- name: delete_tasks
DELETE FROM tasks WHERE execution_arn = :arn AND thread = :thread;

-- name: set_tasks
INSERT INTO tasks VALUES (:arn, :thread, :token, :effect, :task_token, :activity_arn, NULL, nextval('creation_order'))
ON CONFLICT (execution_arn, thread) DO UPDATE
SET token = excluded.token, effect = excluded.effect, task_token = excluded.task_token,
    activity_arn = excluded.activity_arn, worker = NULL;

-- name: insert_history
INSERT INTO history SELECT seq, :first_id, :last_id, :bodies FROM executions WHERE arn = :arn;

-- name: create_execution
-- Its lease, if any, is kept in memory (hold).
INSERT INTO executions (arn, state_machine_arn, name, status, start_date, map_run_arn, record, seq)
VALUES (:arn, :state_machine_arn, :name, :status, :start_date, :map_run_arn, :record, nextval('creation_order'))
ON CONFLICT (arn) DO NOTHING RETURNING arn;

-- name: update_executions
-- What a group's changes left of one execution (see postgres_queries.sql). Events that would not continue the
-- history gap-free make the count NULL, which NOT NULL refuses: the transaction fails.
UPDATE executions SET
    status = coalesce(:status, status),
    checkpoint = CASE WHEN :status IS NULL THEN checkpoint ELSE :checkpoint END,
    record = CASE WHEN :summary IS NULL THEN record ELSE merge_record(record, :summary) END,
    events = CASE WHEN :last_event IS NULL THEN events WHEN :first_event = events + 1 THEN :last_event END,
    stop_date = CASE WHEN :status IS NULL THEN stop_date WHEN :status = 'RUNNING' THEN NULL
                     ELSE coalesce(:stop_date, stop_date) END
WHERE arn = :arn;

-- name: running_among
-- Leases live in memory (sqlite.py): the claims only read which executions run.
SELECT arn, seq FROM executions WHERE status = 'RUNNING' AND arn IN (SELECT value FROM json_each(:arns));

-- name: needing_worker
SELECT arn, seq FROM executions
WHERE status = 'RUNNING' AND (checkpoint IS NULL OR arn IN (SELECT execution_arn FROM signals));

-- name: purge_history
-- Retention (core.py's purge_closed): a closed execution's first :pages pages of history (one row per page
-- deleted), then, once none is left, what else belongs to it, and last the execution.
DELETE FROM history WHERE (execution, first_id) IN (
    SELECT h.execution, h.first_id FROM executions e JOIN history h ON h.execution = e.seq
    WHERE e.arn = :arn AND e.status <> 'RUNNING' ORDER BY h.first_id LIMIT :pages)
RETURNING first_id;

-- name: get_iterations
-- A checkpoint's Maps' items and results (engine/checkpoint.py), read back to restore it.
SELECT map, idx, body FROM iterations WHERE execution_arn = :arn AND map IN (SELECT value FROM json_each(:maps));

-- name: clear_iterations
DELETE FROM iterations WHERE execution_arn = :arn;

-- name: set_iterations
INSERT INTO iterations VALUES (:arn, :map, :idx, :body)
ON CONFLICT (execution_arn, map, idx) DO UPDATE SET body = excluded.body;

-- name: delete_iterations
DELETE FROM iterations WHERE execution_arn = :arn AND map = :map;

-- name: purge_map_runs
DELETE FROM resources WHERE kind IN ('map_run', 'map_run_progress', 'map_run_child') AND parent = :arn;

-- name: purge_executions
DELETE FROM executions WHERE arn = :arn AND status <> 'RUNNING';

-- name: express_map_run_parents
-- Retention: the Express executions (never stored: they run in memory) with a Map Run that began before :before.
-- An Express execution lasts five minutes at most: those runs are over, or were cut short by a restart.
SELECT DISTINCT parent FROM resources WHERE kind = 'map_run_progress' AND parent LIKE :express_parent
    AND json_extract(record, '$.startDate') < :before LIMIT :limit;

-- name: set_schedule_due
INSERT INTO timers VALUES (:arn, '', 'schedule', :token, :due)
ON CONFLICT (execution_arn, thread, kind) DO UPDATE SET token = excluded.token, due = excluded.due;

-- name: advance_schedule
-- Only the caller that saw the current due time (its token) moves it on.
UPDATE timers SET token = :next_token, due = :next_due
WHERE execution_arn = :arn AND thread = '' AND kind = 'schedule' AND token = :token RETURNING token;
