// Contacts: fetched on demand for list rows that came without one (a server without list
// contacts), and the contact panel beside an open conversation: who they are, how to reach
// them, what else they asked.
import { capitalize, el, hueClass, initials, relativeTime } from "./format.js";

export class Contacts {
  constructor({ state, api, onContact, onOpen }) {
    this.state = state;
    this.api = api;
    this.onContact = onContact; // a contact's details arrived
    this.onOpen = onOpen;
    this.asked = new Set();
    this.box = document.getElementById("contact");
    this.shownId = null;
  }

  /** Fetch these contacts unless known or already asked for. */
  need(ids) {
    for (const id of new Set(ids)) {
      if (this.state.contacts.has(id) || this.asked.has(id)) continue;
      this.asked.add(id);
      this.api.get(`/v1/contacts/${id}`).then((contact) => {
        this.state.contacts.set(id, { ...this.state.contacts.get(id), ...contact });
        this.onContact(id);
      }, () => this.asked.delete(id));
    }
  }

  clear() {
    this.shownId = null;
    this.box.replaceChildren(el("p", { class: "empty", text: "Open a conversation to see who you are talking to." }));
  }

  /** The panel for the open conversation's contact: details first, then their history. */
  async show(conversation) {
    const contactId = conversation.contact_id;
    this.shownId = contactId;
    this.render(conversation, this.state.contacts.get(contactId), null);
    const [contact, history] = await Promise.all([
      this.api.get(`/v1/contacts/${contactId}`).catch(() => this.state.contacts.get(contactId)),
      this.api.optional(`/v1/contacts/${contactId}/conversations?limit=10`).catch(() => null),
    ]);
    if (this.shownId !== contactId) return;
    if (contact) this.state.contacts.set(contactId, { ...this.state.contacts.get(contactId), ...contact });
    this.render(conversation, this.state.contacts.get(contactId), history);
  }

  render(conversation, contact, history) {
    const name = contact?.name || this.state.contactName(conversation);
    const details = el("dl", { class: "details" });
    const row = (term, value, href) => {
      if (value === null || value === undefined || value === "") return;
      details.append(el("dt", { text: term }), el("dd", {}, href ? el("a", { href, text: String(value) }) : String(value)));
    };
    row("E-mail", contact?.email, contact?.email ? `mailto:${contact.email}` : null);
    row("Phone", contact?.phone, contact?.phone ? `tel:${contact.phone}` : null);
    for (const [key, value] of Object.entries(contact?.custom_attributes || {})) row(attributeLabel(key), formatValue(value));
    if (contact?.created_at) row("Customer since", new Date(contact.created_at).toLocaleDateString());
    const parts = [
      el("div", { class: "contact-card" },
        el("span", { class: `avatar large ${hueClass(conversation.contact_id)}`, "aria-hidden": "true", text: initials(name) }),
        el("h2", { id: "contact-name", text: name })),
      details.childElementCount ? details : el("p", { class: "muted", text: "No details on file." }),
    ];
    const others = (history?.items || []).filter((item) => item.id !== conversation.id);
    if (history) {
      parts.push(el("h3", { text: "Other conversations" }));
      if (others.length === 0) parts.push(el("p", { class: "muted", text: "None: this is their first." }));
      else parts.push(el("ul", { class: "history" }, ...others.map((item) =>
        el("li", {}, el("button", { type: "button", class: "link", onclick: () => this.onOpen(item.id) },
          el("span", { class: `chip ${item.status}`, text: capitalize(item.status) }),
          ` ${item.last_message?.preview || `Conversation #${item.id}`} `,
          el("span", { class: "muted", text: relativeTime(item.last_activity_at) }))))));
    }
    this.box.replaceChildren(...parts);
  }
}

/** "plan_tier" -> "Plan tier": a custom attribute's key as a label. */
function attributeLabel(key) {
  return capitalize(key.replace(/[_-]+/g, " ").trim());
}

function formatValue(value) {
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return String(value);
}
