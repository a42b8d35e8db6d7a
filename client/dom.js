// Small DOM helpers every view uses. Whatever came from the network goes
// into the page as text (textContent), never as HTML.

export const $ = (id) => document.getElementById(id);

export function setVisible(element, visible) {
  element.hidden = !visible;
}

// Shows message in element, or hides element when message is null or ''.
export function setError(element, message) {
  element.textContent = message ?? '';
  setVisible(element, Boolean(message));
}

export function linkButton(label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button';
  button.textContent = label;
  button.addEventListener('click', onClick);
  return button;
}

function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// A round badge with the name's first letter, in a colour of its own.
export function fillAvatar(element, name) {
  element.textContent = (Array.from(name)[0] ?? '?').toUpperCase();
  element.style.setProperty('--hue', hue(name));
  element.title = name;
}

// A decorative avatar for name: screen readers read the name beside it.
export function avatarFor(name) {
  const avatar = document.createElement('span');
  avatar.className = 'avatar';
  avatar.setAttribute('aria-hidden', 'true');
  fillAvatar(avatar, name);
  return avatar;
}

export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // The clipboard API needs a secure context; plain http on a LAN is not.
    input.focus();
    input.select();
    return document.execCommand('copy');
  }
}
