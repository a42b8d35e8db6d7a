-- Direct messages are rooms their starter owns (rooms.owner), placed by the
-- scheduler like any other, but they are no creations of POST /api/rooms:
-- stateroom_admit_create (009) counts only rooms of kind 'room' among a
-- user's unjoined ones, so starting DMs never uses up the room quota.
CREATE OR REPLACE FUNCTION stateroom_admit_create(p_owner text, p_room text, p_max_unjoined integer,
						  p_per_minute integer, p_dead_ms bigint, p_pending_ms bigint)
RETURNS TABLE (status text, retry_after integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_recent integer;
	v_oldest timestamptz;
	v_unjoined integer;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028019, hashtext(p_owner));
	DELETE FROM room_creates WHERE at < now() - interval '10 minutes';
	IF p_per_minute > 0 THEN
		SELECT count(*), min(at) INTO v_recent, v_oldest FROM room_creates
		WHERE owner = p_owner AND at > now() - interval '1 minute';
		IF v_recent >= p_per_minute THEN
			RETURN QUERY SELECT 'rate'::text,
				greatest(1, ceil(extract(epoch FROM v_oldest + interval '1 minute' - now())))::integer;
			RETURN;
		END IF;
	END IF;
	IF p_max_unjoined > 0 THEN
		SELECT (SELECT count(*) FROM rooms r JOIN session_servers s ON s.id = r.server_id
			WHERE r.owner = p_owner AND r.kind = 'room' AND r.members = 0 AND s.state = 'up'
			  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond')
		     + (SELECT count(*) FROM room_creates c
			WHERE c.owner = p_owner AND c.at > now() - p_pending_ms * interval '1 millisecond'
			  AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = c.room_id))
		INTO v_unjoined;
		IF v_unjoined >= p_max_unjoined THEN
			RETURN QUERY SELECT 'quota'::text, 0;
			RETURN;
		END IF;
	END IF;
	INSERT INTO room_creates (owner, room_id) VALUES (p_owner, p_room);
	RETURN QUERY SELECT 'ok'::text, 0;
END
$$;
