-- Ephemeral rooms: a room created with persistent = false keeps its messages
-- only in its session server's memory (the messages table never holds any),
-- for state that need not be kept, such as a game's. Existing rooms stay
-- persistent.
ALTER TABLE rooms ADD COLUMN persistent boolean NOT NULL DEFAULT true;

-- stateroom_place (002) with the room's persistence. A new trailing
-- parameter makes a new function, so the old one goes; the default keeps a
-- caller of the old signature working.
DROP FUNCTION stateroom_place(text, text, text, integer, text, text[], bigint);

CREATE FUNCTION stateroom_place(p_id text, p_owner text, p_name text, p_capacity integer,
				p_visibility text, p_servers text[], p_dead_ms bigint,
				p_persistent boolean DEFAULT true)
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
	INSERT INTO rooms (id, owner, name, capacity, visibility, persistent, server_id, epoch, pinned_at)
	VALUES (p_id, p_owner, p_name, p_capacity, p_visibility, p_persistent, v_id, 1, now())
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'exists'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, v_id, v_address, 1::bigint;
END
$$;
