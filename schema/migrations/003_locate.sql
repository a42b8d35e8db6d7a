-- The look-up half of placement (see 002_placement.sql for the locking rule).

-- Where room p_id lives. status: 'ok' (pinned to a live server, which may be a
-- new pin at epoch + 1), 'noroom' (no such room), 'full' (it has to be
-- re-pinned and no live server has a free slot: left as it was).
-- Every answer touches pinned_at, because the session server unpins rooms
-- that were pinned long ago and never joined: a client is about to join.
CREATE FUNCTION stateroom_locate(p_id text, p_servers text[], p_dead_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_server text;
	v_address text;
	v_epoch bigint;
BEGIN
	-- The common case needs no lock: the room is on a live server.
	UPDATE rooms r SET pinned_at = now()
	FROM session_servers s
	WHERE r.id = p_id AND s.id = r.server_id AND s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	RETURNING s.id, s.address, r.epoch INTO v_server, v_address, v_epoch;
	IF FOUND THEN
		RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch;
		RETURN;
	END IF;

	PERFORM pg_advisory_xact_lock(1936028018, 1);
	-- Another replica may have re-pinned the room while we waited.
	UPDATE rooms r SET pinned_at = now()
	FROM session_servers s
	WHERE r.id = p_id AND s.id = r.server_id AND s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	RETURNING s.id, s.address, r.epoch INTO v_server, v_address, v_epoch;
	IF FOUND THEN
		RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch;
		RETURN;
	END IF;
	PERFORM 1 FROM rooms WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'noroom'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;

	SELECT p.id, p.address INTO v_server, v_address FROM stateroom_pick_server(p_servers, p_dead_ms) p;
	IF v_server IS NULL THEN
		RETURN QUERY SELECT 'full'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	UPDATE rooms SET server_id = v_server, epoch = rooms.epoch + 1, pinned_at = now()
	WHERE id = p_id
	RETURNING rooms.epoch INTO v_epoch;
	RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch;
END
$$;
