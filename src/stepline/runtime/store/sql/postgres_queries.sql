-- The PostgreSQL store's statements, one `-- name: NAME` block each, loaded once by postgres.py.
-- Parameters are psycopg's %(name)s; arrays go in binary (%(name)b: text arrays are several times slower to
-- send) and through unnest carry a whole group commit in one statement per table.

-- name: schema_exists
SELECT to_regclass('meta') IS NOT NULL;

-- name: schema_version
SELECT value FROM meta WHERE key = 'schema_version';

-- name: set_schema_version
INSERT INTO meta VALUES ('schema_version', %(version)s) ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: lock_schema
-- Two processes opening an empty schema at once: one creates it, the other then finds it.
SELECT pg_advisory_xact_lock(hashtext('stepline schema ' || %(schema)s));

-- name: create_resource
INSERT INTO resources (kind, arn, parent, record) VALUES (%(kind)s, %(arn)s, %(parent)s, %(record)s)
ON CONFLICT (kind, arn) DO NOTHING RETURNING arn;

-- name: put_resource
INSERT INTO resources (kind, arn, parent, record) VALUES (%(kind)s, %(arn)s, %(parent)s, %(record)s)
ON CONFLICT (kind, arn) DO UPDATE SET record = excluded.record;

-- name: get_resource
SELECT record FROM resources WHERE kind = %(kind)s AND arn = %(arn)s;

-- name: list_resources
SELECT record FROM resources WHERE kind = %(kind)s ORDER BY seq;

-- name: list_resources_of_parent
SELECT record FROM resources WHERE kind = %(kind)s AND parent = %(parent)s ORDER BY seq;

-- name: delete_resource
WITH untagged AS (DELETE FROM tags WHERE arn = %(arn)s)
DELETE FROM resources WHERE kind = %(kind)s AND arn = %(arn)s RETURNING arn;

-- name: get_tags
SELECT key, value FROM tags WHERE arn = %(arn)s ORDER BY key;

-- name: set_tags
INSERT INTO tags SELECT %(arn)s, key, value FROM unnest(%(keys)b::text[], %(values)b::text[]) AS t(key, value)
ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value;

-- name: remove_tags
DELETE FROM tags WHERE arn = %(arn)s AND key = ANY(%(keys)b::text[]);

-- name: put_definition
INSERT INTO definitions VALUES (%(digest)s, %(definition)s) ON CONFLICT (digest) DO NOTHING;

-- name: get_definition
SELECT definition FROM definitions WHERE digest = %(digest)s;

-- name: create_execution
INSERT INTO executions (arn, state_machine_arn, name, status, start_date, map_run_arn, record, lease_owner,
                        lease_expires, fence)
VALUES (%(arn)s, %(state_machine_arn)s, %(name)s, %(status)s, %(start_date)s, %(map_run_arn)s, %(record)s::jsonb,
        %(worker)s, coalesce(%(expires)s::timestamptz, '-infinity'), %(fence)s)
ON CONFLICT (arn) DO NOTHING RETURNING arn;

-- name: get_execution
SELECT record::text FROM executions WHERE arn = %(arn)s;

-- name: list_executions
-- {where} is built from fixed column names, so each filter combination gets its own plan.
SELECT record::text FROM executions {where} ORDER BY seq DESC LIMIT %(limit)s;

-- name: update_execution
UPDATE executions SET record = record || %(summary)s::jsonb, status = coalesce(%(status)s, status)
WHERE arn = %(arn)s;

-- name: history_pages
-- The pages holding events first..last (ids are gap-free), in order.
SELECT bodies FROM history
WHERE execution_arn = %(arn)s AND first_id <= %(last)s AND last_id >= %(first)s ORDER BY first_id;

-- name: event_count
SELECT events FROM executions WHERE arn = %(arn)s;

-- name: load_executions
SELECT arn, record::text, checkpoint FROM executions WHERE arn = ANY(%(arns)b::text[]);

-- name: get_checkpoint
SELECT checkpoint FROM executions WHERE arn = %(arn)s;

-- name: current_fences
-- Locks the rows: a claim cannot take them over between this check and the commit.
SELECT arn, fence FROM executions WHERE arn = ANY(%(arns)b::text[]) ORDER BY arn FOR UPDATE;

-- name: insert_history
INSERT INTO history
SELECT * FROM unnest(%(arns)b::text[], %(first_ids)b::integer[], %(last_ids)b::integer[], %(bodies)b::text[]);

