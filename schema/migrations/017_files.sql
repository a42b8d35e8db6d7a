-- Files uploaded to a room (POST /api/rooms/:id/files; docs/protocol.md,
-- "Files"). The bytes are in the file store (backend-server/files.h) under
-- id; this is what the API needs to serve them and count quotas.
--
-- owner: the uploader's subject (a users id, or a guest's "g:…" subject,
-- which is why there is no foreign key to users). name: the sanitised name,
-- plain text (never markup). type: the sniffed content type, one of the
-- allow-list. thumb: an image's thumbnail (image/webp) is stored too.
CREATE TABLE files (
	id text PRIMARY KEY,
	room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
	owner text NOT NULL,
	name text NOT NULL,
	type text NOT NULL,
	size bigint NOT NULL CHECK (size >= 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	thumb boolean NOT NULL DEFAULT false
);

-- The quotas: a user's bytes in the last day, a room's bytes in all.
CREATE INDEX files_owner_created ON files (owner, created_at);
CREATE INDEX files_room ON files (room_id);
