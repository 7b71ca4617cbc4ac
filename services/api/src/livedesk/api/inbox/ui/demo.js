// The demo panel, shown only when the server says it is a demo (standalone, `livedesk dev`):
// play a customer writing into the open conversation, or a new customer starting one. Both
// use the admin's import and directory endpoints, so an agent login is told to use the admin.

const CUSTOMERS = ["Maria Lopez", "Tom Becker", "Aiko Tanaka", "Sam Okafor", "Priya Nair", "Lena Fischer", "Jonas Berg", "Chloé Martin"];
const LINES = [
  "Hi, my order hasn't arrived yet. Can you check where it is?",
  "I was charged twice for my subscription this month.",
  "How do I change the e-mail address on my account?",
  "The app keeps logging me out on my phone.",
  "Can I return an item after 30 days?",
  "Thanks, that worked!",
  "Is there any update on this?",
];

export function installDemo({ api, session, current, onError }) {
  const panel = document.getElementById("demo");
  const status = document.getElementById("demo-status");
  panel.hidden = false;
  const admin = session.me.role === "admin";
  for (const button of panel.querySelectorAll("button")) button.disabled = !admin;
  if (!admin) status.textContent = "Sign in as the demo admin to play customers.";
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const clientId = () => crypto.randomUUID();

  document.getElementById("demo-message").addEventListener("click", async () => {
    const conversationId = current();
    if (conversationId === null) {
      status.textContent = "Open a conversation first.";
      return;
    }
    try {
      await api.post(`/v1/conversations/${conversationId}/messages:import`, { content: pick(LINES), kind: "incoming", client_id: clientId() });
      status.textContent = "The customer wrote.";
    } catch (error) {
      onError(error);
    }
  });

  document.getElementById("demo-conversation").addEventListener("click", async () => {
    try {
      const inboxes = await api.get("/v1/inboxes");
      const inbox = (inboxes.items || inboxes)[0];
      const name = pick(CUSTOMERS);
      const email = `${name.toLowerCase().normalize("NFD").replace(/[^a-z ]/g, "").replace(/ /g, ".")}.${Math.floor(Math.random() * 10000)}@example.com`;
      const contact = await api.post("/v1/contacts", { name, email });
      const conversation = await api.post("/v1/conversations", { inbox_id: inbox.id, contact_id: contact.id });
      await api.post(`/v1/conversations/${conversation.id}/messages:import`, { content: pick(LINES), kind: "incoming", client_id: clientId() });
      status.textContent = `${name} started a conversation.`;
    } catch (error) {
      onError(error);
    }
  });
}
