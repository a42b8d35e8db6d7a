-- Inboxes are counted apart from rooms (docs/architecture.md, "Live
-- updates"). Every registered user with the web client open holds an inbox
-- room; had it taken a room slot (--max-rooms, session_servers.capacity),
-- a few dozen users online would fill every server and nobody could create
-- or join a chat room. An inbox costs about 2 KB and one connection, so a
-- server bounds its inboxes on their own (--max-inboxes, inbox_capacity),
-- and placement counts each kind against its own bound.
--
-- inboxes: inbox rooms held in memory now (the heartbeat; rooms no longer
-- counts them). inbox_capacity: the server's --max-inboxes; a row the
-- agones scheduler made before its server registered has the option's
-- default until the server's own registration writes it.
ALTER TABLE session_servers
	ADD COLUMN inboxes integer NOT NULL DEFAULT 0,
	ADD COLUMN inbox_capacity integer NOT NULL DEFAULT 10000 CHECK (inbox_capacity >= 0);

-- The placement functions count a server's pinned rooms of one kind; this
-- index answers that without visiting the rows (and serves everything the
-- index on server_id alone served).
CREATE INDEX rooms_server_kind ON rooms (server_id, kind);
DROP INDEX rooms_server_id;

-- stateroom_pick_server (002) counting only rooms that are no inbox against
-- a server's capacity: 'room' and 'dm' rooms take the slots of --max-rooms.
CREATE OR REPLACE FUNCTION stateroom_pick_server(p_servers text[], p_dead_ms bigint)
RETURNS TABLE (id text, address text)
LANGUAGE sql VOLATILE AS $$
	SELECT s.id, s.address
	FROM session_servers s
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM rooms r
			    WHERE r.server_id = s.id AND r.kind <> 'inbox') pinned
	WHERE s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	  AND (p_servers IS NULL OR s.address = ANY (p_servers))
	  AND pinned.n < s.capacity
	ORDER BY s.capacity - pinned.n DESC, s.id
	LIMIT 1
$$;

-- Where a new inbox goes: the live, up server with the fewest inboxes
-- pinned that is under its inbox bound, whatever its rooms. Pinned, not
-- held, for the reason 002 gives: a pin not yet joined already counts, so
-- that under placement's lock no server gets more than its bound. Ties go
-- to the smallest id. No row: every live server is at its bound.
CREATE FUNCTION stateroom_pick_inbox_server(p_servers text[], p_dead_ms bigint)
RETURNS TABLE (id text, address text)
LANGUAGE sql VOLATILE AS $$
	SELECT s.id, s.address
	FROM session_servers s
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM rooms r
			    WHERE r.server_id = s.id AND r.kind = 'inbox') pinned
	WHERE s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	  AND (p_servers IS NULL OR s.address = ANY (p_servers))
	  AND pinned.n < s.inbox_capacity
	ORDER BY pinned.n, s.id
	LIMIT 1
$$;

-- stateroom_locate (008) placing an inbox with stateroom_pick_inbox_server
-- and anything else as before. Same signature and result: replaced in place.
CREATE OR REPLACE FUNCTION stateroom_locate(p_id text, p_servers text[], p_dead_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint, boot text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_server text;
	v_address text;
	v_epoch bigint;
	v_boot text;
	v_kind text;
BEGIN
	-- The common case needs no lock: the room is on a live server.
	UPDATE rooms r SET pinned_at = now()
	FROM session_servers s
	WHERE r.id = p_id AND s.id = r.server_id AND s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	RETURNING s.id, s.address, r.epoch, s.boot INTO v_server, v_address, v_epoch, v_boot;
	IF FOUND THEN
		RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch, v_boot;
		RETURN;
	END IF;

	PERFORM pg_advisory_xact_lock(1936028018, 1);
	-- Another replica may have re-pinned the room while we waited.
	UPDATE rooms r SET pinned_at = now()
	FROM session_servers s
	WHERE r.id = p_id AND s.id = r.server_id AND s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	RETURNING s.id, s.address, r.epoch, s.boot INTO v_server, v_address, v_epoch, v_boot;
	IF FOUND THEN
		RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch, v_boot;
		RETURN;
	END IF;
	SELECT r.kind INTO v_kind FROM rooms r WHERE r.id = p_id;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'noroom'::text, NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;

	IF v_kind = 'inbox' THEN
		SELECT p.id, p.address INTO v_server, v_address
		FROM stateroom_pick_inbox_server(p_servers, p_dead_ms) p;
	ELSE
		SELECT p.id, p.address INTO v_server, v_address
		FROM stateroom_pick_server(p_servers, p_dead_ms) p;
	END IF;
	IF v_server IS NULL THEN
		RETURN QUERY SELECT 'full'::text, NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;
	UPDATE rooms SET server_id = v_server, epoch = rooms.epoch + 1, pinned_at = now()
	WHERE id = p_id
	RETURNING rooms.epoch INTO v_epoch;
	SELECT s.boot INTO v_boot FROM session_servers s WHERE s.id = v_server;
	RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch, v_boot;
END
$$;

-- stateroom_spawn_claim (006) told which room found every server full, so
-- that 'retry' means a free slot of that room's kind: an inbox that found
-- every server at its inbox bound must not be told to retry because a room
-- slot is free (it would find no place again, at once). A new trailing
-- parameter makes a new function, so the old one goes; NULL (a room being
-- created) is a room.
DROP FUNCTION stateroom_spawn_claim(text, text, integer, bigint, bigint);

CREATE FUNCTION stateroom_spawn_claim(p_id text, p_owner text, p_max integer, p_dead_ms bigint,
				      p_wait_ms bigint, p_room text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_up integer;
	v_inbox boolean;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 2);
	DELETE FROM session_spawns sp
	WHERE sp.deadline < now()
	   OR EXISTS (SELECT 1 FROM session_servers s
		      WHERE s.id = sp.id AND s.state = 'up'
			AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond');
	v_inbox := EXISTS (SELECT 1 FROM rooms r WHERE r.id = p_room AND r.kind = 'inbox');
	IF (v_inbox AND EXISTS (SELECT 1 FROM stateroom_pick_inbox_server(NULL, p_dead_ms)))
	   OR (NOT v_inbox AND EXISTS (SELECT 1 FROM stateroom_pick_server(NULL, p_dead_ms))) THEN
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
