-- Reaching people who are away (docs/protocol.md, "Notifications"): what each
-- user wants to hear of, where it can reach them (push subscriptions, an email
-- address), and a durable outbox of what is still to tell them.
--
-- The decision "should user U hear of message M at all" is made here, in the
-- transaction that commits M (the session server's group commit), so that it
-- is as durable as the message and costs the session server nothing: a
-- message in a room where nobody asked for every message, outside a DM and
-- without '@', costs one probe of notify_rooms per statement. Whether and
-- when to deliver (the read mark, do-not-disturb, retries, digests) is the
-- backend's senders' business, at delivery time.

-- A user's defaults; no row: the defaults of the columns.
CREATE TABLE notify_prefs (
	user_id       text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	dm_level      text NOT NULL DEFAULT 'all' CHECK (dm_level IN ('all', 'mentions', 'nothing')),
	-- 'all' only room by room (notify_rooms): a room's every message to
	-- everyone who ever joined it would be a flood nobody asked for.
	room_level    text NOT NULL DEFAULT 'mentions' CHECK (room_level IN ('mentions', 'nothing')),
	push          boolean NOT NULL DEFAULT true,
	email         boolean NOT NULL DEFAULT true,
	-- The digest's quiet period: what is still unread this long after it
	-- arrived is emailed, and at most one email goes out per period.
	email_delay_s integer NOT NULL DEFAULT 900 CHECK (email_delay_s BETWEEN 60 AND 604800),
	-- Do-not-disturb hours, minutes after midnight in tz (both or neither;
	-- start > end spans midnight): no push then.
	dnd_start     smallint CHECK (dnd_start BETWEEN 0 AND 1439),
	dnd_end       smallint CHECK (dnd_end BETWEEN 0 AND 1439),
	tz            text NOT NULL DEFAULT 'UTC' CHECK (length(tz) BETWEEN 1 AND 64),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	CHECK ((dnd_start IS NULL) = (dnd_end IS NULL))
);

-- A user's choice for one room or DM; level NULL: the default of notify_prefs.
CREATE TABLE notify_rooms (
	user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	room_id     text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	level       text CHECK (level IN ('all', 'mentions', 'nothing')),
	muted_until timestamptz,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, room_id)
);
-- "Who wants every message of this room": probed once per committed batch.
CREATE INDEX notify_rooms_all ON notify_rooms (room_id) WHERE level = 'all';

