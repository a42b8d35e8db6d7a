-- The live inbox (docs/architecture.md, "Live updates"): presence.
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
