// The room applications this client has a view for, in the order the
// create-room picker lists them (chat first: a room without `app` is one).
// app.js opens a room's view by its `app` (GET /api/rooms/:id answers it).
// Each view module exports init(app), show(roomId, lookup, name, kind),
// hide() and showing(roomId), as view-room.js does. To add one: its line
// here.
import * as chat from './view-room.js';
import * as whiteboard from './view-whiteboard.js';
import * as game from './view-game.js';

export const APPS = [
  { app: 'chat', label: 'Chat', view: chat },
  { app: 'whiteboard', label: 'Whiteboard', view: whiteboard },
  { app: 'game', label: 'Arena game', view: game },
];

// The entry of a room's application (chat when unknown or absent: a view
// for it is the one the room would otherwise have had).
export function appEntry(name) {
  return APPS.find((a) => a.app === name) ?? APPS[0];
}
