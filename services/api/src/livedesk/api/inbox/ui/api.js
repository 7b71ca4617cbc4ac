// REST calls of the page: JSON in and out, the access token attached, one refresh and a
// retry when it has expired. Errors carry the status and the body, which callers read (a 409
// says who changed a conversation first).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export class Api {
  /** `session` gives the access token and refreshes it (session.js). */
  constructor(session) {
    this.session = session;
  }

  async request(method, path, body, retried = false) {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.session.token) headers.authorization = `Bearer ${this.session.token}`;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && this.session.token && !retried) {
      if (await this.session.refresh()) return this.request(method, path, body, true);
      this.session.ended(); // revoked, disabled or expired: back to the sign-in form
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  patch(path, body) {
    return this.request("PATCH", path, body);
  }

  /** A GET that answers null where the endpoint does not exist (yet) on this server. */
  async optional(path) {
    try {
      return await this.get(path);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405 || error.status === 422)) return null;
      throw error;
    }
  }
}
