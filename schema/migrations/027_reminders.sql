-- Reminders and the outbox's upkeep (docs/protocol.md, "Notifications").
-- Functions only: the tables are migration 026's.

-- Adds a reminder for p_user about message p_seq of p_room at p_at, when
-- p_access (the user's access to the room, as the API works it out:
-- backend-server/room_access.h) is 'ok', the message exists and p_user has
-- fewer than p_max pending; else the status is p_access. The user's row is locked first,
-- so two requests at once cannot both pass the count (each statement here
-- sees what the other committed once the lock is ours). Status: 'ok' (with
-- the id), 'no_message', 'bad_time' (not in the future, or over a year
-- ahead), 'limit'.
CREATE FUNCTION stateroom_reminder_add(p_access text, p_user text, p_room text, p_seq bigint, p_at timestamptz,
				       p_max integer, OUT status text, OUT id bigint)
LANGUAGE plpgsql AS $$
BEGIN
	IF p_access <> 'ok' THEN
		status := p_access;
		RETURN;
	END IF;
	IF p_at <= now() OR p_at > now() + interval '1 year' THEN
		status := 'bad_time';
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM records WHERE room_id = p_room AND seq = p_seq AND kind = 'message') THEN
		status := 'no_message';
		RETURN;
	END IF;
	PERFORM 1 FROM users WHERE users.id = p_user FOR UPDATE;
	IF (SELECT count(*) FROM reminders r WHERE r.user_id = p_user AND r.fired_at IS NULL) >= p_max THEN
		status := 'limit';
		RETURN;
	END IF;
	INSERT INTO reminders (user_id, room_id, seq, due_at) VALUES (p_user, p_room, p_seq, p_at)
	RETURNING reminders.id INTO id;
	status := 'ok';
	-- Every backend re-arms its timer: this one may be due before the next
	-- it knew of.
	PERFORM pg_notify('stateroom_reminders', '');
END
$$;

-- Fires up to p_limit due reminders in one statement: the rows are locked
-- FOR UPDATE SKIP LOCKED and fired_at is re-checked on the locked version,
-- so of two backends firing at once each reminder goes to exactly one. Each
-- fired reminder makes a 'reminder' notification when push can reach the
-- user (a subscription, push on: the push sender delivers it; never by
-- email: a digest is for what was missed, and this was asked for), and tells
-- the user's inbox {"type":"reminder","id","roomId","seq"}. Answers how
-- many fired and in how many ms the next pending one is due (NULL: none).
CREATE FUNCTION stateroom_reminders_fire(p_limit integer, OUT fired integer, OUT next_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	fired := 0;
	FOR r IN
		WITH due AS (
			SELECT rm.id FROM reminders rm
			WHERE rm.fired_at IS NULL AND rm.due_at <= now()
			ORDER BY rm.due_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
		UPDATE reminders rm SET fired_at = now() FROM due
		WHERE rm.id = due.id AND rm.fired_at IS NULL
		RETURNING rm.id, rm.user_id, rm.room_id, rm.seq
	LOOP
		fired := fired + 1;
		INSERT INTO notifications (user_id, room_id, seq, kind, reminder_id, push_state, email_state)
		SELECT r.user_id, r.room_id, r.seq, 'reminder', r.id, 'pending', 'none'
		WHERE COALESCE((SELECT p.push FROM notify_prefs p WHERE p.user_id = r.user_id), true)
		  AND EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.user_id = r.user_id);
		PERFORM stateroom_inbox_hint(r.user_id, json_build_object(
			'type', 'reminder', 'id', r.id, 'roomId', r.room_id, 'seq', r.seq));
	END LOOP;
	IF fired > 0 THEN
		PERFORM pg_notify('stateroom_notify', '');
	END IF;
	SELECT ceil(extract(epoch FROM min(due_at) - now()) * 1000)::bigint INTO next_ms
	FROM reminders WHERE fired_at IS NULL;
END
$$;

-- Deletes up to p_batch rows of what is done with: notifications no channel
-- still has to send, 7 days after they were made, and reminders 30 days
-- after they fired (their notification goes with them). Rows another
-- backend is sweeping are skipped, not waited for. Answers how many went.
CREATE FUNCTION stateroom_notify_sweep(p_batch integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer;
	m integer;
BEGIN
	DELETE FROM notifications WHERE id IN (
		SELECT id FROM notifications
		WHERE created_at < now() - interval '7 days'
		  AND push_state <> 'pending' AND email_state <> 'pending'
		LIMIT p_batch FOR UPDATE SKIP LOCKED);
	GET DIAGNOSTICS n = ROW_COUNT;
	DELETE FROM reminders WHERE id IN (
		SELECT id FROM reminders
		WHERE fired_at < now() - interval '30 days'
		LIMIT p_batch FOR UPDATE SKIP LOCKED);
	GET DIAGNOSTICS m = ROW_COUNT;
	RETURN n + m;
END
$$;
