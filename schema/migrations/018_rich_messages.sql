-- Replies, edits, deletions and reactions are records of the chat's log like
-- its messages (kinds 'edit', 'delete', 'reaction'): each has its own seq, so
-- group commit, idempotency, resumes and history pages hold for them as for
-- messages. A change names the message it applies to (target); a message
-- may answer an earlier one (reply_to). Both are NULL for the rows already
-- there, so adding them rewrites nothing.
ALTER TABLE records
	ADD COLUMN target bigint NULL,
	ADD COLUMN reply_to bigint NULL;

-- A message's changes are found by their target: the current text (its
-- latest edit), whether it is deleted, its reactions, and the rows a
-- deletion scrubs. Only changes have a target, so the index holds only them.
CREATE INDEX records_target ON records (room_id, target) WHERE target IS NOT NULL;
