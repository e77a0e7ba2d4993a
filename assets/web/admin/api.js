// The shop's HTTP API as the dashboard uses it: the session rides in the
// HttpOnly `shopkeep_admin` cookie, and every request that changes something
// carries the session's CSRF token (the frame puts it on <main>). A request
// refused because the session ended goes back to the sign-in page.

import { api, query, ApiError } from '/static/shop/api.js';

export { ApiError, query };

const csrf = () => document.getElementById('page')?.dataset.csrf ?? '';

/** Sends a request as the signed-in admin; resolves to the JSON body, rejects with ApiError. */
export async function request(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const sent = method === 'GET' || method === 'HEAD' ? headers : { ...headers, 'x-csrf-token': csrf() };
  try {
    return await api(path, { method, body, headers: sent, signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) window.location.assign('/admin/login');
    throw error;
  }
}

/** The same, for a body that is not JSON (an uploaded file): `body` is sent as is. */
export async function upload(path, body, { method = 'POST', contentType = 'application/octet-stream', signal } = {}) {
  const response = await fetch(path, {
    method,
    body,
    signal,
    credentials: 'same-origin',
    headers: { accept: 'application/json', 'content-type': contentType, 'x-csrf-token': csrf() },
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) window.location.assign('/admin/login');
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** What every page's `render(main, dashboard)` is given. */
export const dashboard = {
  request,
  upload,
  query,
  /** The page's address below its own, e.g. the order number in /admin/orders/SK-1001. */
  subpath() {
    const [, , , ...rest] = window.location.pathname.split('/');
    return rest.map(decodeURIComponent).join('/');
  },
};
