// The portal's calls to the desk: relative URLs (served beside the API, under any stage prefix), the portal
// session in sessionStorage (gone when the tab closes), one error type for every refusal.

const KEY = "relay-desk.portal-session";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.reason || body.message)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export const session = {
  get() {
    try {
      const value = JSON.parse(sessionStorage.getItem(KEY));
      return value && new Date(value.expires_at) > new Date() ? value : null;
    } catch { return null; }
  },
  set(value) { sessionStorage.setItem(KEY, JSON.stringify(value)); },
  clear() { sessionStorage.removeItem(KEY); },
};

// api("GET", "kb/search", {query: {q}}) → parsed JSON; ApiError with the desk's reason otherwise.
export async function api(method, path, {query, body, auth = false} = {}) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = {Accept: "application/json"};
  const current = session.get();
  if (auth && current) headers.Authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
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
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Files straight to S3 through pre-signed PUTs (POST portal/uploads); all of one form share a draft.
export async function uploadAll(files, {auth = false} = {}) {
  let draft = null;
  const ids = [];
  for (const file of files) {
    const slot = await api("POST", "portal/uploads", {auth, body: {filename: file.name,
      content_type: file.type || "application/octet-stream", size: file.size, ...(draft ? {draft} : {})}});
    draft = slot.draft;
    const response = await fetch(slot.url, {method: "PUT", headers: slot.headers || {}, body: file, credentials: "omit"});
    if (!response.ok) throw new ApiError(response.status, {reason: `upload of ${file.name} failed (${response.status})`});
    ids.push(slot.upload_id);
  }
  return {draft, ids};
}
