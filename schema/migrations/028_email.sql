-- Email (docs/protocol.md, "Notifications"): what the digest sender needs
-- beside migration 026's email_addresses, and the address changes the API
-- makes, each in one statement so that two requests at once cannot both
-- send a verification mail or both miss the limit.

-- A digest that failed is tried again after a backoff that grows with the
-- attempts (send_attempts, reset by a sent digest); last_error tells the
-- operator why it is late.
ALTER TABLE email_addresses
	ADD COLUMN send_attempts integer NOT NULL DEFAULT 0,
	ADD COLUMN last_error    text;

-- Sets p_user's address to p_address with a new verification token (its
-- SHA-256, p_hash) valid 24 hours. Returns 'send' (mail the token),
-- 'verified' (that very address is verified already: nothing to do) or
-- 'wait:N' (a verification mail went out less than p_gap_s ago, for this or
-- another address: try in N seconds), so that nobody can make the server
-- mail an address over and over. p_unsub is the unsubscribe token of a new
-- row; an existing row keeps its own.
CREATE FUNCTION stateroom_email_set(p_user text, p_address text, p_hash bytea, p_unsub text,
				    p_gap_s integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r email_addresses;
	v_left integer;
BEGIN
	SELECT * INTO r FROM email_addresses WHERE user_id = p_user FOR UPDATE;
	IF FOUND THEN
		IF r.address = p_address AND r.verified_at IS NOT NULL THEN
			RETURN 'verified';
		END IF;
		-- The last mail went out at verify_expires - 24 h.
		v_left := ceil(extract(epoch FROM r.verify_expires - interval '24 hours'
				       + p_gap_s * interval '1 second' - now()))::integer;
		IF v_left > 0 THEN
			RETURN 'wait:' || v_left;
		END IF;
		UPDATE email_addresses
		SET address = p_address,
		    verified_at = CASE WHEN address = p_address THEN verified_at END,
		    verify_hash = p_hash, verify_expires = now() + interval '24 hours'
		WHERE user_id = p_user;
		RETURN 'send';
	END IF;
	INSERT INTO email_addresses (user_id, address, verify_hash, verify_expires, unsub_token)
	VALUES (p_user, p_address, p_hash, now() + interval '24 hours', p_unsub)
	ON CONFLICT (user_id) DO NOTHING;
	-- A request at the same moment made the row: this one counts as too soon.
	IF NOT FOUND THEN
		RETURN 'wait:' || p_gap_s;
	END IF;
	RETURN 'send';
END
$$;

-- Uses a verification token: 'ok' (the address is verified now; the token
-- is gone), 'expired', or 'unknown' (never issued, used already, or
-- replaced by a newer one).
CREATE FUNCTION stateroom_email_verify(p_hash bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_expires timestamptz;
BEGIN
	SELECT verify_expires INTO v_expires FROM email_addresses WHERE verify_hash = p_hash FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'unknown';
	END IF;
	IF v_expires <= now() THEN
		RETURN 'expired';
	END IF;
	UPDATE email_addresses SET verified_at = now(), verify_hash = NULL
	WHERE verify_hash = p_hash;
	RETURN 'ok';
END
$$;
CREATE INDEX email_addresses_verify ON email_addresses (verify_hash) WHERE verify_hash IS NOT NULL;
