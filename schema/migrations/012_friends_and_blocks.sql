-- Friends and blocks (backend-server/api_friends.c, api_blocks.c): the
-- changes that read a pair's state and then write it.
--
-- Why functions and locks: "if B already asked A, make them friends, else
-- record A's request" is a read followed by a write. Under READ COMMITTED a
-- single statement sees the database as of its start, so two users asking
-- each other at the same moment (from two backends) would each miss the
-- other's request and leave two pending requests; likewise a block could miss
-- a friendship accepted a moment earlier and leave it standing. Every
-- function here first takes a transaction-scoped advisory lock on each of
-- the two users, and each statement inside a VOLATILE function takes a
-- fresh snapshot, so after the locks are granted the function sees what the
-- previous holder committed. Locking users rather than pairs also makes the
-- per-user limits (friends, pending requests, blocks) exact. The two locks
-- are always taken in the same order (the smaller key first), so two calls
-- cannot wait on each other; a hash collision only serialises more. The key
-- space (first key) is separate from placement's (002) and migrate's.
--
-- Changes that only delete what one row says (decline, cancel, unfriend,
-- unblock) need no lock: deleting a row serialises on that row already.
-- Hints for the live inbox (docs/protocol.md, "People") go out with
-- pg_notify in the same transaction, so they are sent only if it commits.

CREATE FUNCTION stateroom_people_lock(p_a text, p_b text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_a integer := hashtext(p_a);
	v_b integer := hashtext(p_b);
BEGIN
	PERFORM pg_advisory_xact_lock(1936028019, least(v_a, v_b));
	PERFORM pg_advisory_xact_lock(1936028019, greatest(v_a, v_b));
END
$$;

CREATE FUNCTION stateroom_inbox_hint(p_to text, p_event json) RETURNS void
LANGUAGE sql VOLATILE AS $$
	SELECT pg_notify('stateroom_inbox', json_build_object('to', p_to, 'event', p_event)::text)
$$;

-- p_from asks p_to to be friends. Returns
--   'no_user'          one of the two has no account
--   'not_allowed'      either blocks the other
--   'friends_already'  they are friends
--   'pending_already'  p_from has asked before (nothing changes)
--   'friends'          p_to had asked p_from: that request became a friendship
--   'pending'          a new request
--   'friends_limit'    becoming friends would pass p_max_friends for either
--   'pending_limit'    p_from has p_max_pending requests out already
CREATE FUNCTION stateroom_friend_request(p_from text, p_to text, p_max_friends integer,
					 p_max_pending integer)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM stateroom_people_lock(p_from, p_to);
	IF (SELECT count(*) FROM users WHERE id IN (p_from, p_to)) < 2 THEN
		RETURN 'no_user';
	END IF;
	IF EXISTS (SELECT 1 FROM blocks WHERE (blocker = p_from AND blocked = p_to)
					   OR (blocker = p_to AND blocked = p_from)) THEN
		RETURN 'not_allowed';
	END IF;
	IF EXISTS (SELECT 1 FROM friends WHERE user_id = p_from AND friend_id = p_to) THEN
		RETURN 'friends_already';
	END IF;
	IF EXISTS (SELECT 1 FROM friend_requests WHERE from_user = p_from AND to_user = p_to) THEN
		RETURN 'pending_already';
	END IF;
	IF EXISTS (SELECT 1 FROM friend_requests WHERE from_user = p_to AND to_user = p_from) THEN
		IF (SELECT count(*) FROM friends WHERE user_id = p_from) >= p_max_friends
		   OR (SELECT count(*) FROM friends WHERE user_id = p_to) >= p_max_friends THEN
			RETURN 'friends_limit';
		END IF;
		DELETE FROM friend_requests WHERE from_user = p_to AND to_user = p_from;
		INSERT INTO friends (user_id, friend_id) VALUES (p_from, p_to), (p_to, p_from);
		PERFORM stateroom_inbox_hint(p_to, json_build_object('type', 'friends'));
		RETURN 'friends';
	END IF;
	IF (SELECT count(*) FROM friend_requests WHERE from_user = p_from) >= p_max_pending THEN
		RETURN 'pending_limit';
	END IF;
	INSERT INTO friend_requests (from_user, to_user) VALUES (p_from, p_to);
	PERFORM stateroom_inbox_hint(p_to, json_build_object('type', 'friend_request', 'from', p_from));
	RETURN 'pending';
END
$$;

-- p_me accepts p_from's request. Returns 'friends', 'no_request' (none from
-- p_from) or 'friends_limit'. A request never stands across a block: blocking
-- deletes it under the same locks.
CREATE FUNCTION stateroom_friend_accept(p_me text, p_from text, p_max_friends integer)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM stateroom_people_lock(p_me, p_from);
	IF NOT EXISTS (SELECT 1 FROM friend_requests WHERE from_user = p_from AND to_user = p_me) THEN
		RETURN 'no_request';
	END IF;
	IF (SELECT count(*) FROM friends WHERE user_id = p_me) >= p_max_friends
	   OR (SELECT count(*) FROM friends WHERE user_id = p_from) >= p_max_friends THEN
		RETURN 'friends_limit';
	END IF;
	DELETE FROM friend_requests WHERE from_user = p_from AND to_user = p_me;
	INSERT INTO friends (user_id, friend_id) VALUES (p_me, p_from), (p_from, p_me);
	PERFORM stateroom_inbox_hint(p_from, json_build_object('type', 'friends'));
	RETURN 'friends';
END
$$;

-- p_blocker blocks p_blocked, ending their friendship and any request
-- either way. Returns 'blocked' (also when it was already), 'no_user' or
-- 'limit' (p_blocker has p_max blocks). The blocked user hears only what an
-- unfriend or a declined request would tell them (a 'friends' hint), and
-- only when something ended.
CREATE FUNCTION stateroom_block(p_blocker text, p_blocked text, p_max integer)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_ended bigint;
BEGIN
	PERFORM stateroom_people_lock(p_blocker, p_blocked);
	IF (SELECT count(*) FROM users WHERE id IN (p_blocker, p_blocked)) < 2 THEN
		RETURN 'no_user';
	END IF;
	IF EXISTS (SELECT 1 FROM blocks WHERE blocker = p_blocker AND blocked = p_blocked) THEN
		RETURN 'blocked';
	END IF;
	IF (SELECT count(*) FROM blocks WHERE blocker = p_blocker) >= p_max THEN
		RETURN 'limit';
	END IF;
	INSERT INTO blocks (blocker, blocked) VALUES (p_blocker, p_blocked);
	WITH f AS (DELETE FROM friends
		   WHERE (user_id = p_blocker AND friend_id = p_blocked)
		      OR (user_id = p_blocked AND friend_id = p_blocker) RETURNING 1),
	     r AS (DELETE FROM friend_requests
		   WHERE (from_user = p_blocker AND to_user = p_blocked)
		      OR (from_user = p_blocked AND to_user = p_blocker) RETURNING 1)
	SELECT (SELECT count(*) FROM f) + (SELECT count(*) FROM r) INTO v_ended;
	IF v_ended > 0 THEN
		PERFORM stateroom_inbox_hint(p_blocked, json_build_object('type', 'friends'));
	END IF;
	RETURN 'blocked';
END
$$;
