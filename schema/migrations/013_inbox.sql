-- The live inbox (docs/architecture.md, "Live updates"): presence, and the
-- notifications a committed direct message sends.
--
-- Anything that changes what a user must see sends
--   pg_notify('stateroom_inbox', '{"to":"<user>","event":{...}}')
-- in the transaction of its change; the session server holding the user's
-- inbox room LISTENs on that channel and forwards the event.

-- Presence as the session server holding the user's inbox room last wrote
-- it: 'online' or 'away' while the user has an inbox connection there,
-- 'offline' after the last one closed. presence_server and presence_boot
-- name that server's process, so that a server that died without writing
-- 'offline' leaves its users reading offline (stateroom_presence) once its
-- heartbeat is stale, or as soon as another process took its id. last_seen
-- is when presence last changed.
ALTER TABLE users
	ADD COLUMN presence text NOT NULL DEFAULT 'offline'
		CHECK (presence IN ('online', 'away', 'offline')),
	ADD COLUMN last_seen timestamptz,
	ADD COLUMN presence_server text,
	ADD COLUMN presence_boot text;

-- The presence others see: p_user's state as written, unless the server
-- that wrote 'online' or 'away' is dead (no heartbeat for p_dead_ms, the
-- backend's --dead-after-ms) or restarted; then 'offline', last seen at its
-- last heartbeat. No row: no such user.
CREATE FUNCTION stateroom_presence(p_user text, p_dead_ms bigint)
RETURNS TABLE (state text, last_seen timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN u.presence = 'offline' OR a.alive THEN u.presence ELSE 'offline' END,
	       CASE WHEN u.presence = 'offline' OR a.alive THEN u.last_seen
		    ELSE greatest(u.last_seen, a.heartbeat_at) END
	FROM users u
	LEFT JOIN LATERAL (
		SELECT s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond' AS alive,
		       s.heartbeat_at
		FROM session_servers s
		WHERE s.id = u.presence_server AND s.boot = u.presence_boot
	) a ON true
	WHERE u.id = p_user
$$;

-- A committed message in a direct conversation tells the other member:
-- {"type":"dm","roomId","seq"} (the latest seq of the statement's batch),
-- unless that member blocks the sender. A statement trigger with a
-- transition table runs once per group-commit batch (the session server
-- writes a batch in one INSERT), and for a room that is no DM it costs one
-- probe of direct_rooms' primary key per distinct room of the batch.
CREATE FUNCTION stateroom_records_inbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('stateroom_inbox', json_build_object(
			'to', t.to_user,
			'event', json_build_object('type', 'dm', 'roomId', t.room_id, 'seq', t.seq))::text)
	FROM (
		SELECT d.room_id, n.user_id AS from_user,
		       CASE WHEN n.user_id = d.user_a THEN d.user_b ELSE d.user_a END AS to_user,
		       max(n.seq) AS seq
		FROM (SELECT DISTINCT room_id FROM new_records) r
		JOIN direct_rooms d ON d.room_id = r.room_id
		JOIN new_records n ON n.room_id = d.room_id AND n.user_id IN (d.user_a, d.user_b)
		GROUP BY 1, 2, 3
	) t
	WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = t.to_user AND b.blocked = t.from_user);
	RETURN NULL;
END
$$;

CREATE TRIGGER records_inbox AFTER INSERT ON records
	REFERENCING NEW TABLE AS new_records
	FOR EACH STATEMENT EXECUTE FUNCTION stateroom_records_inbox();
