// Files in the room view: the attach button and its upload, and a message
// that references a file ("[file:<fileId>] <name>", docs/protocol.md,
// "Files and images") shown as the file: an image's thumbnail that opens
// the full image, anything else a download link. The files API wants the
// bearer token, which <img src> cannot send: every file is fetched here and
// shown through a blob: URL.

const FILE_TEXT = /^\[file:([a-z0-9]{24})\] ([^\n]+)$/;

// {fileId, name} of a message that references a file, else null.
export function parseFileText(text) {
  const m = FILE_TEXT.exec(text);
  return m ? { fileId: m[1], name: m[2] } : null;
}

function fileUrl(roomId, fileId, suffix = '') {
  return `/api/rooms/${encodeURIComponent(roomId)}/files/${fileId}${suffix}`;
}

async function fetchBlob(token, url) {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const err = new Error(`HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return res.blob();
}

// Fills body (the message's text element) with the file ref names.
// token() gives the current token, or null.
export function renderFile(body, ref, { roomId, token }) {
  body.replaceChildren();
  body.classList.add('file');
  const link = document.createElement('a');
  link.href = '#';
  link.textContent = ref.name;           // a name is text, never markup
  link.dataset.testid = 'file-link';
  link.addEventListener('click', async (e) => {
    e.preventDefault();
    const t = token();
    if (t === null) return;
    try {
      const url = URL.createObjectURL(await fetchBlob(t, fileUrl(roomId, ref.fileId)));
      const a = document.createElement('a');
      a.href = url;
      a.download = ref.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch {
      link.textContent = `${ref.name} (could not be fetched)`;
    }
  });
  body.append(link);
  const t = token();
  if (t === null) return;
  // Only images have a thumbnail: a 404 leaves the download link.
  fetchBlob(t, fileUrl(roomId, ref.fileId, '/thumb')).then((blob) => {
    const img = document.createElement('img');
    img.className = 'file-thumb';
    img.dataset.testid = 'file-thumb';
    img.alt = ref.name;
    img.src = URL.createObjectURL(blob);
    img.addEventListener('click', async () => {
      const now = token();
      if (now === null) return;
      const full = URL.createObjectURL(await fetchBlob(now, fileUrl(roomId, ref.fileId)));
      window.open(full, '_blank', 'noopener');
    });
    body.replaceChildren(img);
  }, () => {});
}

// Adds the attach button to the composer form; a chosen file is uploaded
// and then sent as a message through send(text). status(text) reports.
// Returns a function that removes the button.
export function attachButton(form, { roomId, token, send, status }) {
  const input = document.createElement('input');
  input.type = 'file';
  input.hidden = true;
  input.accept = 'text/plain,image/png,image/jpeg,image/webp,image/gif,application/pdf';
  input.dataset.testid = 'attach-input';
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'attach';
  button.textContent = 'Attach';
  button.dataset.testid = 'attach-button';
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    input.value = '';
    const t = token();
    if (!file || t === null) return;
    button.disabled = true;
    status(`Uploading ${file.name}…`);
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/files?name=${encodeURIComponent(file.name)}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${t}`, 'Content-Type': file.type || 'application/octet-stream' },
        body: file,
      });
      const data = await res.json().catch(() => ({}));
      if (res.status !== 201) {
        status(`${file.name} was not uploaded: ${data?.error?.message ?? `HTTP ${res.status}`}`);
        return;
      }
      status('');
      send(`[file:${data.fileId}] ${data.name}`);
    } catch {
      status(`${file.name} was not uploaded: the server cannot be reached`);
    } finally {
      button.disabled = false;
    }
  });
  form.insertBefore(button, form.querySelector('button[type=submit]'));
  form.append(input);
  return () => {
    button.remove();
    input.remove();
  };
}