-- name: update_executions
-- One row per execution: the group's changes to it folded in order (the last status and its checkpoint;
-- the summaries merged, with the status, into the record; the count of events). Events that would not
-- continue the history gap-free (first_event 0: not contiguous among themselves) make the count NULL, which
-- NOT NULL refuses: the transaction fails.
UPDATE executions AS e SET
    status = coalesce(c.status, e.status),
    checkpoint = CASE WHEN c.status IS NULL THEN e.checkpoint ELSE c.checkpoint END,
    record = CASE WHEN c.summary IS NULL THEN e.record ELSE e.record || c.summary::jsonb END,
    events = CASE WHEN c.last_event IS NULL THEN e.events WHEN c.first_event = e.events + 1 THEN c.last_event END
FROM unnest(%(arns)b::text[], %(statuses)b::text[], %(checkpoints)b::text[], %(summaries)b::text[],
            %(first_events)b::integer[], %(last_events)b::integer[])
    AS c(arn, status, checkpoint, summary, first_event, last_event)
WHERE e.arn = c.arn;

-- name: clear_timers
DELETE FROM timers WHERE execution_arn = ANY(%(arns)b::text[]);

-- name: clear_tasks
DELETE FROM tasks WHERE execution_arn = ANY(%(arns)b::text[]);

-- name: clear_signals
DELETE FROM signals WHERE execution_arn = ANY(%(arns)b::text[]);

-- name: consume_signals
DELETE FROM signals WHERE id = ANY(%(ids)b::bigint[]);

-- name: delete_timers
DELETE FROM timers AS t USING unnest(%(arns)b::text[], %(threads)b::text[], %(kinds)b::text[]) AS d(arn, thread, kind)
WHERE t.execution_arn = d.arn AND t.thread = d.thread AND t.kind = d.kind;

-- name: set_timers
-- Setting a timer again makes it claimable again.
INSERT INTO timers (execution_arn, thread, kind, token, due)
SELECT * FROM unnest(%(arns)b::text[], %(threads)b::text[], %(kinds)b::text[], %(tokens)b::bigint[],
                     %(dues)b::timestamptz[])
ON CONFLICT (execution_arn, thread, kind) DO UPDATE
SET token = excluded.token, due = excluded.due, claimed_by = NULL, claimed_until = '-infinity';

-- name: delete_tasks
DELETE FROM tasks AS t USING unnest(%(arns)b::text[], %(threads)b::text[]) AS d(arn, thread)
WHERE t.execution_arn = d.arn AND t.thread = d.thread;

-- name: set_tasks
INSERT INTO tasks (execution_arn, thread, token, effect, task_token, activity_arn)
SELECT arn, thread, token, effect, task_token, activity_arn
FROM unnest(%(arns)b::text[], %(threads)b::text[], %(tokens)b::bigint[], %(effects)b::text[],
            %(task_tokens)b::text[], %(activity_arns)b::text[]) WITH ORDINALITY
    AS t(arn, thread, token, effect, task_token, activity_arn, position)
ORDER BY position
ON CONFLICT (execution_arn, thread) DO UPDATE
SET token = excluded.token, effect = excluded.effect, task_token = excluded.task_token,
    activity_arn = excluded.activity_arn, worker = NULL;

-- name: running_executions
SELECT arn FROM executions WHERE status = 'RUNNING' ORDER BY seq;

-- name: due_timers
SELECT execution_arn, thread, kind, token, due FROM timers WHERE due <= %(now)s ORDER BY due LIMIT %(limit)s;

-- name: next_timer_due
SELECT min(due) FROM timers;

-- name: pending_tasks
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks ORDER BY seq;

-- name: pending_tasks_among
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE execution_arn = ANY(%(arns)b::text[]) ORDER BY seq;

-- name: pending_tasks_of
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE execution_arn = %(arn)s ORDER BY seq;

-- name: find_task
SELECT execution_arn, thread, token, effect, task_token, activity_arn, worker FROM tasks
WHERE task_token = %(task_token)s LIMIT 1;

