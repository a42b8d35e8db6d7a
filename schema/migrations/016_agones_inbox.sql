-- Inboxes under the `agones` scheduler (docs/deploy.md, "Inboxes"). An inbox
-- takes no room slot (015), so it must not be allocated as a room: that
-- would count it in a GameServer's `rooms` counter and list, and a fleet
-- would fill up with a slot per user online. An inbox goes instead to a
-- GameServer already allocated, by this database, as the other schedulers
-- place it; only when none has inbox room left is a Ready one allocated,
-- with no counter or list action.
--
-- allocated: the agones scheduler has had this server allocated (a
-- GameServerAllocation answered with its name). Agones never gives an
-- Allocated GameServer back to the pool, so this holds until its pod goes;
-- a server that is only registered may be a Ready GameServer the fleet
-- autoscaler is free to delete, with the inboxes on it. Other schedulers
-- neither set nor read it.
ALTER TABLE session_servers ADD COLUMN allocated boolean NOT NULL DEFAULT false;

-- Before this column, every server with a room pinned was allocated (under
-- agones; under the other schedulers the column is not read).
UPDATE session_servers s SET allocated = true
WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.server_id = s.id);

-- Pins inbox p_id, read at epoch p_epoch, to the live, up, allocated server
-- with the fewest inboxes pinned under its inbox bound (ties: the smallest
-- id), as stateroom_pick_inbox_server (015) chooses among all servers, and
-- under the same lock as stateroom_locate, so that concurrent placements
-- never take a server past its bound. status: 'ok' (pinned, epoch + 1);
-- 'none' (no allocated server has inbox room: allocate one); 'moved' (the
-- epoch is no longer p_epoch: someone re-pinned it first, read it again).
CREATE FUNCTION stateroom_agones_pin_inbox(p_id text, p_epoch bigint, p_dead_ms bigint)
RETURNS TABLE (status text, server_id text, address text, epoch bigint, boot text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_server text;
	v_address text;
	v_boot text;
	v_epoch bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028018, 1);
	SELECT s.id, s.address, s.boot INTO v_server, v_address, v_boot
	FROM session_servers s
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM rooms r
			    WHERE r.server_id = s.id AND r.kind = 'inbox') pinned
	WHERE s.allocated AND s.state = 'up'
	  AND s.heartbeat_at > now() - p_dead_ms * interval '1 millisecond'
	  AND pinned.n < s.inbox_capacity
	ORDER BY pinned.n, s.id
	LIMIT 1;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'none'::text, NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;
	UPDATE rooms SET server_id = v_server, epoch = rooms.epoch + 1, pinned_at = now()
	WHERE rooms.id = p_id AND rooms.epoch = p_epoch
	RETURNING rooms.epoch INTO v_epoch;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'moved'::text, NULL::text, NULL::text, NULL::bigint, NULL::text;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, v_server, v_address, v_epoch, v_boot;
END
$$;
