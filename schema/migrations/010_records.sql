-- A room's log holds typed records, not only chat messages: each has the
-- room's seq, a kind the room's application defines (a chat message is
-- 'message'; edits, reactions and membership changes will be others) and a
-- payload, the application's bytes (a chat message's text). Who sent it, the
-- name shown, the client id and the time stay columns, because group commit,
-- idempotency by client id, hydration, resumes and history pages work on
-- records of any kind.
--
-- Renaming keeps every row, the primary key (room_id, seq) that the log's
-- reads walk, and the constraints, without copying anything. A column with a
-- constant default is added without a rewrite, and the rows already there
-- all read 'message'; the check on kind holds for them, so it is added NOT
-- VALID, which spares a scan of the whole table under the lock.
ALTER TABLE messages RENAME TO records;
ALTER TABLE records RENAME COLUMN body TO payload;
ALTER TABLE records
	ADD COLUMN kind text NOT NULL DEFAULT 'message',
	ADD CONSTRAINT records_kind_check CHECK (length(kind) BETWEEN 1 AND 32) NOT VALID;
ALTER INDEX messages_pkey RENAME TO records_pkey;
ALTER TABLE records RENAME CONSTRAINT messages_room_id_fkey TO records_room_id_fkey;
ALTER TABLE records RENAME CONSTRAINT messages_seq_check TO records_seq_check;
ALTER TABLE records RENAME CONSTRAINT messages_client_id_check TO records_client_id_check;
ALTER TABLE records RENAME CONSTRAINT messages_user_name_check TO records_user_name_check;

-- The chat messages as the table used to hold them, for SQL written against
-- it (operators' queries, scripts/bench): a simple view, so rows inserted
-- through it become records of kind 'message'.
CREATE VIEW messages AS
	SELECT room_id, seq, client_id, user_id, payload AS body, created_at, user_name
	FROM records WHERE kind = 'message';
