-- Mentions (docs/protocol.md, "Mentions"): "@<user id>" in a chat message's
-- text mentions that account. PostgreSQL finds them as the message is
-- written, in the batch's own transaction, so the session server's hot path
-- does nothing for them: a message without '@' costs the trigger's WHEN
-- test only (no function call), and a mention is stored and announced only
-- if its message commits.
--
-- What counts as a mention of account A in message M by author U in room R:
--   * a token: '@' and all the characters of A-Z a-z 0-9 _ - . (the user id
--     alphabet of common/wire.h) that follow it, the '@' not preceded by one
--     of those characters (so "mail@example.org" mentions nobody); a token
--     over 32 characters names nobody;
--   * the token names A as a login does (login_key, lower(id): "@Bob" is
--     bob; an account older than that rule by its exact id); when no account
--     has the token as written, the token without its trailing dots ("@bob."
--     at the end of a sentence is bob; "@bob." is the account "bob." if that
--     exists);
--   * A is not U, may see R (a DM: one of its two members; a room:
--     stateroom_room_admits(R, A) = 'ok', so neither banned nor outside an
--     invite-only room) and does not block U;
--   * at most 20 distinct tokens of a message are looked at: a message made
--     of '@'s costs a bounded number of look-ups.
-- Only a message's text as sent counts; an edit does not add or remove
-- mentions. A deletion scrubs the message's payload (store.c), and that
-- removes its mentions.
CREATE TABLE mentions (
	room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	seq     bigint NOT NULL,
	user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (room_id, seq, user_id),
	FOREIGN KEY (room_id, seq) REFERENCES records (room_id, seq) ON DELETE CASCADE
);
-- "My unread mentions in this room": the mentions past a read mark.
CREATE INDEX mentions_user ON mentions (user_id, room_id, seq);

CREATE FUNCTION stateroom_mentions_add() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	v_kind text;
	v_a text;
	v_b text;
	v_to text;
BEGIN
	SELECT r.kind, d.user_a, d.user_b INTO v_kind, v_a, v_b
	FROM rooms r LEFT JOIN direct_rooms d ON d.room_id = r.id
	WHERE r.id = NEW.room_id;
	IF v_kind IS NULL OR v_kind NOT IN ('room', 'dm') THEN
		RETURN NULL;
	END IF;
	FOR v_to IN WITH tok AS (
		SELECT DISTINCT m[1] AS t
		FROM regexp_matches(NEW.payload,
			'(?<![A-Za-z0-9_.-])@([A-Za-z0-9_.-]+)', 'g') m
		LIMIT 20
	), who AS (
		SELECT DISTINCT u.id
		FROM tok CROSS JOIN LATERAL (
			SELECT x.id FROM (
				SELECT 1 AS pref, id FROM users
				WHERE length(tok.t) <= 32 AND (login_key = lower(tok.t) OR id = tok.t)
				UNION ALL
				SELECT 2, id FROM users
				WHERE rtrim(tok.t, '.') <> tok.t AND length(rtrim(tok.t, '.')) BETWEEN 1 AND 32
				  AND (login_key = lower(rtrim(tok.t, '.')) OR id = rtrim(tok.t, '.'))
			) x ORDER BY x.pref, x.id = tok.t DESC LIMIT 1
		) u
		WHERE u.id <> NEW.user_id
		  AND CASE WHEN v_kind = 'dm' THEN u.id IN (v_a, v_b)
			   ELSE stateroom_room_admits(NEW.room_id, u.id) = 'ok' END
		  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = NEW.user_id)
	)
	INSERT INTO mentions (room_id, seq, user_id)
	SELECT NEW.room_id, NEW.seq, id FROM who
	RETURNING user_id
	LOOP
		PERFORM stateroom_inbox_hint(v_to, json_build_object(
			'type', 'mention', 'roomId', NEW.room_id, 'seq', NEW.seq, 'by', NEW.user_id));
	END LOOP;
	RETURN NULL;
END
$$;

CREATE TRIGGER records_mentions AFTER INSERT ON records
	FOR EACH ROW WHEN (NEW.kind = 'message' AND strpos(NEW.payload, '@') > 0)
	EXECUTE FUNCTION stateroom_mentions_add();

-- A deleted message's text is scrubbed to ''; its mentions go with it.
CREATE FUNCTION stateroom_mentions_scrub() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM mentions WHERE room_id = NEW.room_id AND seq = NEW.seq;
	RETURN NULL;
END
$$;

CREATE TRIGGER records_mentions_scrub AFTER UPDATE OF payload ON records
	FOR EACH ROW WHEN (OLD.kind = 'message' AND NEW.payload = '' AND strpos(OLD.payload, '@') > 0)
	EXECUTE FUNCTION stateroom_mentions_scrub();
