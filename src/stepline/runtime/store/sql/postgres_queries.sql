-- The PostgreSQL store's own statements (queries.sql holds those both databases share). Arrays (:name::type[])
-- are sent in binary (text arrays are several times slower to send); through unnest, a commit's writes are one
-- statement per table for the whole group. Leases and claims are rows locked FOR UPDATE SKIP LOCKED.

-- name: schema_exists
SELECT to_regclass('meta') IS NOT NULL;

-- name: lock_schema
-- Two processes opening an empty schema at once: one creates it, the other then finds it.
SELECT pg_advisory_xact_lock(hashtext('stepline schema ' || :schema));

-- name: create_execution
-- Held by the worker that creates it when it gives a lease (:worker, :expires and :fence are NULL otherwise).
INSERT INTO executions (arn, state_machine_arn, name, status, start_date, map_run_arn, record, seq, lease_owner,
                        lease_expires, fence)
VALUES (:arn, :state_machine_arn, :name, :status, :start_date, :map_run_arn, :record, nextval('creation_order'),
        :worker, coalesce(:expires::timestamptz, '-infinity'), coalesce(:fence::bigint, 0))
ON CONFLICT (arn) DO NOTHING RETURNING arn;

-- name: update_execution
-- A redrive sets RUNNING: the execution is open again (its stop date goes), and any worker may claim it at once
-- (the lease it ended under would hold it until it expired).
UPDATE executions SET record = record || :summary::jsonb, status = coalesce(:status, status),
    stop_date = CASE WHEN :status = 'RUNNING' THEN NULL ELSE stop_date END,
    lease_expires = CASE WHEN :status = 'RUNNING' THEN '-infinity' ELSE lease_expires END
WHERE arn = :arn;

-- name: history_pages
-- The pages holding events first..last (ids are gap-free), in order.
SELECT bodies FROM history
WHERE execution_arn = :arn AND first_id <= :last AND last_id >= :first ORDER BY first_id;

-- name: load_executions
SELECT arn, record, checkpoint FROM executions WHERE arn = ANY(:arns::text[]);

-- name: pending_tasks_among
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE execution_arn = ANY(:arns::text[]) ORDER BY seq;

-- name: signals_of
SELECT id, execution_arn, kind, payload FROM signals WHERE execution_arn = ANY(:arns::text[])
ORDER BY id LIMIT :limit;

