-- People, not just rooms: profiles, friends, blocks, direct messages and the
-- rooms a user belongs to. Only registered accounts (rows of users) have
-- them; guests use rooms as before, so every user column here references
-- users and goes with the account.

-- A profile. The login name (users.id) stays the stable id; display_name is
-- what the client shows (NULL: the login name), NFC-normalised by the
-- backend, which also writes display_key, its case-folded form, for search
-- and for telling names apart that look alike. dm_policy says who may start
-- a direct conversation with the user.
ALTER TABLE users
	ADD COLUMN display_name text CHECK (length(display_name) BETWEEN 1 AND 64),
	ADD COLUMN display_key  text CHECK (length(display_key) <= 256),
	ADD COLUMN status       text NOT NULL DEFAULT '' CHECK (length(status) <= 140),
	ADD COLUMN dm_policy    text NOT NULL DEFAULT 'everyone'
		CHECK (dm_policy IN ('everyone', 'friends')),
	ADD COLUMN login_key    text;

-- Login names that differ only by case are one name: login_key is lower(id)
-- (login names are ASCII, so this is their case folding). Accounts made
-- before this rule may collide; the oldest keeps the key, the others keep
-- their login but leave the key NULL, and no new account can take it.
UPDATE users u SET login_key = lower(u.id)
WHERE NOT EXISTS (SELECT 1 FROM users o
		  WHERE lower(o.id) = lower(u.id)
		    AND (o.created_at, o.id) < (u.created_at, u.id));
CREATE UNIQUE INDEX users_login_key ON users (login_key);
CREATE INDEX users_login_prefix ON users (login_key text_pattern_ops);
CREATE INDEX users_display_prefix ON users (display_key text_pattern_ops);

-- A friend request from one account to another; at most one per direction.
-- Accepting it deletes it and makes the friendship.
CREATE TABLE friend_requests (
	from_user  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	to_user    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (from_user, to_user),
	CHECK (from_user <> to_user)
);
CREATE INDEX friend_requests_to ON friend_requests (to_user, created_at);

-- A friendship is two rows, one each way, so that "friends of X" is one
-- index range; both are written and deleted in one statement.
CREATE TABLE friends (
	user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	friend_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	since     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, friend_id),
	CHECK (user_id <> friend_id)
);

-- blocker has blocked blocked. Enforced by the backend (DM start and
-- tickets, friend requests, search); the web client hides a blocked user's
-- messages in rooms both share.
CREATE TABLE blocks (
	blocker    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	blocked    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (blocker, blocked),
	CHECK (blocker <> blocked)
);
CREATE INDEX blocks_blocked ON blocks (blocked);

-- What a room is for: 'room' (made by POST /api/rooms), 'dm' (the one
-- conversation of two accounts, direct_rooms) or 'inbox' (a user's live
-- notifications). Only 'room' rooms are listed or open to any caller.
ALTER TABLE rooms ADD COLUMN kind text NOT NULL DEFAULT 'room'
	CHECK (kind IN ('room', 'dm', 'inbox'));

-- The direct conversation of a pair of accounts (user_a < user_b): one room,
-- the same from either side, that only the two may look up, join or read.
CREATE TABLE direct_rooms (
	room_id    text PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
	user_a     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	user_b     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (user_a, user_b),
	CHECK (user_a < user_b)
);
CREATE INDEX direct_rooms_b ON direct_rooms (user_b);

-- The rooms an account belongs to ("your rooms"): a row from its first
-- ticket on; left_at set when it leaves for good (a DM comes back to the
-- list when a new message arrives in it).
CREATE TABLE memberships (
	user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	room_id   text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	joined_at timestamptz NOT NULL DEFAULT now(),
	left_at   timestamptz,
	PRIMARY KEY (user_id, room_id)
);
CREATE INDEX memberships_room ON memberships (room_id);