-- A browser's Push API subscription (PushSubscription.toJSON()): keys as the
-- browser gives them, base64url.
CREATE TABLE push_subscriptions (
	id         bigserial PRIMARY KEY,
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	endpoint   text NOT NULL UNIQUE CHECK (length(endpoint) BETWEEN 1 AND 2048),
	p256dh     text NOT NULL CHECK (length(p256dh) BETWEEN 1 AND 128),
	auth       text NOT NULL CHECK (length(auth) BETWEEN 1 AND 64),
	created_at timestamptz NOT NULL DEFAULT now(),
	last_ok_at timestamptz,
	last_error text
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- One address per user. A verification link carries a single-use token whose
-- SHA-256 is stored; the unsubscribe link carries unsub_token, which does
-- nothing but turn the user's email off.
CREATE TABLE email_addresses (
	user_id        text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	address        text NOT NULL CHECK (length(address) BETWEEN 3 AND 254),
	verified_at    timestamptz,
	verify_hash    bytea,
	verify_expires timestamptz,
	unsub_token    text NOT NULL UNIQUE,
	last_digest_at timestamptz,
	claimed_until  timestamptz,        -- a backend composing this user's digest
	created_at     timestamptz NOT NULL DEFAULT now()
);

-- "Remind me about this message at due_at": fired once (fired_at), by one
-- backend, as a notification of kind 'reminder' and an inbox event.
CREATE TABLE reminders (
	id         bigserial PRIMARY KEY,
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	seq        bigint NOT NULL CHECK (seq >= 1),
	due_at     timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	fired_at   timestamptz
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE fired_at IS NULL;
CREATE INDEX reminders_user ON reminders (user_id, due_at);

-- The outbox: one row per message a user should hear of (at most one per
-- message and user, whatever made it: a DM, a mention, a room followed in
-- full), and one per fired reminder. Each channel has its own state:
--   'none'    the channel was off when the row was made (no subscription, no
--             verified address, turned off): never sent on it;
--   'pending' to decide at delivery: skipped if read by then, in DND, ...;
--   'sent', 'skipped' (read meanwhile, DND, muted since, ...), 'failed'
--             (push: every attempt failed).
-- A row with both channels 'none' is never made.
CREATE TABLE notifications (
	id                 bigserial PRIMARY KEY,
	user_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	room_id            text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	seq                bigint NOT NULL,
	kind               text NOT NULL CHECK (kind IN ('dm', 'mention', 'message', 'reminder')),
	by_user            text,           -- the message's author (NULL for a reminder)
	reminder_id        bigint UNIQUE REFERENCES reminders (id) ON DELETE CASCADE,
	created_at         timestamptz NOT NULL DEFAULT now(),
	push_state         text NOT NULL CHECK (push_state IN ('none', 'pending', 'sent', 'skipped', 'failed')),
	push_attempts      integer NOT NULL DEFAULT 0,
	push_next_at       timestamptz NOT NULL DEFAULT now(),
	push_claimed_until timestamptz,
	push_error         text,
	email_state        text NOT NULL CHECK (email_state IN ('none', 'pending', 'sent', 'skipped')),
	CHECK ((kind = 'reminder') = (reminder_id IS NOT NULL)),
	CHECK (push_state <> 'none' OR email_state <> 'none')
);
CREATE UNIQUE INDEX notifications_once ON notifications (user_id, room_id, seq)
	WHERE kind <> 'reminder';
CREATE INDEX notifications_push_due ON notifications (push_next_at) WHERE push_state = 'pending';
CREATE INDEX notifications_email_due ON notifications (user_id, created_at) WHERE email_state = 'pending';
CREATE INDEX notifications_done ON notifications (created_at);

-- The level that applies to user p_user in room p_room: the room's own
-- choice, else the default for DMs or rooms.
CREATE FUNCTION stateroom_notify_level(p_user text, p_room text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT COALESCE(
		(SELECT level FROM notify_rooms WHERE user_id = p_user AND room_id = p_room),
		(SELECT CASE WHEN r.kind = 'dm' THEN COALESCE(p.dm_level, 'all')
			     ELSE COALESCE(p.room_level, 'mentions') END
		 FROM rooms r LEFT JOIN notify_prefs p ON p.user_id = p_user
		 WHERE r.id = p_room),
		'mentions')
$$;

-- Enqueues rows for (user, room, seq, kind, author) candidates that pass the
-- user's level and mute and whose author the user does not block; each
-- channel 'pending' only where it can reach the user now. A candidate that
-- has a row already (a mention in a DM) is left alone: one per message.
CREATE FUNCTION stateroom_notify_enqueue(p_rows json) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO notifications (user_id, room_id, seq, kind, by_user, push_state, email_state)
	SELECT c.u, c.r, c.s, c.k, c.b,
	       CASE WHEN COALESCE(p.push, true)
			 AND EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.user_id = c.u)
		    THEN 'pending' ELSE 'none' END,
	       CASE WHEN COALESCE(p.email, true)
			 AND EXISTS (SELECT 1 FROM email_addresses ea
				     WHERE ea.user_id = c.u AND ea.verified_at IS NOT NULL)
		    THEN 'pending' ELSE 'none' END
	FROM json_to_recordset(p_rows) AS c(u text, r text, s bigint, k text, b text)
	LEFT JOIN notify_prefs p ON p.user_id = c.u
	LEFT JOIN notify_rooms nr ON nr.user_id = c.u AND nr.room_id = c.r
	WHERE (nr.muted_until IS NULL OR nr.muted_until <= now())
	  AND CASE stateroom_notify_level(c.u, c.r)
		WHEN 'all' THEN true
		WHEN 'mentions' THEN c.k = 'mention'
		ELSE false END
	  AND NOT EXISTS (SELECT 1 FROM blocks bl WHERE bl.blocker = c.u AND bl.blocked = c.b)
	  AND (COALESCE(p.push, true) AND EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.user_id = c.u)
	       OR COALESCE(p.email, true) AND EXISTS (SELECT 1 FROM email_addresses ea
						      WHERE ea.user_id = c.u AND ea.verified_at IS NOT NULL))
	ON CONFLICT (user_id, room_id, seq) WHERE kind <> 'reminder' DO NOTHING;
	IF FOUND THEN
		PERFORM pg_notify('stateroom_notify', '');
	END IF;
END
$$;

-- A mention (migration 021 has checked who may see the room and blocks).
CREATE FUNCTION stateroom_notify_mention() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM stateroom_notify_enqueue(json_build_array(json_build_object(
		'u', NEW.user_id, 'r', NEW.room_id, 's', NEW.seq, 'k', 'mention',
		'b', (SELECT user_id FROM records WHERE room_id = NEW.room_id AND seq = NEW.seq))));
	RETURN NULL;
END
$$;
CREATE TRIGGER mentions_notify AFTER INSERT ON mentions
	FOR EACH ROW EXECUTE FUNCTION stateroom_notify_mention();

-- The chat messages of a committed batch: a DM's other member, and whoever
-- follows the room in full. Row triggers (the mentions) have run by now, so
-- a mention keeps its kind.
CREATE FUNCTION stateroom_notify_records() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	v_rows json;
BEGIN
	SELECT json_agg(json_build_object('u', c.u, 'r', c.r, 's', c.s, 'k', c.k, 'b', c.b))
	INTO v_rows
	FROM (
		SELECT CASE WHEN n.user_id = d.user_a THEN d.user_b ELSE d.user_a END AS u,
		       n.room_id AS r, n.seq AS s, 'dm' AS k, n.user_id AS b
		FROM new_records n JOIN direct_rooms d ON d.room_id = n.room_id
		WHERE n.kind = 'message'
		UNION ALL
		SELECT f.user_id, n.room_id, n.seq, 'message', n.user_id
		FROM new_records n JOIN notify_rooms f ON f.room_id = n.room_id AND f.level = 'all'
		JOIN rooms r ON r.id = n.room_id AND r.kind = 'room'
		WHERE n.kind = 'message' AND f.user_id <> n.user_id
		  AND stateroom_room_admits(n.room_id, f.user_id) = 'ok'
	) c;
	IF v_rows IS NOT NULL THEN
		PERFORM stateroom_notify_enqueue(v_rows);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER records_notify AFTER INSERT ON records
	REFERENCING NEW TABLE AS new_records
	FOR EACH STATEMENT EXECUTE FUNCTION stateroom_notify_records();

-- Why a pending message notification should no longer go out on any channel,
-- asked by the senders at delivery: 'read' (the user's read mark has passed
-- it, on any device), 'muted' (the room is muted or set to nothing since);
-- NULL: still worth telling. A reminder is never stale: the user asked for it
-- knowing the message.
CREATE FUNCTION stateroom_notify_stale(p_user text, p_room text, p_seq bigint, p_kind text)
RETURNS text LANGUAGE sql STABLE AS $$
	SELECT CASE
		WHEN p_kind = 'reminder' THEN NULL
		WHEN EXISTS (SELECT 1 FROM read_marks m
			     WHERE m.room_id = p_room AND m.user_id = p_user AND m.seq >= p_seq) THEN 'read'
		WHEN EXISTS (SELECT 1 FROM notify_rooms nr
			     WHERE nr.user_id = p_user AND nr.room_id = p_room
			       AND (nr.muted_until > now() OR nr.level = 'nothing')) THEN 'muted'
		END
$$;

-- Whether p_at falls in the user's do-not-disturb hours (their local time in
-- tz; a start after the end spans midnight). The API accepts only time zone
-- names PostgreSQL knows; one that has gone since counts as UTC.
CREATE FUNCTION stateroom_notify_dnd(p_user text, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
	p notify_prefs;
	v_min integer;
	v_local timestamp;
BEGIN
	SELECT * INTO p FROM notify_prefs WHERE user_id = p_user;
	IF NOT FOUND OR p.dnd_start IS NULL OR p.dnd_start = p.dnd_end THEN
		RETURN false;
	END IF;
	BEGIN
		v_local := p_at AT TIME ZONE p.tz;
	EXCEPTION WHEN invalid_parameter_value THEN
		v_local := p_at AT TIME ZONE 'UTC';
	END;
	v_min := extract(hour FROM v_local)::integer * 60 + extract(minute FROM v_local)::integer;
	IF p.dnd_start < p.dnd_end THEN
		RETURN v_min >= p.dnd_start AND v_min < p.dnd_end;
	END IF;
	RETURN v_min >= p.dnd_start OR v_min < p.dnd_end;
END
$$;
