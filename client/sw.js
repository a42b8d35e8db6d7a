// The service worker (docs/protocol.md, "Notifications"): at the site's root
// so that its scope is the whole client. It does one thing: Web Push. A push
// is shown as a notification unless a visible window of the client has that
// room open (the reader sees the message there); clicking a notification
// brings a window of the client to the room, or opens one. No caching, no
// fetch handler: the client is always the server's.

const ROOM_ID_RE = /^[a-z0-9]{12}$/;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function roomOf(url) {
  try {
    return new URL(url).searchParams.get('room');
  } catch {
    return null;
  }
}

// Only an address of this client: a payload names a path, never elsewhere.
function sameOrigin(path) {
  try {
    const url = new URL(typeof path === 'string' ? path : '/', self.location.origin);
    return url.origin === self.location.origin ? url.href : `${self.location.origin}/`;
  } catch {
    return `${self.location.origin}/`;
  }
}

async function onPush(data) {
  let p = null;
  try {
    p = data?.json() ?? null;
  } catch {
    // Not ours to read: shown plainly below.
  }
  if (p === null || typeof p !== 'object' || typeof p.roomId !== 'string' || !ROOM_ID_RE.test(p.roomId)) {
    await self.registration.showNotification('Stateroom', { body: 'Something new is waiting for you.' });
    return;
  }
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (windows.some((w) => w.visibilityState === 'visible' && roomOf(w.url) === p.roomId)) return;
  await self.registration.showNotification(typeof p.title === 'string' ? p.title : 'Stateroom', {
    body: typeof p.body === 'string' ? p.body : '',
    // One per room: a newer message of the room replaces the older one.
    tag: `room-${p.roomId}`,
    renotify: true,
    timestamp: Date.now(),
    data: { url: sameOrigin(p.url), roomId: p.roomId, seq: Number.isSafeInteger(p.seq) ? p.seq : null, type: p.type },
  });
}

async function onClick(notification) {
  const url = notification.data?.url ?? `${self.location.origin}/`;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const mine = windows.find((w) => roomOf(w.url) === notification.data?.roomId) ?? windows[0];
  if (mine) {
    const focused = await mine.focus();
    if (roomOf(focused.url) !== notification.data?.roomId) {
      // A window this worker does not control cannot be navigated: open one.
      try {
        await focused.navigate(url);
      } catch {
        await self.clients.openWindow(url);
      }
    }
    return;
  }
  await self.clients.openWindow(url);
}

self.addEventListener('push', (event) => event.waitUntil(onPush(event.data)));
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(onClick(event.notification));
});
