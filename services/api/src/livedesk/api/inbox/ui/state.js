// What the page knows: conversations (every one it has seen, filtered or not), agents and
// their presence, contacts. No DOM here; the views read it and the live events change it.

/** Newest activity first, then the higher id: the server's list order. */
export function byActivity(a, b) {
  const when = (b.last_activity_at || "").localeCompare(a.last_activity_at || "");
  return when !== 0 ? when : b.id - a.id;
}

export class State {
  constructor(me) {
    this.me = me;
    this.conversations = new Map(); // id -> ConversationOut (+ contact, last_message)
    this.agents = new Map(); // id -> AgentOut
    this.presence = new Map(); // user id -> online|busy|away|offline
    this.contacts = new Map(); // id -> ContactOut or ContactSummary
    this.reads = new Map(); // conversation id -> Map(user id -> message id)
    this.filter = { assignee: "all", status: "open" };
  }

  /** Merge what the server said about a conversation into what the page had. */
  upsert(conversation) {
    const known = this.conversations.get(conversation.id) || {};
    const merged = { ...known, ...conversation };
    // Events carry no contact or preview: keep the ones the page has.
    if (conversation.contact === undefined && known.contact) merged.contact = known.contact;
    if (conversation.last_message === undefined && known.last_message) merged.last_message = known.last_message;
    if (merged.contact) this.contacts.set(merged.contact.id, { ...this.contacts.get(merged.contact.id), ...merged.contact });
    this.conversations.set(conversation.id, merged);
    return merged;
  }

  /** Whether a conversation belongs in the list under the current filter. */
  matches(conversation) {
    const { assignee, status } = this.filter;
    if (status && conversation.status !== status) return false;
    if (assignee === "mine") return conversation.assignee_id === this.me.id;
    if (assignee === "unassigned") return conversation.assignee_id === null || conversation.assignee_id === undefined;
    return true;
  }

  agentName(id) {
    if (id === null || id === undefined) return "Unassigned";
    if (id === this.me.id) return "You";
    return this.agents.get(id)?.name || `Agent #${id}`;
  }

  contactName(conversation) {
    return conversation.contact?.name || this.contacts.get(conversation.contact_id)?.name || `Contact #${conversation.contact_id}`;
  }

  /** Who wrote a message, as the thread shows it. */
  senderName(message, conversation) {
    if (message.sender_type === "contact") return conversation ? this.contactName(conversation) : "Customer";
    if (message.sender_type === "system") return "Livedesk";
    if (message.sender_id === this.me.id) return "You";
    return this.agents.get(message.sender_id)?.name || "Agent";
  }

  /** A message the agent did not write themself: counts as unread, may notify. */
  isFromOthers(message) {
    return !(message.sender_type === "agent" && message.sender_id === this.me.id);
  }

  totalUnread() {
    let total = 0;
    for (const conversation of this.conversations.values()) total += conversation.unread_count || 0;
    return total;
  }

  setRead(conversationId, userId, messageId) {
    const pointers = this.reads.get(conversationId) || new Map();
    if ((pointers.get(userId) || 0) < messageId) pointers.set(userId, messageId);
    this.reads.set(conversationId, pointers);
  }
}
