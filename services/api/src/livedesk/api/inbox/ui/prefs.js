// The agent's choices that outlive a reload: list filters, sound, desktop notifications.
// Kept in localStorage under the account and user, so two logins on one browser keep theirs.

// Desktop notifications stay off until the agent turns them on (and the browser allows them).
const DEFAULTS = { assignee: "all", status: "open", sound: true, notify: false };

export class Prefs {
  constructor(me) {
    this.key = `livedesk:prefs:${me.account}:${me.id}`;
    let stored = {};
    try {
      stored = JSON.parse(localStorage.getItem(this.key) || "{}") || {};
    } catch {
      stored = {}; // a damaged entry is as good as none
    }
    this.values = { ...DEFAULTS, ...stored };
  }

  get(name) {
    return this.values[name];
  }

  set(name, value) {
    this.values[name] = value;
    try {
      localStorage.setItem(this.key, JSON.stringify(this.values));
    } catch {
      // private mode or full storage: the choice holds for this page only
    }
  }
}
