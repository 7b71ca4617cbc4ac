// Telling an agent who is elsewhere: a desktop notification (only while the tab is hidden,
// for new conversations and for messages in conversations that are theirs or nobody's, never
// their own), a short beep made with WebAudio (no file to fetch), and the unread count in the
// tab's title. With several tabs, only the one holding the socket notifies.

const TITLE = "Livedesk inbox";

export class Notifier {
  constructor({ state, prefs, isLeader }) {
    this.state = state;
    this.prefs = prefs;
    this.isLeader = isLeader;
    this.audio = null;
  }

  wanted(conversation) {
    return conversation.assignee_id === null || conversation.assignee_id === undefined || conversation.assignee_id === this.state.me.id;
  }

  /** A message arrived over the socket. */
  message(message, conversation) {
    if (!this.state.isFromOthers(message) || !conversation || !this.wanted(conversation)) return;
    const who = this.state.senderName(message, conversation);
    const title = message.kind === "note" ? `${who} left a note on ${this.state.contactName(conversation)}` : `${who}`;
    this.alert(title, message.content, `conversation-${conversation.id}`, conversation.id);
  }

  newConversation(conversation) {
    if (!this.wanted(conversation)) return;
    this.alert(`New conversation: ${this.state.contactName(conversation)}`, conversation.last_message?.preview || "A customer started a conversation.", `conversation-${conversation.id}`, conversation.id);
  }

  alert(title, body, tag, conversationId) {
    if (!this.isLeader()) return;
    if (this.prefs.get("sound")) this.beep();
    if (!document.hidden || !this.enabled()) return;
    const notification = new Notification(title, { body: body.slice(0, 160), tag, renotify: true });
    notification.onclick = () => {
      window.focus();
      location.hash = `#conversation/${conversationId}`;
      notification.close();
    };
  }

  /** Desktop notifications are on: the agent turned them on and the browser allows them. */
  enabled() {
    return "Notification" in window && Notification.permission === "granted" && this.prefs.get("notify") === true;
  }

  /** Ask the browser (on a click: browsers refuse it otherwise); true when allowed. */
  async enable() {
    if (!("Notification" in window)) return false;
    const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
    return permission === "granted";
  }

  beep() {
    try {
      this.audio ??= new AudioContext();
      if (this.audio.state === "suspended") this.audio.resume().catch(() => undefined);
      const now = this.audio.currentTime;
      const tone = this.audio.createOscillator();
      const gain = this.audio.createGain();
      tone.type = "sine";
      tone.frequency.setValueAtTime(880, now);
      tone.frequency.setValueAtTime(660, now + 0.09);
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.15, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.25);
      tone.connect(gain).connect(this.audio.destination);
      tone.start(now);
      tone.stop(now + 0.26);
    } catch {
      // no audio device, or the browser blocks sound before a click: silence is fine
    }
  }

  title() {
    const unread = this.state.totalUnread();
    document.title = unread > 0 ? `(${unread}) ${TITLE}` : TITLE;
  }
}
