-- A session server keeps the join tickets it has admitted in memory only, so
-- a restarted server could not tell a used ticket from a fresh one. Each
-- process of a session server draws a random boot id at start and writes it
-- here when it registers (and with every heartbeat); the backend signs the
-- boot of the room's server into each ticket, and a server admits only
-- tickets for its own boot (docs/protocol.md, "Tokens"). NULL: the row was
-- made by the agones scheduler and its server has not registered yet.
ALTER TABLE session_servers ADD COLUMN boot text;

-- stateroom_locate (003) also answering the server's boot. A new result
-- column makes a new function, so the old one goes.
DROP FUNCTION stateroom_locate(text, text[], bigint);

CREATE FUNCTION stateroom_locate(p_id text, p_servers text[], p_dead_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint, boot text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_server text;
	v_address text;
	v_epoch bigint;
	v_boot text;
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
	PERFORM 1 FROM rooms WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'noroom'::text, NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;

	SELECT p.id, p.address INTO v_server, v_address FROM stateroom_pick_server(p_servers, p_dead_ms) p;
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