-- name: claim_activity_task
-- A task another claimer has locked is skipped: two GetActivityTask calls never get the same task.
UPDATE tasks SET worker = %(worker)s
WHERE (execution_arn, thread) = (
    SELECT execution_arn, thread FROM tasks WHERE activity_arn = %(activity_arn)s AND worker IS NULL
    ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING execution_arn, thread, token, effect, task_token, activity_arn, worker;

-- name: claim_runnable
-- The executions that need a worker: never started, or left by a worker (handed back, or its lease expired),
-- or with signals in the inbox. Parked ones (lease_owner NULL, a checkpoint, no signal) are left alone.
WITH candidates AS (
    SELECT arn FROM executions
    WHERE status = 'RUNNING' AND lease_expires <= %(now)s AND (lease_owner IS NOT NULL OR checkpoint IS NULL)
    UNION
    SELECT DISTINCT execution_arn FROM signals),
claimable AS (
    SELECT arn FROM executions
    WHERE arn IN (SELECT arn FROM candidates) AND status = 'RUNNING' AND lease_expires <= %(now)s
    ORDER BY lease_expires, seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
UPDATE executions AS e SET lease_owner = %(worker)s, lease_expires = %(expires)s, fence = e.fence + 1
FROM claimable WHERE e.arn = claimable.arn
RETURNING e.arn, e.fence, e.seq;

-- name: claim_runnable_among
WITH claimable AS (
    SELECT arn FROM executions
    WHERE arn = ANY(%(arns)b::text[]) AND status = 'RUNNING' AND lease_expires <= %(now)s
    ORDER BY seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
UPDATE executions AS e SET lease_owner = %(worker)s, lease_expires = %(expires)s, fence = e.fence + 1
FROM claimable WHERE e.arn = claimable.arn
RETURNING e.arn, e.fence, e.seq;

-- name: renew_leases
UPDATE executions AS e SET lease_expires = %(expires)s
FROM unnest(%(arns)b::text[], %(workers)b::text[], %(fences)b::bigint[]) AS l(arn, worker, fence)
WHERE e.arn = l.arn AND e.fence = l.fence AND e.lease_owner = l.worker
RETURNING e.arn;

-- name: release_leases
-- Handed back: the owner stays named, so any worker's claim_runnable takes the execution at once.
UPDATE executions AS e SET lease_expires = '-infinity'
FROM unnest(%(arns)b::text[], %(fences)b::bigint[]) AS l(arn, fence)
WHERE e.arn = l.arn AND e.fence = l.fence;

-- name: park_leases
-- Waiting executions: no owner, so only a signal, a due timer or a claim by name brings a worker back.
UPDATE executions AS e SET lease_owner = NULL, lease_expires = '-infinity'
FROM unnest(%(arns)b::text[], %(fences)b::bigint[]) AS l(arn, fence)
WHERE e.arn = l.arn AND e.fence = l.fence;

-- name: claim_due_timers
-- A timer whose execution another worker holds is that worker's to fire.
WITH due AS (
    SELECT t.execution_arn, t.thread, t.kind FROM timers AS t
    WHERE t.due <= %(now)s AND t.claimed_until <= %(now)s
      AND NOT EXISTS (SELECT FROM executions AS e WHERE e.arn = t.execution_arn
                      AND e.lease_expires > %(now)s AND e.lease_owner <> %(worker)s)
    ORDER BY t.due LIMIT %(limit)s FOR UPDATE OF t SKIP LOCKED)
UPDATE timers AS t SET claimed_by = %(worker)s, claimed_until = %(until)s
FROM due WHERE t.execution_arn = due.execution_arn AND t.thread = due.thread AND t.kind = due.kind
RETURNING t.execution_arn, t.thread, t.kind, t.token, t.due;

-- name: notify
SELECT pg_notify(%(channel)s, %(payload)s);

-- name: post_signal
-- The notification goes out when the insert commits (this statement's own transaction).
WITH posted AS (
    INSERT INTO signals (execution_arn, kind, payload) VALUES (%(arn)s, %(kind)s, %(payload)s) RETURNING id)
SELECT id, pg_notify(%(channel)s, %(arn)s) FROM posted;

-- name: signals
SELECT id, execution_arn, kind, payload FROM signals ORDER BY id LIMIT %(limit)s;

-- name: signals_of
SELECT id, execution_arn, kind, payload FROM signals WHERE execution_arn = ANY(%(arns)b::text[])
ORDER BY id LIMIT %(limit)s;

-- name: report_worker
INSERT INTO workers VALUES (%(worker)s, %(record)s::jsonb, %(now)s)
ON CONFLICT (name) DO UPDATE SET record = excluded.record, heartbeat = excluded.heartbeat;

-- name: list_workers
SELECT name, record::text, heartbeat FROM workers ORDER BY name;

-- name: remove_worker
DELETE FROM workers WHERE name = %(worker)s;

-- name: end_lease_claims
UPDATE executions SET lease_expires = '-infinity' WHERE status = 'RUNNING' AND lease_owner = %(worker)s;

-- name: end_timer_claims
UPDATE timers SET claimed_until = '-infinity' WHERE claimed_by = %(worker)s;
