-- Which room applications each session server hosts, and placement that
-- honours it (docs/protocol.md, "Room applications").
--
-- apps: the applications clients may choose (rooms.app) that this server
-- runs, written when it registers (--apps; every one by default). The inbox
-- is no choice of a client's and is never listed: every server hosts
-- inboxes, which are placed by their own bound (015). Rows from before this
-- migration, and rows the agones scheduler makes ahead of their server,
-- host the chat, the only application there was.
ALTER TABLE session_servers ADD COLUMN apps text[] NOT NULL DEFAULT '{chat}';

-- stateroom_pick_server (015) among the servers that host p_app (NULL: any
-- server, what an inbox or an older caller needs). A new parameter makes a
-- new function, so the old one goes; its callers (plpgsql, looked up when
-- they run) then find this one with p_app NULL until they are replaced below.
DROP FUNCTION stateroom_pick_server(text[], bigint);

CREATE FUNCTION stateroom_pick_server(p_servers text[], p_dead_ms bigint, p_app text DEFAULT NULL)
RETURNS TABLE (id text, address text)
LANGUAGE sql VOLATILE AS $$
	SELECT s.id, s.address
	FROM session_servers s
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM rooms r
			    WHERE r.server_id = s.id AND r.kind <> 'inbox') pinned
	WHERE s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	  AND (p_servers IS NULL OR s.address = ANY (p_servers))
	  AND (p_app IS NULL OR p_app = ANY (s.apps))
	  AND pinned.n < s.capacity
	ORDER BY s.capacity - pinned.n DESC, s.id
	LIMIT 1
$$;

-- Why no server took a room of p_app: 'noapp' when live servers (among
-- p_servers) are up but none hosts p_app, so that waiting for a free slot
-- would not help; 'full' otherwise (those that host it are full, or no
-- server is up at all, which a new server may cure).
CREATE FUNCTION stateroom_no_server(p_servers text[], p_dead_ms bigint, p_app text)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM session_servers s
				 WHERE s.state = 'up'
				   AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
				   AND (p_servers IS NULL OR s.address = ANY (p_servers)))
		     AND NOT EXISTS (SELECT 1 FROM session_servers s
				     WHERE s.state = 'up'
				       AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
				       AND (p_servers IS NULL OR s.address = ANY (p_servers))
				       AND p_app = ANY (s.apps))
		    THEN 'noapp' ELSE 'full' END
$$;

-- stateroom_place (009) with the room's application, placed only on a
-- server that hosts it. status 'noapp' as stateroom_no_server says.
DROP FUNCTION stateroom_place(text, text, text, integer, text, text[], bigint, boolean, text);

CREATE FUNCTION stateroom_place(p_id text, p_owner text, p_name text, p_capacity integer,
				p_visibility text, p_servers text[], p_dead_ms bigint,
				p_persistent boolean DEFAULT true, p_owner_name text DEFAULT NULL,
				p_app text DEFAULT 'chat')
RETURNS TABLE (status text, server_id text, address text, epoch bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_id text;
	v_address text;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 1);
	SELECT p.id, p.address INTO v_id, v_address
	FROM stateroom_pick_server(p_servers, p_dead_ms, p_app) p;
	IF v_id IS NULL THEN
		RETURN QUERY SELECT stateroom_no_server(p_servers, p_dead_ms, p_app), NULL::text,
				    NULL::text, NULL::bigint;
		RETURN;
	END IF;
	INSERT INTO rooms (id, owner, owner_name, name, capacity, visibility, persistent, server_id,
			   epoch, pinned_at, app)
	VALUES (p_id, p_owner, nullif(p_owner_name, p_owner), p_name, p_capacity, p_visibility,
		p_persistent, v_id, 1, now(), p_app)
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'exists'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, v_id, v_address, 1::bigint;
END
$$;

-- stateroom_locate (015) keeping a room only on a server that hosts its
-- application (a server registered again under its id with fewer
-- applications loses the rooms of the others) and re-pinning it only to
-- one. Same signature and result: replaced in place.
CREATE OR REPLACE FUNCTION stateroom_locate(p_id text, p_servers text[], p_dead_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint, boot text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_server text;
	v_address text;
	v_epoch bigint;
	v_boot text;
	v_kind text;
	v_app text;
BEGIN
	-- The common case needs no lock: the room is on a live server.
	UPDATE rooms r SET pinned_at = now()
	FROM session_servers s
	WHERE r.id = p_id AND s.id = r.server_id AND s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	  AND (r.kind = 'inbox' OR r.app = ANY (s.apps))
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
	  AND (r.kind = 'inbox' OR r.app = ANY (s.apps))
	RETURNING s.id, s.address, r.epoch, s.boot INTO v_server, v_address, v_epoch, v_boot;
	IF FOUND THEN
		RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch, v_boot;
		RETURN;
	END IF;
	SELECT r.kind, r.app INTO v_kind, v_app FROM rooms r WHERE r.id = p_id;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'noroom'::text, NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;

	IF v_kind = 'inbox' THEN
		SELECT p.id, p.address INTO v_server, v_address
		FROM stateroom_pick_inbox_server(p_servers, p_dead_ms) p;
	ELSE
		SELECT p.id, p.address INTO v_server, v_address
		FROM stateroom_pick_server(p_servers, p_dead_ms, v_app) p;
	END IF;
	IF v_server IS NULL THEN
		RETURN QUERY SELECT CASE WHEN v_kind = 'inbox' THEN 'full'
				    ELSE stateroom_no_server(p_servers, p_dead_ms, v_app) END,
				    NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;
	UPDATE rooms SET server_id = v_server, epoch = rooms.epoch + 1, pinned_at = now()
	WHERE id = p_id
	RETURNING rooms.epoch INTO v_epoch;
	SELECT s.boot INTO v_boot FROM session_servers s WHERE s.id = v_server;
	RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch, v_boot;
END
$$;

-- stateroom_spawn_claim (015): 'retry' only when a slot is free on a server
-- that hosts the room's application (p_app, or for a room that exists its
-- rooms.app), so that a free slot on a server without it cannot send a
-- request round in circles until its wait is over.
DROP FUNCTION stateroom_spawn_claim(text, text, integer, bigint, bigint, text);

CREATE FUNCTION stateroom_spawn_claim(p_id text, p_owner text, p_max integer, p_dead_ms bigint,
				      p_wait_ms bigint, p_room text DEFAULT NULL,
				      p_app text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_up integer;
	v_inbox boolean;
	v_app text;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 2);
	DELETE FROM session_spawns sp
	WHERE sp.deadline < now()
	   OR EXISTS (SELECT 1 FROM session_servers s
		      WHERE s.id = sp.id AND s.state = 'up'
			AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond');
	v_inbox := EXISTS (SELECT 1 FROM rooms r WHERE r.id = p_room AND r.kind = 'inbox');
	v_app := coalesce(p_app, (SELECT r.app FROM rooms r WHERE r.id = p_room), 'chat');
	IF (v_inbox AND EXISTS (SELECT 1 FROM stateroom_pick_inbox_server(NULL, p_dead_ms)))
	   OR (NOT v_inbox AND EXISTS (SELECT 1 FROM stateroom_pick_server(NULL, p_dead_ms, v_app))) THEN
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
