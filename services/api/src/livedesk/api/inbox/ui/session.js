// Who is signed in. The access token lives in this page's memory only; the refresh token is
// an HttpOnly cookie scoped to /v1/auth that no script can read. A reload asks for a new
// access token with it, so the agent stays signed in; logout ends the session server-side.

export class Session {
  constructor() {
    this.token = null;
    this.me = null; // {id, account, role}
    this.refreshing = null;
  }

  /** The server no longer accepts this session: a reload shows the sign-in form. */
  ended() {
    this.token = null;
    location.reload();
  }

  adopt(token) {
    this.token = token;
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    this.me = { id: Number(claims.sub), account: claims.acct, role: claims.role };
  }

  /** A new access token from the cookie; false when there is no session (any more). */
  refresh() {
    // Concurrent 401s share one refresh: the server rotates the cookie on each.
    this.refreshing ??= fetch("/v1/auth/refresh", { method: "POST" })
      .then(async (response) => {
        if (!response.ok) return false;
        this.adopt((await response.json()).access_token);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  async signIn(email, password) {
    const response = await fetch("/v1/auth/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401) throw new Error("That e-mail and password do not match an account.");
      if (response.status === 429) throw new Error("Too many attempts: wait a minute and try again.");
      throw new Error(body?.message || `Sign-in failed (HTTP ${response.status}).`);
    }
    this.adopt(body.access_token);
  }

  async logOut() {
    await fetch("/v1/auth/logout", { method: "POST" }).catch(() => undefined);
    this.token = null;
    this.me = null;
  }
}
