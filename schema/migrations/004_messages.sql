-- Chat messages, written only by the session server a room is pinned to
-- (one writer per room), in batches (group commit). seq is per room, gapless,
-- assigned by that server. client_id is the native send's id (NULL for a
-- compat message). Retries are recognised by the session server against the
-- room's latest 1000 messages, which it loads on hydration, so they are
-- recognised after a failover too. (room_id, user_id, client_id) is not
-- UNIQUE on purpose: a client reusing an id from further back would otherwise
-- make the whole batch fail, and with it everyone else's messages.
CREATE TABLE messages (
	room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	seq        bigint NOT NULL CHECK (seq > 0),
	client_id  text CHECK (length(client_id) BETWEEN 1 AND 64),
	user_id    text NOT NULL,
	body       text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (room_id, seq)
);
