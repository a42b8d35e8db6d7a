-- Registered accounts. Guests (POST /api/login) have no row here, and a guest
-- may not take a name that has one. password_hash is a libsodium argon2id
-- string (it carries its own parameters and salt).
CREATE TABLE users (
	id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,32}$'),
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now()
);

-- The last seq each user has read in each room; unread = room's last seq - seq.
-- Written by the session server hosting the room when a client sends "read".
CREATE TABLE read_marks (
	room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	user_id    text NOT NULL,
	seq        bigint NOT NULL CHECK (seq >= 0),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (room_id, user_id)
);

-- Distinct users connected to the room now, written by its session server when
-- it changes (and 0 when the room is unloaded); only meaningful while the
-- room's server is live.
ALTER TABLE rooms ADD COLUMN members integer NOT NULL DEFAULT 0 CHECK (members >= 0);

CREATE INDEX rooms_public ON rooms (created_at DESC) WHERE visibility = 'public';
CREATE INDEX rooms_owner ON rooms (owner);
