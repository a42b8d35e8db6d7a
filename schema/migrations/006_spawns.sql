-- The `process` scheduler (scheduler/sched_process.c) starts session servers
-- on demand. Several backend replicas may share this database, and each of
-- them sees the same "every server is full" at the same moment: the decision
-- to start a server is therefore taken here, under an advisory lock, and a
-- server being started is recorded in session_spawns until it registers, so
-- that the other replicas wait for it instead of starting their own.
--
-- One server is started at a time across all replicas: a need that one new
-- server cannot meet is seen again once that server is up, and then starts
-- the next one. A row whose deadline has passed no longer counts (its
-- backend died, or its server never came up); after a server dies before it
-- registered, its row is kept with a later deadline, so no replica starts
-- another one at once (the backoff is shared).
CREATE TABLE session_spawns (
	id       text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 63),  -- the new server's id
	owner    text NOT NULL,                                         -- the replica starting it
	deadline timestamptz NOT NULL
);

-- What a backend whose placement found no free slot should do now:
--   'retry'  a live server has a free slot again: place again;
--   'wait'   a server is being started (by any replica): wait for it;
--   'max'    p_max servers are up already: answer "no capacity";
--   'spawn'  start server p_id now (its row is recorded here).
-- Takes its own advisory lock (key 2 beside placement's 1), so that two
-- replicas never both see "nothing starting" and both start a server.
CREATE FUNCTION stateroom_spawn_claim(p_id text, p_owner text, p_max integer, p_dead_ms bigint,
				      p_wait_ms bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_up integer;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 2);
	DELETE FROM session_spawns sp
	WHERE sp.deadline < now()
	   OR EXISTS (SELECT 1 FROM session_servers s
		      WHERE s.id = sp.id AND s.state = 'up'
			AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond');
	IF EXISTS (SELECT 1 FROM stateroom_pick_server(NULL, p_dead_ms)) THEN
		RETURN 'retry';
	END IF;
	IF EXISTS (SELECT 1 FROM session_spawns) THEN
		RETURN 'wait';
	END IF;
	SELECT count(*) INTO v_up FROM session_servers s
	WHERE s.state = 'up' AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond';
	IF v_up >= p_max THEN
		RETURN 'max';
	END IF;
	INSERT INTO session_spawns (id, owner, deadline)
	VALUES (p_id, p_owner, now() + p_wait_ms * interval '1 millisecond');
	RETURN 'spawn';
END
$$;

-- A server started by the process scheduler has exited. Its registry row goes
-- (rooms.server_id becomes NULL, so each of its rooms is re-pinned on its next
-- look-up at once, without waiting for the heartbeat to age). If it had not
-- registered yet, its spawn row stays for p_backoff_ms more: see above.
CREATE FUNCTION stateroom_spawn_exited(p_id text, p_backoff_ms bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 2);
	DELETE FROM session_servers WHERE id = p_id;
	UPDATE session_spawns SET deadline = now() + p_backoff_ms * interval '1 millisecond'
	WHERE id = p_id;
END
$$;

-- Marks server p_id 'draining' if no room is pinned to it, and says whether
-- it did. Takes placement's lock, so that no room can be pinned to the server
-- between the check and the update: a server stopped for being idle never
-- takes a room with it.
CREATE FUNCTION stateroom_retire_idle(p_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 1);
	UPDATE session_servers s SET state = 'draining'
	WHERE s.id = p_id AND s.state = 'up'
	  AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.server_id = p_id);
	RETURN FOUND;
END
$$;
