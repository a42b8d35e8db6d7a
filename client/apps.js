// The room applications the web client can create and open, chat first:
// the create-room picker lists them, and app.js opens a room's view by its
// `app` (GET /api/rooms/:id).
export const APPS = [
  { app: 'chat', label: 'Chat', view: './view-room.js' },
  { app: 'game', label: 'Arena game', view: './view-game.js' },
];
