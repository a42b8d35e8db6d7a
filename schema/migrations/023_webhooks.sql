-- Webhooks (docs/protocol.md, "Webhooks"): room events POSTed to the URLs the
-- operator configures on the backend, from an outbox written in the
-- transaction that makes each event true.
--
-- webhook_subscriptions: what the backends' options ask for, one row per
-- (url, event); event is created, joined, left, unloaded, record or
-- record:KIND. Every backend rewrites it at start (stateroom_webhook_subscribe),
-- so every replica must run with the same webhook options. The writers of
-- events test it first: with no row, nothing is enqueued and an insert into
-- records costs one probe of this (empty) table per statement.
CREATE TABLE webhook_subscriptions (
	url   text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
	event text NOT NULL CHECK (event IN ('created', 'joined', 'left', 'unloaded', 'record')
				   OR event ~ '^record:.{1,32}$'),
	PRIMARY KEY (event, url)
);

-- An event has one id (the receivers' key to drop duplicates) however many
-- URLs get it.
CREATE SEQUENCE webhook_event_seq;

-- webhook_outbox: one row per event and URL still to deliver. The dispatcher
-- (backend-server/webhooks.c) delivers, per (room_id, url), only the row
-- with the smallest id, and only while nobody holds its claim
-- (claimed_until in the future): so one delivery per room and URL is in
-- flight across every replica, and a room's events go out in id order.
-- A failed attempt puts the row back with next_at later; past the
-- configured number of attempts it moves to webhook_dead.
CREATE TABLE webhook_outbox (
	id            bigserial PRIMARY KEY,
	event_id      bigint NOT NULL,
	room_id       text NOT NULL,
	url           text NOT NULL,
	type          text NOT NULL,
	body          text NOT NULL,
	attempts      integer NOT NULL DEFAULT 0,
	next_at       timestamptz NOT NULL DEFAULT now(),
	claimed_until timestamptz,
	last_error    text
);
CREATE INDEX webhook_outbox_chain ON webhook_outbox (url, room_id, id);

-- webhook_dead: events given up on, kept until an operator replays them
-- (POST /api/admin/webhooks/dead/:id/replay or .../replay for all).
CREATE TABLE webhook_dead (
	id         bigint PRIMARY KEY,       -- its outbox row's id
	event_id   bigint NOT NULL,
	room_id    text NOT NULL,
	url        text NOT NULL,
	type       text NOT NULL,
	body       text NOT NULL,
	attempts   integer NOT NULL,
	last_error text,
	died_at    timestamptz NOT NULL DEFAULT now()
);

-- Replaces the subscriptions with the backend's options (empty arrays: no
-- webhook) and wakes the session servers, which re-read them.
CREATE FUNCTION stateroom_webhook_subscribe(p_urls text[], p_events text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM webhook_subscriptions;
	INSERT INTO webhook_subscriptions (url, event)
	SELECT DISTINCT u, e FROM unnest(p_urls) u, unnest(p_events) e;
	PERFORM pg_notify('stateroom_webhook_subs', '');
END
$$;

-- The event's JSON: {"id","type","roomId","at"} then the type's own fields
-- (p_data, a JSON object), keys in that order.
CREATE FUNCTION stateroom_webhook_body(p_id bigint, p_type text, p_room text, p_at timestamptz,
				       p_data json)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT '{"id":' || to_json(p_id::text)::text || ',"type":' || to_json(p_type)::text
	       || ',"roomId":' || to_json(p_room)::text
	       || ',"at":' || to_json(to_char(p_at AT TIME ZONE 'UTC',
					      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text
	       || CASE WHEN d = '' THEN '' ELSE ',' || d END || '}'
	FROM (SELECT btrim(substr(t, 2, length(t) - 2)) AS d
	      FROM (SELECT btrim(p_data::text) AS t) x) y
$$;

-- Enqueues events of the session servers (joined, left, unloaded), several
-- rooms at once, in order: one statement a tick. p_events is a JSON array of
-- [room, type, userId, name] (userId and name null for unloaded).
CREATE FUNCTION stateroom_webhook_events(p_events json)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e json;
	v_type text;
	v_id bigint;
	v_data json;
BEGIN
	FOR e IN SELECT value FROM json_array_elements(p_events) WITH ORDINALITY ORDER BY ordinality LOOP
		v_type := e->>1;
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE event = v_type);
		v_id := nextval('webhook_event_seq');
		v_data := CASE WHEN e->>2 IS NULL THEN '{}'::json
			  ELSE json_build_object('userId', e->>2, 'name', e->>3) END;
		INSERT INTO webhook_outbox (event_id, room_id, url, type, body)
		SELECT v_id, e->>0, s.url, v_type,
		       stateroom_webhook_body(v_id, v_type, e->>0, now(), v_data)
		FROM webhook_subscriptions s WHERE s.event = v_type ORDER BY s.url;
	END LOOP;
	PERFORM pg_notify('stateroom_webhooks', '');
END
$$;

-- created: in the transaction that inserts the room (stateroom_place and the
-- others), for every room but an inbox.
CREATE FUNCTION stateroom_webhook_room_created() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE event = 'created') THEN
		RETURN NULL;
	END IF;
	v_id := nextval('webhook_event_seq');
	INSERT INTO webhook_outbox (event_id, room_id, url, type, body)
	SELECT v_id, NEW.id, s.url, 'created',
	       stateroom_webhook_body(v_id, 'created', NEW.id, now(),
				      json_build_object('app', NEW.app, 'name', NEW.name,
							'owner', NEW.owner,
							'visibility', NEW.visibility,
							'capacity', NEW.capacity))
	FROM webhook_subscriptions s WHERE s.event = 'created' ORDER BY s.url;
	PERFORM pg_notify('stateroom_webhooks', '');
	RETURN NULL;
END
$$;
CREATE TRIGGER rooms_webhook_created AFTER INSERT ON rooms
	FOR EACH ROW WHEN (NEW.kind <> 'inbox') EXECUTE FUNCTION stateroom_webhook_room_created();

-- record: in the transaction that commits the records (a group commit is one
-- statement), only for the kinds some subscription wants.
CREATE FUNCTION stateroom_webhook_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE event LIKE 'record%') THEN
		RETURN NULL;
	END IF;
	WITH ev AS (
		SELECT n.*, nextval('webhook_event_seq') AS eid
		FROM (SELECT * FROM new_records n
		      WHERE EXISTS (SELECT 1 FROM webhook_subscriptions s
				    WHERE s.event = 'record' OR s.event = 'record:' || n.kind)
		      ORDER BY n.room_id, n.seq) n
	)
	INSERT INTO webhook_outbox (event_id, room_id, url, type, body)
	SELECT ev.eid, ev.room_id, u.url, 'record',
	       stateroom_webhook_body(ev.eid, 'record', ev.room_id, ev.created_at,
				      json_build_object('seq', ev.seq, 'kind', ev.kind,
							'userId', ev.user_id, 'name', ev.user_name,
							'clientId', ev.client_id,
							'payload', ev.payload))
	FROM ev CROSS JOIN LATERAL (SELECT DISTINCT s.url FROM webhook_subscriptions s
				    WHERE s.event = 'record' OR s.event = 'record:' || ev.kind) u
	ORDER BY ev.eid, u.url;
	IF FOUND THEN
		PERFORM pg_notify('stateroom_webhooks', '');
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER records_webhook AFTER INSERT ON records
	REFERENCING NEW TABLE AS new_records
	FOR EACH STATEMENT EXECUTE FUNCTION stateroom_webhook_records();
