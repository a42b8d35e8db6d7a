-- End-to-end encrypted DMs (docs/e2ee.md): each browser device of an account
-- registers one public key; the backend stores and serves public keys only.
-- A removed device keeps its row (revoked_at set) so that messages it sent
-- stay readable; nothing new is encrypted for it. A key, once listed for an
-- account, cannot be listed again under another device id.
CREATE TABLE device_keys (
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id  text NOT NULL CHECK (device_id ~ '^[A-Za-z0-9_-]{16}$'),
	alg        text NOT NULL CHECK (alg IN ('X25519', 'P-256')),
	public_key text NOT NULL CHECK (length(public_key) <= 100),
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	PRIMARY KEY (user_id, device_id),
	UNIQUE (user_id, public_key)
);

-- Adds a device for p_user under the account's lock, so that two concurrent
-- adds cannot pass the limits together. status: 'created', 'exists' (this
-- key is already an active device: its id), 'revoked' (this key was
-- removed), 'limit' (p_max_active active devices, or p_max_total rows),
-- 'no_user'.
CREATE FUNCTION stateroom_device_add(p_user text, p_device text, p_alg text, p_key text,
				     p_max_active integer, p_max_total integer)
RETURNS TABLE (status text, device_id text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_row device_keys%ROWTYPE;
	v_active integer;
	v_total integer;
BEGIN
	PERFORM pg_advisory_xact_lock(1936028020, hashtext(p_user));
	IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_user) THEN
		RETURN QUERY SELECT 'no_user'::text, NULL::text;
		RETURN;
	END IF;
	SELECT * INTO v_row FROM device_keys d WHERE d.user_id = p_user AND d.public_key = p_key;
	IF FOUND THEN
		RETURN QUERY SELECT CASE WHEN v_row.revoked_at IS NULL THEN 'exists' ELSE 'revoked' END,
			v_row.device_id;
		RETURN;
	END IF;
	SELECT count(*) FILTER (WHERE revoked_at IS NULL), count(*) INTO v_active, v_total
	FROM device_keys d WHERE d.user_id = p_user;
	IF v_active >= p_max_active OR v_total >= p_max_total THEN
		RETURN QUERY SELECT 'limit'::text, NULL::text;
		RETURN;
	END IF;
	INSERT INTO device_keys (user_id, device_id, alg, public_key) VALUES (p_user, p_device, p_alg, p_key);
	RETURN QUERY SELECT 'created'::text, p_device;
END
$$;
