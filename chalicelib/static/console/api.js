// The agent API from the page: relative URLs (the console is served beside the API, under any stage
// prefix), the bearer token from sessionStorage, one error type for every refusal.

const KEY = "relay-desk.session";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.reason || body.Message || body.message)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
  },
  set(value) { sessionStorage.setItem(KEY, JSON.stringify(value)); },
  clear() { sessionStorage.removeItem(KEY); },
};

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

// api("GET", "tickets", {query: {...}}) / api("PATCH", "tickets/t-…", {body: {...}}) → parsed JSON.
export async function api(method, path, {query, body, auth = true, idempotencyKey} = {}) {
  const current = auth ? session.get() : null;
  try {
    return await request(method, path, {query, body, token: current && current.token, idempotencyKey});
  } catch (error) {
    if (error.status === 401 && auth) onUnauthorized(error);
    throw error;
  }
}

// API Gateway's throttle (the ApiRateLimit template parameter) answers 429 with no Retry-After before the desk
// sees the request, so sending it again stores nothing twice, whatever the method: wait about 1 s, then 2 s.
// The desk's own 429s (sign-in links, per-client windows) name their wait in Retry-After and are not retried.
const THROTTLE_WAITS_MS = [1000, 2000];
const BUSY = "the desk is busy, please try again in a moment";

// One call to the desk (the console's and the portal's): JSON in and out, the desk's reason in ApiError.
export async function request(method, path, options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await requestOnce(method, path, options);
    } catch (error) {
      if (!(error.throttled && attempt < THROTTLE_WAITS_MS.length)) throw error;
      await new Promise((resolve) => setTimeout(resolve, THROTTLE_WAITS_MS[attempt] * (0.75 + Math.random() / 2)));
    }
  }
}

async function requestOnce(method, path, {query, body, token, idempotencyKey} = {}) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = {Accept: "application/json"};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;  // a retry of the same request stores nothing new
  let response;
  try {
    response = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store"});
  } catch (err) {
    throw new ApiError(0, {reason: `network error: ${err.message}`});
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = {reason: text.slice(0, 200)}; }
  if (response.status === 429 && !response.headers.has("Retry-After")) {
    const error = new ApiError(429, {reason: BUSY});
    error.throttled = true;
    throw error;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// The bytes of a file to the pre-signed S3 PUT an uploads route described (``slot``).
export async function putFile(slot, file) {
  const response = await fetch(slot.url, {method: slot.method || "PUT", headers: slot.headers || {}, body: file,
    credentials: "omit"});
  if (!response.ok) throw new ApiError(response.status, {reason: `upload of ${file.name} failed (${response.status})`});
}

// A file to a pre-signed S3 PUT, as POST /tickets/{id}/uploads describes it; the upload id to attach.
export async function upload(ticketId, file) {
  const slot = await api("POST", `tickets/${ticketId}/uploads`,
    {body: {filename: file.name, content_type: file.type || "application/octet-stream", size: file.size}});
  await putFile(slot, file);
  return slot.upload_id;
}

// A key for one request the agent may send twice (Idempotency-Key): random, and made once per draft or form.
export function newRequestKey(prefix) {
  return `${prefix}-${crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(16).slice(2)}`;
}
