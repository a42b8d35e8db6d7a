// "Remind me" under a message (docs/protocol.md, "Reminders"): a dialog of
// choices (in 20 minutes, 1 hour, 3 hours, tomorrow at 9:00 local time, or a
// time picked), each one POST /api/reminders. When it is due, the account's
// inbox hears of it (view-notify-settings.js shows it).

import { addReminder } from './api.js';
import { $, setError } from './dom.js';

let app = null;
let target = null; // { roomId, seq } the dialog is about
let onAdded = () => {};

function dialog() {
  return $('remind-dialog');
}

async function remindAt(date) {
  if (target === null) return;
  const token = app.liveToken();
  if (token === null) return;
  if (!(date instanceof Date) || Number.isNaN(date.getTime()) || date.getTime() <= Date.now()) {
    setError($('remind-error'), 'Pick a time in the future.');
    return;
  }
  try {
    await addReminder(token, target.roomId, target.seq, date.toISOString());
    dialog().close();
    onAdded();
  } catch (error) {
    setError($('remind-error'), error.message);
  }
}

function tomorrowAtNine() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(9, 0, 0, 0);
  return d;
}

// shared: the app (app.js); added: called after each reminder made.
export function initRemind(shared, added) {
  app = shared;
  onAdded = added;
  $('remind-close').addEventListener('click', () => dialog().close());
  for (const button of dialog().querySelectorAll('button[data-in]')) {
    button.addEventListener('click', () => {
      const minutes = Number(button.dataset.in);
      remindAt(button.dataset.in === 'tomorrow' ? tomorrowAtNine() : new Date(Date.now() + minutes * 60000));
    });
  }
  $('remind-form').addEventListener('submit', (event) => {
    event.preventDefault();
    // datetime-local is the page's local time, as new Date() reads it.
    const value = $('remind-at').value;
    remindAt(value === '' ? null : new Date(value));
  });
}

export function remindAbout(roomId, seq) {
  if (app === null) return;
  target = { roomId, seq };
  setError($('remind-error'), null);
  $('remind-at').value = '';
  dialog().showModal();
}
