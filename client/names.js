// Names people choose are not unique: two users in one room may show the same
// display name, or names equal but for case. Where they do, the room shows
// each one's id (@id, from the frames' userId) beside the name: ids are unique
// and nobody picks another's.

// name compared the way the backend compares display names: NFC, then case
// folded (upper then lower case folds ß and SS, say, as full folding does).
export function foldName(name) {
  return name.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
}

// Which ids have shown each name in one room.
export class NameClashes {
  constructor() {
    this.ids = new Map(); // folded name → Set of ids
  }

  // Notes that id shows name; true when that makes the name shared (a second
  // id shows it for the first time): what shows it must be drawn again.
  add(name, id) {
    if (typeof name !== 'string' || typeof id !== 'string') return false;
    const key = foldName(name);
    let ids = this.ids.get(key);
    if (ids === undefined) {
      ids = new Set();
      this.ids.set(key, ids);
    }
    if (ids.has(id)) return false;
    ids.add(id);
    return ids.size === 2;
  }

  shared(name) {
    return (this.ids.get(foldName(name))?.size ?? 0) > 1;
  }
}

// What follows a shared name: @id, a guest's (guest: and 22 random
// characters) cut short.
export function idLabel(id) {
  return id.startsWith('guest:') ? `@${id.slice(0, 12)}…` : `@${id}`;
}
