// Which conversations the list shows: Mine / Unassigned / All, a status, and the search box;
// the counts beside each filter (where the server has /v1/conversations/counts). The choice
// is the agent's preference, kept across reloads.

const $ = (id) => document.getElementById(id);
const SEARCH_PAUSE_MS = 250;
const COUNTS_PAUSE_MS = 400; // a burst of changes asks for the counts once

export class Filters {
  constructor({ state, prefs, api, list, onError }) {
    this.state = state;
    this.prefs = prefs;
    this.api = api;
    this.list = list;
    this.onError = onError;
    this.radios = [...document.querySelectorAll("#assignee-filter input")];
    this.timer = null;
  }

  install() {
    const refilter = () => {
      this.prefs.set("assignee", this.state.filter.assignee);
      this.prefs.set("status", this.state.filter.status);
      this.show();
      this.renderCounts();
      this.list.reload().catch(this.onError);
    };
    for (const radio of this.radios) radio.addEventListener("change", () => {
      this.state.filter.assignee = radio.value;
      refilter();
    });
    $("status-filter").addEventListener("change", () => {
      this.state.filter.status = $("status-filter").value;
      refilter();
    });
    this.show();

    let searchTimer = null;
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        const query = $("search").value.trim();
        if (query === this.list.query) return;
        this.list.query = query;
        $("list-pane").classList.toggle("searching", query !== "");
        this.list.reload().catch(this.onError);
      }, SEARCH_PAUSE_MS);
    });
  }

  show() {
    for (const radio of this.radios) radio.checked = radio.value === this.state.filter.assignee;
    $("status-filter").value = this.state.filter.status;
  }

  /** A conversation changed: the counts may have. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.renderCounts(), COUNTS_PAUSE_MS);
  }

  async renderCounts() {
    const answer = await this.api.optional("/v1/conversations/counts").catch(() => null);
    const counts = answer?.counts || null;
    const { assignee, status } = this.state.filter;
    for (const radio of this.radios) {
      const count = counts && status ? counts[radio.value]?.[status] : undefined;
      radio.labels[0].querySelector(".count").textContent = count === undefined ? "" : String(count);
    }
    for (const option of $("status-filter").options) {
      const count = counts && option.value ? counts[assignee]?.[option.value] : undefined;
      option.textContent = `${option.dataset.label}${count === undefined ? "" : ` (${count})`}`;
    }
  }
}
