// The composer: Reply (the customer sees it) or Private note (agents only), Enter sends and
// Shift+Enter starts a new line. Sending goes through the client's outbox, which writes each
// message once (client_id) and keeps it while the network or the server is down; the thread
// shows it as sending, waiting or failed until it is written.

export class Composer {
  constructor({ client, onSent, onError }) {
    this.client = client;
    this.onSent = onSent;
    this.onError = onError;
    this.form = document.getElementById("compose");
    this.text = document.getElementById("text");
    this.conversationId = null;
    this.drafts = new Map(); // conversation id -> unsent text
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.text.addEventListener("input", () => {
      if (this.conversationId !== null && this.text.value.trim()) this.client.typing.input(this.conversationId);
    });
    this.text.addEventListener("blur", () => {
      if (this.conversationId !== null) this.client.typing.stop(this.conversationId);
    });
    for (const radio of this.form.querySelectorAll("input[name=mode]")) radio.addEventListener("change", () => this.showMode());
  }

  get kind() {
    return this.form.querySelector("input[name=mode]:checked").value;
  }

  /** "outgoing" (reply) or "note"; puts the cursor in the box. */
  setMode(kind) {
    this.form.querySelector(`input[name=mode][value=${kind}]`).checked = true;
    this.showMode();
    this.text.focus();
  }

  showMode() {
    const note = this.kind === "note";
    this.form.classList.toggle("note-mode", note);
    this.text.placeholder = note ? "Write a private note: only agents see it" : "Write a reply to the customer";
  }

  open(conversationId) {
    if (this.conversationId !== null) this.drafts.set(this.conversationId, this.text.value);
    this.conversationId = conversationId;
    this.text.value = this.drafts.get(conversationId) || "";
    this.setModeQuietly("outgoing");
  }

  setModeQuietly(kind) {
    this.form.querySelector(`input[name=mode][value=${kind}]`).checked = true;
    this.showMode();
  }

  send() {
    const content = this.text.value.trim();
    if (!content || this.conversationId === null) return;
    this.text.value = "";
    this.drafts.delete(this.conversationId);
    // Queued at once (the thread shows it as sending); resolves when written, once.
    this.client.sendMessage(this.conversationId, content, { kind: this.kind }).then(this.onSent, (error) => {
      // A refused message stays in the outbox as failed, with Retry in the thread.
      if (error?.name !== "DiscardedError") this.onError(error);
    });
  }
}
