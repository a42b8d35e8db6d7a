-- Session servers register themselves and heartbeat; the scheduler reads this
-- registry to place rooms. A server is live while heartbeat_at is recent and
-- state = 'up'.
CREATE TABLE session_servers (
	id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 63),
	address      text NOT NULL,             -- host:port that clients connect to
	capacity     integer NOT NULL CHECK (capacity >= 0),  -- rooms
	rooms        integer NOT NULL DEFAULT 0, -- rooms held in memory now
	connections  integer NOT NULL DEFAULT 0,
	state        text NOT NULL DEFAULT 'up' CHECK (state IN ('up', 'draining')),
	started_at   timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- A room is pinned to at most one server at a time (server_id); epoch grows
-- by one on every re-pin so a server that lost the room can be fenced.
CREATE TABLE rooms (
	id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{1,32}$'),
	name       text CHECK (length(name) <= 100),
	owner      text NOT NULL,
	capacity   integer NOT NULL CHECK (capacity > 0),
	visibility text NOT NULL DEFAULT 'unlisted' CHECK (visibility IN ('public', 'unlisted')),
	app        text NOT NULL DEFAULT 'chat',
	server_id  text REFERENCES session_servers (id) ON DELETE SET NULL,
	epoch      bigint NOT NULL DEFAULT 0,
	pinned_at  timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rooms_server_id ON rooms (server_id);
