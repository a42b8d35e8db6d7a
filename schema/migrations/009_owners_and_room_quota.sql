-- Who owns what, and how many rooms a user may hold that nobody uses.
--
-- A user has a subject (the token's sub: what rooms.owner, read_marks.user_id
-- and messages.user_id hold) and a name (what people see). A registered
-- user's subject is its name. A guest's subject is new at every guest login
-- ("guest:" and 22 random characters, which no account name can be), so a
-- second guest who picks the same name owns nothing of the first's. The name
-- shown is kept beside the subject; NULL means the subject is the name (every
-- row written before this migration, and every registered user's).
ALTER TABLE rooms ADD COLUMN owner_name text CHECK (length(owner_name) <= 64);
ALTER TABLE messages ADD COLUMN user_name text CHECK (length(user_name) <= 64);

-- stateroom_place (007) with the owner's name. A new trailing parameter makes
-- a new function, so the old one goes; the default keeps a caller of the old
-- signature working.
DROP FUNCTION stateroom_place(text, text, text, integer, text, text[], bigint, boolean);

CREATE FUNCTION stateroom_place(p_id text, p_owner text, p_name text, p_capacity integer,
				p_visibility text, p_servers text[], p_dead_ms bigint,
				p_persistent boolean DEFAULT true, p_owner_name text DEFAULT NULL)
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
	INSERT INTO rooms (id, owner, owner_name, name, capacity, visibility, persistent, server_id,
			   epoch, pinned_at)
	VALUES (p_id, p_owner, nullif(p_owner_name, p_owner), p_name, p_capacity, p_visibility,
		p_persistent, v_id, 1, now())
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'exists'::text, NULL::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, v_id, v_address, 1::bigint;
END
$$;

-- Every room creation the backend let through, for the per-user limits of
-- stateroom_admit_create. Rows older than ten minutes serve no limit and go.
CREATE TABLE room_creates (
	owner   text NOT NULL,
	room_id text NOT NULL,
	at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX room_creates_owner ON room_creates (owner, at);
CREATE INDEX room_creates_at ON room_creates (at);

-- Whether p_owner may create room p_room now, before it is placed:
--   'ok'     yes (recorded: it counts from now on);
--   'rate'   p_per_minute rooms were created by p_owner within the last minute;
--   'quota'  p_owner holds p_max_unjoined rooms that are pinned to a live
--            server with nobody in them (rooms.members = 0), counting
--            creations let through within p_pending_ms whose room is not
--            there yet (being placed, or failed to be).
-- retry_after: seconds until the rate allows one more ('rate'), else 0.
-- 0 for either limit turns it off. A lock per owner makes each user's
-- creations pass here one at a time, so concurrent requests cannot all see
-- the same free quota; the counts are one statement, one snapshot, so a room
-- placed meanwhile is counted once (as a room or as pending).
CREATE FUNCTION stateroom_admit_create(p_owner text, p_room text, p_max_unjoined integer,
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
			WHERE r.owner = p_owner AND r.members = 0 AND s.state = 'up'
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
