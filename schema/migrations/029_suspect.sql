-- Clients that found their room's server silent say so on their next
-- look-up (GET /api/rooms/:id?suspect=EPOCH), so that the room need not wait
-- for the backends' --dead-after-ms before it moves (issue 14: a paused or
-- killed server's rooms back within 3 s, a server cut off from its clients
-- within 5 s).
--
-- A suspicion moves the room at once, to another live server, at epoch + 1,
-- when either
--   * the room's server has not heartbeaten for p_suspect_ms (shorter than
--     p_dead_ms: a client already saw it fall silent, so a missed beat or
--     two is enough), or
--   * p_quorum different users suspected the same epoch within
--     p_window_ms: the server is alive for the database but not for its
--     clients (its clients' network is cut, or only one way). One user alone
--     never moves a room whose server heartbeats: their own network may be
--     what is wrong, and they would otherwise move it from everyone else.
-- Moving is safe however wrong the suspicion: the epoch fences the old
-- server's writes, as for any re-pin. A suspicion of an epoch that is no
-- longer the room's (someone moved it already) is a plain look-up.

CREATE TABLE room_suspicions (
	room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	user_id text NOT NULL,
	epoch   bigint NOT NULL,
	at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (room_id, user_id)
);

CREATE FUNCTION stateroom_locate_suspect(p_id text, p_servers text[], p_dead_ms bigint, p_epoch bigint,
					 p_user text, p_suspect_ms bigint, p_quorum integer, p_window_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint, boot text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_server text;
	v_epoch bigint;
	v_kind text;
	v_app text;
	v_quiet boolean;
	v_users integer;
	v_others text[];
	v_new text;
	v_address text;
BEGIN
	SELECT r.server_id, r.epoch, r.kind, r.app, s.heartbeat_at <= now() - p_suspect_ms * interval '1 millisecond'
	INTO v_server, v_epoch, v_kind, v_app, v_quiet
	FROM rooms r LEFT JOIN session_servers s ON s.id = r.server_id
	WHERE r.id = p_id;
	-- Inboxes are one user's: nobody to outvote, and their own placement.
	IF FOUND AND v_server IS NOT NULL AND v_epoch = p_epoch AND v_kind <> 'inbox' THEN
		DELETE FROM room_suspicions q
		WHERE q.room_id = p_id AND q.at <= now() - p_window_ms * interval '1 millisecond';
		INSERT INTO room_suspicions AS q (room_id, user_id, epoch) VALUES (p_id, p_user, p_epoch)
		ON CONFLICT (room_id, user_id) DO UPDATE SET epoch = EXCLUDED.epoch, at = now();
		SELECT count(*) INTO v_users FROM room_suspicions q
		WHERE q.room_id = p_id AND q.epoch = p_epoch
		  AND q.at > now() - p_window_ms * interval '1 millisecond';
		IF coalesce(v_quiet, true) OR v_users >= p_quorum THEN
			PERFORM pg_advisory_xact_lock(1936028018, 1);
			-- Any server but the suspected one that has beaten within the
			-- shorter window: the suspicion may be of the whole network.
			v_others := ARRAY(SELECT s.address FROM session_servers s
					  WHERE s.id <> v_server
					    AND s.heartbeat_at > now() - p_suspect_ms * interval '1 millisecond'
					    AND (p_servers IS NULL OR s.address = ANY (p_servers)));
			SELECT p.id, p.address INTO v_new, v_address FROM stateroom_pick_server(v_others, p_dead_ms, v_app) p;
			IF v_new IS NOT NULL THEN
				UPDATE rooms r SET server_id = v_new, epoch = r.epoch + 1, pinned_at = now()
				WHERE r.id = p_id AND r.epoch = p_epoch
				RETURNING r.epoch INTO v_epoch;
				IF FOUND THEN
					DELETE FROM room_suspicions q WHERE q.room_id = p_id;
					RETURN QUERY SELECT 'ok'::text, v_new, v_address, v_epoch,
						(SELECT s.boot FROM session_servers s WHERE s.id = v_new);
					RETURN;
				END IF;
			END IF;
		END IF;
	END IF;
	RETURN QUERY SELECT * FROM stateroom_locate(p_id, p_servers, p_dead_ms);
END
$$;
