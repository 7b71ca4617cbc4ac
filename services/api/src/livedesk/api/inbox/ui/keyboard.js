// Shortcuts for agents who work a queue all day: j/k move through the list, Enter opens,
// r reply, n note, e resolve, a assign, / search, ? lists them. None fires while the agent
// types in a field, and none with Ctrl, Alt or Meta (the browser's own shortcuts).

export const SHORTCUTS = [
  ["j", "Next conversation"],
  ["k", "Previous conversation"],
  ["Enter", "Open the selected conversation"],
  ["r", "Reply"],
  ["n", "Private note"],
  ["e", "Resolve"],
  ["a", "Assign"],
  ["/", "Search"],
  ["?", "Show these shortcuts"],
  ["Esc", "Leave the message box or close a dialog"],
];

export function installShortcuts(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target;
    const typing = target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    if (typing) {
      if (event.key === "Escape" && target.tagName !== "SELECT") target.blur();
      return;
    }
    if (document.querySelector("dialog[open]") || !actions.active()) return;
    const run = {
      j: actions.next,
      k: actions.previous,
      r: actions.reply,
      n: actions.note,
      e: actions.resolve,
      a: actions.assign,
      "/": actions.search,
      "?": actions.help,
    }[event.key];
    if (run) {
      event.preventDefault();
      run();
    } else if (event.key === "Enter" && !target.closest("button, a, [role=option], summary")) {
      event.preventDefault();
      actions.openSelected();
    }
  });
}