-- name: claim_activity_task
-- A task another claimer has locked is skipped: two GetActivityTask calls never get the same task.
UPDATE tasks SET worker = :worker
WHERE (execution_arn, thread) = (
    SELECT execution_arn, thread FROM tasks WHERE activity_arn = :activity_arn AND worker IS NULL
    ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING execution_arn, thread, token, effect, task_token, activity_arn, worker;

-- name: current_fences
-- Locks the rows: a claim cannot take them over between this check and the commit.
SELECT arn, fence FROM executions WHERE arn = ANY(:arns::text[]) ORDER BY arn FOR UPDATE;

-- name: notify
SELECT pg_notify(:channel, :payload);

-- name: clear_timers
DELETE FROM timers WHERE execution_arn = ANY(:arn::text[]);

-- name: clear_tasks
DELETE FROM tasks WHERE execution_arn = ANY(:arn::text[]);

-- name: clear_signals
DELETE FROM signals WHERE execution_arn = ANY(:arn::text[]);

-- name: consume_signals
DELETE FROM signals WHERE id = ANY(:id::bigint[]);

-- name: delete_timers
DELETE FROM timers AS t USING unnest(:arn::text[], :thread::text[], :kind::text[]) AS d(arn, thread, kind)
WHERE t.execution_arn = d.arn AND t.thread = d.thread AND t.kind = d.kind;

-- name: set_timers
-- Setting a timer again makes it claimable again.
INSERT INTO timers (execution_arn, thread, kind, token, due)
SELECT * FROM unnest(:arn::text[], :thread::text[], :kind::text[], :token::bigint[], :due::timestamptz[])
ON CONFLICT (execution_arn, thread, kind) DO UPDATE
SET token = excluded.token, due = excluded.due, claimed_by = NULL, claimed_until = '-infinity';

-- name: delete_tasks
DELETE FROM tasks AS t USING unnest(:arn::text[], :thread::text[]) AS d(arn, thread)
WHERE t.execution_arn = d.arn AND t.thread = d.thread;

-- name: set_tasks
INSERT INTO tasks (execution_arn, thread, token, effect, task_token, activity_arn)
SELECT arn, thread, token, effect, task_token, activity_arn
FROM unnest(:arn::text[], :thread::text[], :token::bigint[], :effect::text[], :task_token::text[],
            :activity_arn::text[]) WITH ORDINALITY AS t(arn, thread, token, effect, task_token, activity_arn, position)
ORDER BY position
ON CONFLICT (execution_arn, thread) DO UPDATE
SET token = excluded.token, effect = excluded.effect, task_token = excluded.task_token,
    activity_arn = excluded.activity_arn, worker = NULL;

-- name: insert_history
INSERT INTO history
SELECT * FROM unnest(:arn::text[], :first_id::integer[], :last_id::integer[], :bodies::text[]);

-- name: create_execution
-- Held by the worker that creates it when it gives a lease (:worker, :expires and :fence are NULL otherwise).
INSERT INTO executions (arn, state_machine_arn, name, status, start_date, map_run_arn, record, seq, lease_owner,
                        lease_expires, fence)
VALUES (:arn, :state_machine_arn, :name, :status, :start_date, :map_run_arn, :record, nextval('creation_order'),
        :worker, coalesce(:expires::timestamptz, '-infinity'), coalesce(:fence::bigint, 0))
ON CONFLICT (arn) DO NOTHING RETURNING arn;

-- name: update_executions
-- One row per execution: the group's changes to it folded in order (the last status and its checkpoint;
-- the summaries merged, with the status, into the record; the count of events). Events that would not
-- continue the history gap-free (first_event 0: not contiguous among themselves) make the count NULL, which
-- NOT NULL refuses: the transaction fails.
UPDATE executions AS e SET
    status = coalesce(c.status, e.status),
    checkpoint = CASE WHEN c.status IS NULL THEN e.checkpoint ELSE c.checkpoint END,
    record = CASE WHEN c.summary IS NULL THEN e.record ELSE e.record || c.summary::jsonb END,
    events = CASE WHEN c.last_event IS NULL THEN e.events WHEN c.first_event = e.events + 1 THEN c.last_event END,
    stop_date = CASE WHEN c.status IS NULL THEN e.stop_date WHEN c.status = 'RUNNING' THEN NULL
                     ELSE coalesce(to_timestamp(c.stop_date), e.stop_date) END
FROM unnest(:arn::text[], :status::text[], :checkpoint::text[], :summary::text[], :first_event::integer[],
            :last_event::integer[], :stop_date::float8[])
     AS c(arn, status, checkpoint, summary, first_event, last_event, stop_date)
WHERE e.arn = c.arn;

-- name: claim_runnable
-- The executions that need a worker: never started, or left by a worker (handed back, or its lease expired),
-- or with signals in the inbox. Parked ones (lease_owner NULL, a checkpoint, no signal) are left alone.
WITH candidates AS (
    SELECT arn FROM executions
    WHERE status = 'RUNNING' AND lease_expires <= :now AND (lease_owner IS NOT NULL OR checkpoint IS NULL)
    UNION
    SELECT DISTINCT execution_arn FROM signals),
claimable AS (
    SELECT arn FROM executions
    WHERE arn IN (SELECT arn FROM candidates) AND status = 'RUNNING' AND lease_expires <= :now
    ORDER BY lease_expires, seq LIMIT :limit FOR UPDATE SKIP LOCKED)
UPDATE executions AS e SET lease_owner = :worker, lease_expires = :expires, fence = e.fence + 1
FROM claimable WHERE e.arn = claimable.arn
RETURNING e.arn, e.fence, e.seq;

-- name: claim_runnable_among
WITH claimable AS (
    SELECT arn FROM executions
    WHERE arn = ANY(:arns::text[]) AND status = 'RUNNING' AND lease_expires <= :now
    ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED)
UPDATE executions AS e SET lease_owner = :worker, lease_expires = :expires, fence = e.fence + 1
FROM claimable WHERE e.arn = claimable.arn
RETURNING e.arn, e.fence, e.seq;

-- name: renew_leases
UPDATE executions AS e SET lease_expires = :expires
FROM unnest(:arns::text[], :workers::text[], :fences::bigint[]) AS l(arn, worker, fence)
WHERE e.arn = l.arn AND e.fence = l.fence AND e.lease_owner = l.worker
RETURNING e.arn;

