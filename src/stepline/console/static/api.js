// The console talks to the Step Functions API (POST / with X-Amz-Target), like any client, and to a few
// console routes for what the API does not give (graph drawing, live events, timers, search by name).

export class ApiError extends Error {
  constructor(type, message, status) {
    super(`${type}: ${message}`);
    this.type = type;
    this.status = status;
  }
}

// With credentials configured, the page carries its session's token: sent back on every call, it shows the
// server that the call comes from a page of this console (no other site can read it).
const CSRF = document.querySelector('meta[name="stepline-csrf"]')?.content;

export function signedInHeaders(headers = {}) {
  return CSRF ? { ...headers, "x-stepline-csrf": CSRF } : headers;
}

async function answer(response) {
  const text = await response.text();
  const body = text ? JSON.parse(text) : {};
  if (response.status === 403 && body.__type === "MissingAuthenticationTokenException") {
    location.assign(`/console/login?next=${encodeURIComponent(location.pathname + location.search)}`); // session over
  }
  if (!response.ok) {
    throw new ApiError(body.__type || `HTTP ${response.status}`, body.message || body.Message || text, response.status);
  }
  return body;
}

export async function aws(action, params = {}) {
  const response = await fetch("/", {
    method: "POST",
    headers: signedInHeaders({ "content-type": "application/x-amz-json-1.0", "x-amz-target": `AWSStepFunctions.${action}` }),
    body: JSON.stringify(params),
  });
  return answer(response);
}

export async function consoleGet(path, query = {}) {
  const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  return answer(await fetch(`/console/api/${path}?${search}`));
}

export async function consolePost(path, body) {
  return answer(await fetch(`/console/api/${path}`, {
    method: "POST", headers: signedInHeaders({ "content-type": "application/json" }), body: JSON.stringify(body),
  }));
}

// Every page of a paged action: items under `key`.
export async function all(action, params, key) {
  const items = [];
  let token;
  do {
    const page = await aws(action, { ...params, ...(token ? { nextToken: token } : {}) });
    items.push(...(page[key] || []));
    token = page.nextToken;
  } while (token);
  return items;
}
