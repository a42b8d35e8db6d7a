-- A room's seats (POST /api/rooms "seats", 2 to 16), read by the session
-- server when it loads the room (app_room_seats): the game's players. NULL:
-- none given, the application's default (the game: 4). Written by the
-- backend right after placement, before the room's id is answered.
ALTER TABLE rooms ADD COLUMN seats smallint CHECK (seats BETWEEN 2 AND 16);
