// The page's chrome around the panes: the sound and notification switches, Log out, the
// panes a narrow screen shows one at a time, the shortcuts dialog, links to a conversation
// (#conversation/N, as a notification opens), and the keyboard shortcuts.
import { el } from "./format.js";
import { installShortcuts, SHORTCUTS } from "./keyboard.js";

const $ = (id) => document.getElementById(id);

export function installControls(inbox, session) {
  installSwitches(inbox);
  $("logout").addEventListener("click", async () => {
    inbox.client.close();
    await session.logOut();
    history.replaceState(null, "", location.pathname);
    location.reload();
  });
  installPanes(inbox);
  const help = $("help");
  help.querySelector("dl").replaceChildren(...SHORTCUTS.flatMap(([key, what]) => [el("dt", {}, el("kbd", { text: key })), el("dd", { text: what })]));
  $("help-button").addEventListener("click", showHelp);
  $("help-close").addEventListener("click", () => help.close());
  window.addEventListener("hashchange", () => {
    const linked = linkedConversation();
    if (linked !== null && linked !== inbox.openId) inbox.open(linked);
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && inbox.openId !== null) inbox.markRead(inbox.openId, inbox.thread.newestId());
  });
  const open = () => inbox.openId !== null;
  installShortcuts({
    active: () => !$("app").hidden,
    next: () => inbox.list.move(1),
    previous: () => inbox.list.move(-1),
    openSelected: () => {
      const id = inbox.list.focusedId();
      if (id !== null) inbox.open(id);
    },
    reply: () => open() && inbox.composer.setMode("outgoing"),
    note: () => open() && inbox.composer.setMode("note"),
    resolve: () => open() && inbox.actions.setStatus("resolved"),
    assign: () => open() && inbox.actions.openMenu(),
    search: () => $("search").focus(),
    help: showHelp,
  });
}

/** The conversation the address names (#conversation/N), or null. */
export function linkedConversation() {
  const linked = /^#conversation\/(\d+)$/.exec(location.hash);
  return linked ? Number(linked[1]) : null;
}

function installSwitches(inbox) {
  const sound = $("sound-toggle");
  const notify = $("notify-toggle");
  const show = () => {
    sound.setAttribute("aria-pressed", String(Boolean(inbox.prefs.get("sound"))));
    notify.setAttribute("aria-pressed", String(inbox.notifier.enabled()));
  };
  sound.addEventListener("click", () => {
    inbox.prefs.set("sound", !inbox.prefs.get("sound"));
    if (inbox.prefs.get("sound")) inbox.notifier.beep();
    show();
  });
  notify.addEventListener("click", async () => {
    if (inbox.notifier.enabled()) {
      inbox.prefs.set("notify", false);
    } else if (await inbox.notifier.enable()) {
      inbox.prefs.set("notify", true);
    } else {
      inbox.toast(new Error("The browser blocks notifications for this site: allow them in its site settings."));
    }
    show();
  });
  show();
}

/** Below 1200 px the contact pane opens over the conversation; below 760 px one pane shows. */
function installPanes(inbox) {
  const panes = $("panes");
  const toggle = $("contact-toggle");
  $("back").addEventListener("click", () => {
    panes.dataset.view = "list";
    inbox.list.rows.get(inbox.openId)?.focus();
  });
  toggle.addEventListener("click", () => {
    const shown = panes.dataset.view === "contact";
    panes.dataset.view = shown ? "thread" : "contact";
    toggle.setAttribute("aria-expanded", String(!shown));
    if (!shown) $("contact-pane").focus();
  });
  $("contact-close").addEventListener("click", () => {
    panes.dataset.view = "thread";
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  });
}

function showHelp() {
  const help = $("help");
  if (help.open) return;
  const back = document.activeElement;
  help.addEventListener("close", () => back?.focus?.(), { once: true });
  help.showModal();
}
