// How times, days and names read on the page. Pure functions of their arguments (and the
// clock passed in), so that the list and the thread agree on every label.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "now", "5m", "3h", "Tue", "12 Mar": short enough for a list row. */
export function relativeTime(iso, now = Date.now()) {
  const then = new Date(iso).getTime();
  const ago = Math.max(0, now - then);
  if (ago < MINUTE) return "now";
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)}m`;
  if (ago < DAY) return `${Math.floor(ago / HOUR)}h`;
  if (ago < 7 * DAY) return new Date(then).toLocaleDateString(undefined, { weekday: "short" });
  return new Date(then).toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

/** "Today", "Yesterday", or the date: the separators between a conversation's days. */
export function dayLabel(iso, now = Date.now()) {
  const day = startOfDay(new Date(iso));
  const today = startOfDay(new Date(now));
  if (day === today) return "Today";
  if (day === today - DAY || today - day === DAY) return "Yesterday";
  return new Date(iso).toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

export function dayKey(iso) {
  return startOfDay(new Date(iso));
}

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

export function clockTime(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function fullTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "Maria Lopez" -> "ML"; one word -> its first two letters. */
export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  if (words.length === 1) return words[0].slice(0, 2).toUpperCase();
  return (words[0][0] + words[words.length - 1][0]).toUpperCase();
}

/** One of eight avatar colours (classes hue-0..hue-7), the same for an id everywhere. */
export function hueClass(id) {
  return `hue-${Math.abs(Number(id) || 0) % 8}`;
}

/** A `datetime-local` input's value for a Date, in the browser's time zone. */
export function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Build an element: `el("span", {class: "x", text: "hi"}, child...)`. Text never becomes HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}
