-- Room placement for the scheduler (scheduler/sched_local.c). Each function
-- is one round trip from the backend and decides atomically, so any number of
-- backend replicas may place and locate rooms at the same moment.
--
-- A server's load is the number of rooms pinned to it (rooms.server_id), not
-- session_servers.rooms (what it holds in memory right now): a room pinned a
-- moment ago but not yet joined already takes a slot, so a server never gets
-- more pinned rooms than its capacity.
--
-- Why an advisory lock: "count the rooms of S, then insert one if below S's
-- capacity" is a read followed by a write; under READ COMMITTED two
-- transactions could both see a free slot and both take it. Every statement
-- that pins a room takes the same transaction-scoped lock first, so pinning
-- is serialised. Each statement inside a VOLATILE function takes a fresh
-- snapshot, so after the lock is granted the function sees the rooms the
-- previous holder committed (its commit is visible before its lock is
-- released). The two-integer key space is separate from migrate's one-bigint
-- key. The session server only ever unpins, which frees slots and needs no
-- lock.

-- The live server with the most free room slots, or no row. now() is the
-- statement's start; heartbeats are a second apart, so that is precise
-- enough. Ties go to the smallest id so that the choice is deterministic.
CREATE FUNCTION stateroom_pick_server(p_servers text[], p_dead_ms bigint)
RETURNS TABLE (id text, address text)
LANGUAGE sql VOLATILE AS $$
	SELECT s.id, s.address
	FROM session_servers s
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM rooms r WHERE r.server_id = s.id) pinned
	WHERE s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	  AND (p_servers IS NULL OR s.address = ANY (p_servers))
	  AND pinned.n < s.capacity
	ORDER BY s.capacity - pinned.n DESC, s.id
	LIMIT 1
$$;

-- Creates a room pinned to the best live server at epoch 1.
-- status: 'ok' (server_id, address, epoch set), 'full' (no live server has a
-- free slot: nothing inserted), 'exists' (the id is taken: nothing inserted).
CREATE FUNCTION stateroom_place(p_id text, p_owner text, p_name text, p_capacity integer,
				p_visibility text, p_servers text[], p_dead_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_id text;
	v_address text;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 1);
	SELECT p.id, p.address INTO v_id, v_address FROM stateroom_pick_server(p_servers, p_dead_ms) p;
	IF v_id IS NULL THEN
		RETURN QUERY SELECT 'full'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	INSERT INTO rooms (id, owner, name, capacity, visibility, server_id, epoch, pinned_at)
	VALUES (p_id, p_owner, p_name, p_capacity, p_visibility, v_id, 1, now())
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'exists'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, v_id, v_address, 1::bigint;
END
$$;
