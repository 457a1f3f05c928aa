// The portal's calls to the desk: relative URLs (served beside the API, under any stage prefix), the portal
// session in sessionStorage (gone when the tab closes), one error type for every refusal.

import {ApiError, putFile, request} from "../console/api.js";

export {ApiError};

const KEY = "relay-desk.portal-session";

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
  const current = auth ? session.get() : null;
  return request(method, path, {query, body, token: current && current.token});
}

// Files straight to S3 through pre-signed PUTs (POST portal/uploads); all of one form share a draft.
export async function uploadAll(files, {auth = false} = {}) {
  let draft = null;
  const ids = [];
  for (const file of files) {
    const slot = await api("POST", "portal/uploads", {auth, body: {filename: file.name,
      content_type: file.type || "application/octet-stream", size: file.size, ...(draft ? {draft} : {})}});
    draft = slot.draft;
    await putFile(slot, file);
    ids.push(slot.upload_id);
  }
  return {draft, ids};
}
