// The email part of the notification settings (docs/protocol.md,
// "Notifications"): the address, whether it is verified ("check your
// inbox" until then), sending the link again, and removing the address.
// renderEmailSettings(element, { token }) fills element and keeps it up to
// date by itself; token() returns the session's bearer token (or null).

const ADDRESS_MAX = 254;

async function call(method, token, body) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch('/api/me/email', {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
    });
  } catch {
    return { status: 0, error: 'The server cannot be reached: check your connection and try again.' };
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    // 204, or not JSON: nothing to read.
  }
  const code = json?.error?.code ?? null;
  let error = json?.error?.message ?? null;
  if (code === 'email_disabled') error = 'This server does not send email.';
  else if (res.status === 429) error = `A link went out a moment ago: wait ${res.headers.get('Retry-After') ?? 60} s before asking for another.`;
  return { status: res.status, json, code, error };
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children);
  return e;
}

export function renderEmailSettings(element, { token }) {
  const status = el('p', { className: 'email-status' });
  const error = el('p', { className: 'error', hidden: true, role: 'alert' });
  const input = el('input', {
    type: 'email', maxLength: ADDRESS_MAX, autocomplete: 'email', placeholder: 'name@example.com', required: true,
  });
  input.setAttribute('aria-label', 'Email address');
  const save = el('button', { type: 'submit', textContent: 'Send confirmation link' });
  const form = el('form', { className: 'email-form' }, input, save);
  const resend = el('button', { type: 'button', textContent: 'Send the link again' });
  const remove = el('button', { type: 'button', textContent: 'Remove address' });
  const actions = el('div', { className: 'email-actions' }, resend, remove);
  element.replaceChildren(el('h3', { textContent: 'Email' }), status, form, actions, error);

  let current = null; // {address, verified} or null

  const showError = (message) => {
    error.textContent = message ?? '';
    error.hidden = !message;
  };
  const busy = (on) => {
    for (const b of [save, resend, remove]) b.disabled = on;
  };
  const show = () => {
    if (current === null) {
      status.textContent = 'Add an address to get an email about messages you have not read.';
    } else if (current.verified) {
      status.textContent = `Emails go to ${current.address}.`;
    } else {
      status.textContent = `Check your inbox: we sent a confirmation link to ${current.address}.`;
    }
    form.hidden = current !== null && current.verified;
    if (current !== null && !current.verified) input.value = current.address;
    save.textContent = current === null ? 'Send confirmation link' : 'Change address';
    actions.hidden = current === null;
    resend.hidden = current === null || current.verified;
  };

  const load = async () => {
    const t = token();
    if (t === null) return;
    const r = await call('GET', t);
    if (r.status === 200) current = { address: r.json.address, verified: r.json.verified };
    else if (r.status === 404) current = null;
    else showError(r.error ?? 'Your email settings could not be loaded.');
    show();
  };

  const put = async (address) => {
    showError(null);
    busy(true);
    try {
      const r = await call('PUT', token(), { address });
      if (r.status === 200 || r.status === 202) current = { address: r.json.address, verified: r.json.verified };
      else showError(r.error ?? 'The address could not be saved.');
      show();
    } finally {
      busy(false);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const address = input.value.trim();
    if (address !== '') put(address);
  });
  resend.addEventListener('click', () => {
    if (current !== null) put(current.address);
  });
  remove.addEventListener('click', async () => {
    showError(null);
    busy(true);
    try {
      const r = await call('DELETE', token());
      if (r.status === 204) {
        current = null;
        input.value = '';
      } else {
        showError(r.error ?? 'The address could not be removed.');
      }
      show();
    } finally {
      busy(false);
    }
  });
  // Verifying happens in another tab (the mailed link): look again on return.
  const onVisible = () => {
    if (document.visibilityState === 'visible' && element.isConnected && current !== null && !current.verified) load();
  };
  document.addEventListener('visibilitychange', onVisible);

  show();
  return load();
}