-- name: release_leases
-- Handed back: the owner stays named, so any worker's claim_runnable takes the execution at once.
UPDATE executions AS e SET lease_expires = '-infinity'
FROM unnest(:arns::text[], :fences::bigint[]) AS l(arn, fence)
WHERE e.arn = l.arn AND e.fence = l.fence;

-- name: park_leases
-- Waiting executions: no owner, so only a signal, a due timer or a claim by name brings a worker back.
UPDATE executions AS e SET lease_owner = NULL, lease_expires = '-infinity'
FROM unnest(:arns::text[], :fences::bigint[]) AS l(arn, fence)
WHERE e.arn = l.arn AND e.fence = l.fence;

-- name: claim_due_timers
-- A timer whose execution another worker holds is that worker's to fire.
WITH due AS (
    SELECT t.execution_arn, t.thread, t.kind FROM timers AS t
    WHERE t.due <= :now AND t.claimed_until <= :now
      AND NOT EXISTS (SELECT FROM executions AS e WHERE e.arn = t.execution_arn
                      AND e.lease_expires > :now AND e.lease_owner <> :worker)
    ORDER BY t.due LIMIT :limit FOR UPDATE OF t SKIP LOCKED)
UPDATE timers AS t SET claimed_by = :worker, claimed_until = :until
FROM due WHERE t.execution_arn = due.execution_arn AND t.thread = due.thread AND t.kind = due.kind
RETURNING t.execution_arn, t.thread, t.kind, t.token, t.due;

-- name: end_lease_claims
UPDATE executions SET lease_expires = '-infinity' WHERE status = 'RUNNING' AND lease_owner = :worker;

-- name: end_timer_claims
UPDATE timers SET claimed_until = '-infinity' WHERE claimed_by = :worker;

-- name: purge_history
-- Retention (core.py's purge_closed): a closed execution's first :pages pages of history (one row per page
-- deleted), then, once none is left, what else belongs to it, and last the execution.
DELETE FROM history WHERE execution_arn = :arn AND first_id IN (
    SELECT h.first_id FROM executions e JOIN history h ON h.execution_arn = e.arn
    WHERE e.arn = :arn AND e.status <> 'RUNNING' ORDER BY h.first_id LIMIT :pages)
RETURNING first_id;

-- name: get_iterations
-- A checkpoint's Maps' items and results (engine/checkpoint.py), read back to restore it.
SELECT map, idx, body FROM iterations WHERE execution_arn = :arn AND map = ANY(:maps::text[]);

-- name: clear_iterations
DELETE FROM iterations WHERE execution_arn = ANY(:arn::text[]);

-- name: set_iterations
INSERT INTO iterations (execution_arn, map, idx, body)
SELECT * FROM unnest(:arn::text[], :map::text[], :idx::integer[], :body::text[])
ON CONFLICT (execution_arn, map, idx) DO UPDATE SET body = excluded.body;

-- name: delete_iterations
DELETE FROM iterations USING unnest(:arn::text[], :map::text[]) AS ended(arn, map)
WHERE execution_arn = ended.arn AND iterations.map = ended.map;

-- name: purge_map_runs
DELETE FROM resources WHERE kind IN ('map_run', 'map_run_progress', 'map_run_child') AND parent = ANY(:arn::text[]);

-- name: purge_executions
DELETE FROM executions WHERE arn = ANY(:arn::text[]) AND status <> 'RUNNING';

-- name: express_map_run_parents
-- Retention: the Express executions (never stored: they run in memory) with a Map Run that began before :before.
-- An Express execution lasts five minutes at most: those runs are over, or were cut short by a restart.
SELECT DISTINCT parent FROM resources WHERE kind = 'map_run_progress' AND parent LIKE :express_parent
    AND (record::jsonb ->> 'startDate')::float8 < extract(epoch FROM :before::timestamptz) LIMIT :limit;

-- name: set_schedule_due
INSERT INTO timers (execution_arn, thread, kind, token, due) VALUES (:arn, '', 'schedule', :token, :due)
ON CONFLICT (execution_arn, thread, kind)
DO UPDATE SET token = excluded.token, due = excluded.due, claimed_until = '-infinity';

-- name: advance_schedule
-- Only the caller that saw the current due time (its token) moves it on; the next one is claimable at once.
UPDATE timers SET token = :next_token, due = :next_due, claimed_until = '-infinity'
WHERE execution_arn = :arn AND thread = '' AND kind = 'schedule' AND token = :token RETURNING token;
