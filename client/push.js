// Browser notifications (docs/protocol.md, "Notifications"), for the
// settings view: whether this browser gets pushes, and turning them on and
// off. `session` is the app's session ({ token, registered, ... }).
//
// pushStatus() answers one of:
//   'unsupported'  this browser has no service workers, Push API or notifications
//   'disabled'     the server sends no pushes (no VAPID key)
//   'denied'       the user blocked notifications for this site (only the
//                  browser's site settings can undo it)
//   'off' | 'on'   whether this browser is subscribed
import { ApiError, deletePushSubscription, pushKey, savePushSubscription } from './api.js';

function supported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const have = subscription.options?.applicationServerKey;
  if (!have) return true; // the browser does not say: assume it is ours
  const a = new Uint8Array(have);
  return a.length === key.length && a.every((v, i) => v === key[i]);
}

async function serverKey() {
  try {
    return keyBytes(await pushKey());
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

async function current() {
  const registration = await navigator.serviceWorker.getRegistration('/');
  return { registration, subscription: registration ? await registration.pushManager.getSubscription() : null };
}

export async function pushStatus(session) {
  if (!supported()) return 'unsupported';
  const key = await serverKey();
  if (key === null) return 'disabled';
  if (Notification.permission === 'denied') return 'denied';
  const { subscription } = await current();
  return subscription !== null && sameKey(subscription, key) && session?.registered ? 'on' : 'off';
}

// Asks for permission (call it from a click), subscribes this browser with
// the server's key and stores the subscription for the account. Returns the
// status after; throws an ApiError or the browser's error when it failed.
export async function enablePush(session) {
  if (!supported()) return 'unsupported';
  const key = await serverKey();
  if (key === null) return 'disabled';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  await navigator.serviceWorker.register('/sw.js', { scope: '/', type: 'classic' });
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (subscription !== null && !sameKey(subscription, key)) {
    // Made with a key the server has replaced: its pushes would be refused.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await savePushSubscription(session.token, subscription.toJSON());
  return 'on';
}

// Stops pushes to this browser: for this account on the server, and the
// subscription itself.
export async function disablePush(session) {
  if (!supported()) return 'unsupported';
  const { subscription } = await current();
  if (subscription === null) return 'off';
  await deletePushSubscription(session.token, subscription.endpoint);
  await subscription.unsubscribe();
  return 'off';
}
