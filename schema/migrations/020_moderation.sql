-- Rooms people run (docs/protocol.md, "Roles and moderation"): roles, bans,
-- mutes, invites, and the room's actions.
--
-- A room's owner is rooms.owner (a subject); moderators are room_roles rows;
-- everyone else who may join is a member. Every change a moderator or the
-- owner makes goes through stateroom_room_act, whichever path it came by (an
-- HTTP request to the backend, a frame to the session server), so the rules
-- of who may do what are written once, here. It writes the change and a row
-- of room_actions in one transaction and tells the session servers on the
-- channel stateroom_room; the one holding the room logs each action as a
-- record of the room's log (kind 'action', client_id 'act:<id>') and enforces
-- it (closes a banned or removed user's connections). An action taken while
-- the room is loaded nowhere is logged when the room is next loaded: the
-- actions after the last one its log holds are still to be logged.
--
-- User ids here are subjects without a foreign key to users: a guest
-- (guest:...) can be banned, muted or invited by a link like an account.
-- Appointing a moderator, handing over ownership and inviting by id take
-- accounts only (a guest's subject dies with its token).

ALTER TABLE rooms ADD COLUMN invite_only boolean NOT NULL DEFAULT false;

CREATE TABLE room_roles (
	room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	user_id    text NOT NULL,
	role       text NOT NULL CHECK (role IN ('moderator')),
	granted_by text NOT NULL,
	at         timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (room_id, user_id)
);

-- until NULL: until unbanned.
CREATE TABLE room_bans (
	room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	user_id text NOT NULL,
	by      text NOT NULL,
	reason  text CHECK (length(reason) <= 200),
	at      timestamptz NOT NULL DEFAULT now(),
	until   timestamptz,
	PRIMARY KEY (room_id, user_id)
);

CREATE TABLE room_mutes (
	room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	user_id text NOT NULL,
	by      text NOT NULL,
	at      timestamptz NOT NULL DEFAULT now(),
	until   timestamptz NOT NULL,
	PRIMARY KEY (room_id, user_id)
);

-- Who may look up and join an invite-only room besides its owner and
-- moderators: users invited by id, and users who took an invite link.
CREATE TABLE room_invites (
	room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	user_id text NOT NULL,
	by      text NOT NULL,
	link_id bigint,
	at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_invites_user ON room_invites (user_id);

-- An invite link is its token, shown once to its maker; only its SHA-256 is
-- kept. It works until expires_at, until revoked, and (max_uses not NULL)
-- for that many users.
CREATE TABLE room_invite_links (
	id         bigserial PRIMARY KEY,
	room_id    text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	created_by text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz,
	max_uses   integer CHECK (max_uses > 0),
	uses       integer NOT NULL DEFAULT 0
);
CREATE INDEX room_invite_links_room ON room_invite_links (room_id);

-- What was done in a room, by whom, to whom: the moderation log, and the
-- actions still to be logged in the room's own log. detail is the action's
-- own: settings {"name"?, "visibility"?, "capacity"?, "inviteOnly"?}; ban
-- {"reason"?, "until"?}; mute {"until"}; kick {"reason"?}; invite_link
-- {"linkId", "expiresAt"}; revoke_link {"linkId"} (times in ms since the
-- Unix epoch).
CREATE TABLE room_actions (
	id          bigserial PRIMARY KEY,
	room_id     text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	actor       text NOT NULL,
	actor_name  text NOT NULL CHECK (length(actor_name) <= 64),
	action      text NOT NULL CHECK (action IN ('settings', 'promote', 'demote', 'transfer',
						  'kick', 'ban', 'unban', 'mute', 'unmute',
						  'invite', 'uninvite', 'invite_link',
						  'revoke_link')),
	target      text,
	target_name text CHECK (length(target_name) <= 64),
	detail      jsonb NOT NULL DEFAULT '{}',
	at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX room_actions_room ON room_actions (room_id, id);

-- The action records of a room's log, found by their client_id.
CREATE INDEX records_actions ON records (room_id, client_id) WHERE kind = 'action';

-- p_user's role in room p_room: 'owner', 'moderator' or 'member' (NULL: no
-- such room).
CREATE FUNCTION stateroom_room_role(p_room text, p_user text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN r.owner = p_user THEN 'owner'
		    WHEN EXISTS (SELECT 1 FROM room_roles WHERE room_id = p_room AND user_id = p_user)
		    THEN 'moderator' ELSE 'member' END
	FROM rooms r WHERE r.id = p_room
$$;

-- Whether p_user may look up, join, read or search room p_room (of kind
-- 'room'), by its moderation: 'ok'; 'banned' (a ban in force);
-- 'invite_only' (an invite-only room that p_user is not invited to, owns
-- nor moderates). What a DM or an inbox allows is the backend's
-- room_access.h.
CREATE FUNCTION stateroom_room_admits(p_room text, p_user text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE
		WHEN EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = p_room AND b.user_id = p_user
			     AND (b.until IS NULL OR b.until > now())) THEN 'banned'
		WHEN r.invite_only AND r.owner <> p_user
		     AND NOT EXISTS (SELECT 1 FROM room_roles WHERE room_id = p_room AND user_id = p_user)
		     AND NOT EXISTS (SELECT 1 FROM room_invites WHERE room_id = p_room AND user_id = p_user)
		THEN 'invite_only'
		ELSE 'ok' END
	FROM rooms r WHERE r.id = p_room
$$;

-- One change to room p_room by p_actor (shown as p_actor_name), on p_target
-- (a subject; NULL for settings and links) with p_detail (see room_actions;
-- for ban and mute the input is {"durationS"?, "reason"?}, and the row gets
-- "until"; settings: the fields to change, already checked by the caller).
-- Who may:
--   settings, promote, demote, transfer        the owner;
--   kick, ban, unban, mute, unmute, invite,
--   uninvite, invite_link, revoke_link         the owner and moderators,
-- and a target never outranks nor equals its actor (owner > moderator >
-- member): a moderator cannot act on another moderator or the owner.
-- promote, transfer and invite take an account as target.
-- status:
--   'ok'          done; action_id the room_actions row, logged in the
--                 room's log once a session server has the room;
--   'no_room'     no such room, or one of another kind (a DM, an inbox);
--   'forbidden'   p_actor's role may not do this;
--   'outranked'   the target's role is p_actor's or above (or is p_actor);
--   'no_user'     the target is no account (promote, transfer, invite);
--   'exists'      already so: promote of a moderator, invite of someone
--                 invited (nothing logged);
--   'not_found'   nothing to undo: unban of someone not banned, unmute of
--                 someone not muted, demote of a member, uninvite of someone
--                 not invited, revoke of an unknown or revoked link;
--   'invalid'     p_detail does not fit the action (a mute without a
--                 positive durationS, an empty settings, an unknown link).
-- Nothing is written unless 'ok'. The room's actions are taken one at a
-- time (an advisory lock per room, held to commit), so their ids grow in
-- the order they commit: the session server logs those after the last one
-- in the log, in id order.
CREATE FUNCTION stateroom_room_act(p_room text, p_actor text, p_actor_name text, p_action text,
				   p_target text, p_target_name text, p_detail jsonb)
RETURNS TABLE (status text, action_id bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_room rooms%ROWTYPE;
	v_actor_rank integer;
	v_needed integer;
	v_target_rank integer;
	v_detail jsonb := coalesce(p_detail, '{}'::jsonb);
	v_until timestamptz;
	v_target_name text;
	v_id bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028020, hashtext(p_room));
	SELECT * INTO v_room FROM rooms WHERE id = p_room FOR UPDATE;
	IF NOT FOUND OR v_room.kind <> 'room' THEN
		RETURN QUERY SELECT 'no_room'::text, NULL::bigint;
		RETURN;
	END IF;
	v_actor_rank := CASE stateroom_room_role(p_room, p_actor)
			WHEN 'owner' THEN 2 WHEN 'moderator' THEN 1 ELSE 0 END;
	v_needed := CASE WHEN p_action IN ('settings', 'promote', 'demote', 'transfer') THEN 2 ELSE 1 END;
	IF v_actor_rank < v_needed THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::bigint;
		RETURN;
	END IF;
	IF p_target IS NOT NULL THEN
		v_target_rank := CASE stateroom_room_role(p_room, p_target)
				 WHEN 'owner' THEN 2 WHEN 'moderator' THEN 1 ELSE 0 END;
		IF p_target = p_actor OR v_target_rank >= v_actor_rank THEN
			RETURN QUERY SELECT 'outranked'::text, NULL::bigint;
			RETURN;
		END IF;
		IF p_action IN ('promote', 'transfer', 'invite')
		   AND NOT EXISTS (SELECT 1 FROM users WHERE id = p_target) THEN
			RETURN QUERY SELECT 'no_user'::text, NULL::bigint;
			RETURN;
		END IF;
		SELECT coalesce(u.display_name, u.id) INTO v_target_name FROM users u WHERE u.id = p_target;
		v_target_name := left(coalesce(v_target_name, p_target_name, p_target), 64);
	ELSIF p_action NOT IN ('settings', 'invite_link', 'revoke_link') THEN
		RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
		RETURN;
	END IF;

	CASE p_action
	WHEN 'settings' THEN
		IF v_detail = '{}'::jsonb THEN
			RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
			RETURN;
		END IF;
		UPDATE rooms SET
			name = CASE WHEN v_detail ? 'name' THEN v_detail->>'name' ELSE name END,
			visibility = coalesce(v_detail->>'visibility', visibility),
			capacity = coalesce((v_detail->>'capacity')::integer, capacity),
			invite_only = coalesce((v_detail->>'inviteOnly')::boolean, invite_only)
		WHERE id = p_room;
	WHEN 'promote' THEN
		INSERT INTO room_roles (room_id, user_id, role, granted_by)
		VALUES (p_room, p_target, 'moderator', p_actor)
		ON CONFLICT (room_id, user_id) DO NOTHING;
		IF NOT FOUND THEN
			RETURN QUERY SELECT 'exists'::text, NULL::bigint;
			RETURN;
		END IF;
	WHEN 'demote' THEN
		-- (a moderator outranks nobody here but members, so the rank
		-- check above let only the owner through, on a non-owner)
		DELETE FROM room_roles WHERE room_id = p_room AND user_id = p_target;
		IF NOT FOUND THEN
			RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
			RETURN;
		END IF;
	WHEN 'transfer' THEN
		DELETE FROM room_roles WHERE room_id = p_room AND user_id = p_target;
		INSERT INTO room_roles (room_id, user_id, role, granted_by)
		VALUES (p_room, p_actor, 'moderator', p_target);
		UPDATE rooms SET owner = p_target, owner_name = nullif(v_target_name, p_target)
		WHERE id = p_room;
		DELETE FROM room_bans WHERE room_id = p_room AND user_id = p_target;
		DELETE FROM room_mutes WHERE room_id = p_room AND user_id = p_target;
	WHEN 'kick' THEN
		-- Out of the room now, and of its members' list; back in only as
		-- anyone may come (an invite-only room wants a new invite).
		UPDATE memberships SET left_at = now()
		WHERE room_id = p_room AND user_id = p_target AND left_at IS NULL;
		DELETE FROM room_invites WHERE room_id = p_room AND user_id = p_target;
		v_detail := jsonb_strip_nulls(jsonb_build_object('reason', v_detail->>'reason'));
	WHEN 'ban' THEN
		IF v_detail ? 'durationS' THEN
			IF jsonb_typeof(v_detail->'durationS') <> 'number'
			   OR (v_detail->>'durationS')::numeric <= 0 THEN
				RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
				RETURN;
			END IF;
			v_until := now() + (v_detail->>'durationS')::numeric * interval '1 second';
		END IF;
		INSERT INTO room_bans (room_id, user_id, by, reason, until)
		VALUES (p_room, p_target, p_actor, left(v_detail->>'reason', 200), v_until)
		ON CONFLICT (room_id, user_id) DO UPDATE
		SET by = EXCLUDED.by, reason = EXCLUDED.reason, at = now(), until = EXCLUDED.until;
		DELETE FROM room_roles WHERE room_id = p_room AND user_id = p_target;
		DELETE FROM room_invites WHERE room_id = p_room AND user_id = p_target;
		UPDATE memberships SET left_at = now()
		WHERE room_id = p_room AND user_id = p_target AND left_at IS NULL;
		v_detail := jsonb_strip_nulls(jsonb_build_object(
			'reason', left(v_detail->>'reason', 200),
			'until', (extract(epoch FROM v_until) * 1000)::bigint));
	WHEN 'unban' THEN
		DELETE FROM room_bans WHERE room_id = p_room AND user_id = p_target
		AND (until IS NULL OR until > now());
		IF NOT FOUND THEN
			RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
			RETURN;
		END IF;
		v_detail := '{}'::jsonb;
	WHEN 'mute' THEN
		IF jsonb_typeof(v_detail->'durationS') IS DISTINCT FROM 'number'
		   OR (v_detail->>'durationS')::numeric <= 0 THEN
			RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
			RETURN;
		END IF;
		v_until := now() + (v_detail->>'durationS')::numeric * interval '1 second';
		INSERT INTO room_mutes (room_id, user_id, by, until)
		VALUES (p_room, p_target, p_actor, v_until)
		ON CONFLICT (room_id, user_id) DO UPDATE
		SET by = EXCLUDED.by, at = now(), until = EXCLUDED.until;
		v_detail := jsonb_build_object('until', (extract(epoch FROM v_until) * 1000)::bigint);
	WHEN 'unmute' THEN
		DELETE FROM room_mutes WHERE room_id = p_room AND user_id = p_target AND until > now();
		IF NOT FOUND THEN
			RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
			RETURN;
		END IF;
		v_detail := '{}'::jsonb;
	WHEN 'invite' THEN
		INSERT INTO room_invites (room_id, user_id, by) VALUES (p_room, p_target, p_actor)
		ON CONFLICT (room_id, user_id) DO NOTHING;
		IF NOT FOUND THEN
			RETURN QUERY SELECT 'exists'::text, NULL::bigint;
			RETURN;
		END IF;
		v_detail := '{}'::jsonb;
	WHEN 'uninvite' THEN
		DELETE FROM room_invites WHERE room_id = p_room AND user_id = p_target;
		IF NOT FOUND THEN
			RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
			RETURN;
		END IF;
		v_detail := '{}'::jsonb;
	WHEN 'invite_link', 'revoke_link' THEN
		-- The link row is the caller's (the backend writes it first); this
		-- only checks the actor's role and logs it.
		IF jsonb_typeof(v_detail->'linkId') IS DISTINCT FROM 'number' THEN
			RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
			RETURN;
		END IF;
		IF p_action = 'revoke_link' THEN
			UPDATE room_invite_links SET revoked_at = now()
			WHERE id = (v_detail->>'linkId')::bigint AND room_id = p_room AND revoked_at IS NULL;
			IF NOT FOUND THEN
				RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
				RETURN;
			END IF;
		ELSIF NOT EXISTS (SELECT 1 FROM room_invite_links
				  WHERE id = (v_detail->>'linkId')::bigint AND room_id = p_room) THEN
			RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
			RETURN;
		END IF;
	ELSE
		RETURN QUERY SELECT 'invalid'::text, NULL::bigint;
		RETURN;
	END CASE;

	INSERT INTO room_actions (room_id, actor, actor_name, action, target, target_name, detail)
	VALUES (p_room, p_actor, left(coalesce(p_actor_name, p_actor), 64), p_action, p_target,
		v_target_name, v_detail)
	RETURNING id INTO v_id;
	PERFORM pg_notify('stateroom_room', json_build_object('room', p_room, 'action', v_id)::text);
	RETURN QUERY SELECT 'ok'::text, v_id;
END
$$;

-- Deletes room p_room for p_actor, its owner: 'ok', 'no_room' (none, or not
-- of kind 'room') or 'forbidden'. Its log, files' rows, roles, bans and
-- actions go with it (ON DELETE CASCADE); the session server holding it
-- closes everyone in it (close 4012) when told on stateroom_room
-- {"room", "deleted": true}.
CREATE FUNCTION stateroom_room_delete(p_room text, p_actor text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_owner text;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028020, hashtext(p_room));
	SELECT owner INTO v_owner FROM rooms WHERE id = p_room AND kind = 'room' FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'no_room';
	END IF;
	IF v_owner <> p_actor THEN
		RETURN 'forbidden';
	END IF;
	DELETE FROM rooms WHERE id = p_room;
	PERFORM pg_notify('stateroom_room', json_build_object('room', p_room, 'deleted', true)::text);
	RETURN 'ok';
END
$$;

-- What a session server holding room p_room enforces, in one read: rows of
-- (kind, value, n):
--   ('owner', subject, NULL), ('moderator', subject, NULL);
--   ('ban', subject, until or NULL), ('mute', subject, until): those in
--   force only, until in ms since the Unix epoch;
--   ('logged', NULL, id): the last action the room's log holds (0: none),
--   so that the actions after it are still to be logged (a persistent room);
--   ('actions', NULL, id): the room's last action (0: none), after which an
--   ephemeral room, whose log starts anew at each load, logs actions;
--   ('settings', name, capacity): the room's name (NULL: none) and capacity.
-- No row: no such room.
CREATE FUNCTION stateroom_room_rules(p_room text)
RETURNS TABLE (kind text, value text, n bigint)
LANGUAGE sql STABLE AS $$
	SELECT 'owner', owner, NULL::bigint FROM rooms WHERE id = p_room
	UNION ALL
	SELECT 'moderator', user_id, NULL FROM room_roles WHERE room_id = p_room
	UNION ALL
	SELECT 'ban', user_id, (extract(epoch FROM until) * 1000)::bigint FROM room_bans
	WHERE room_id = p_room AND (until IS NULL OR until > now())
	UNION ALL
	SELECT 'mute', user_id, (extract(epoch FROM until) * 1000)::bigint FROM room_mutes
	WHERE room_id = p_room AND until > now()
	UNION ALL
	SELECT 'logged', NULL, coalesce((SELECT max(substr(client_id, 5)::bigint) FROM records
					WHERE room_id = p_room AND kind = 'action'
					  AND client_id ~ '^act:[0-9]{1,18}$'), 0)
	FROM rooms WHERE id = p_room
	UNION ALL
	SELECT 'actions', NULL, coalesce((SELECT max(id) FROM room_actions WHERE room_id = p_room), 0)
	FROM rooms WHERE id = p_room
	UNION ALL
	SELECT 'settings', name, capacity::bigint FROM rooms WHERE id = p_room
$$;
