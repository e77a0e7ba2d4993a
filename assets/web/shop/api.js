// The shop's HTTP API as the storefront uses it. The session rides in the
// HttpOnly `shopkeep_session` cookie the server sets; errors arrive as
// problem+json and become ApiError with the offending fields.

/** A refused request: status, the problem's `detail` and `errors` [{field, reason}]. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `the shop answered ${status}`);
    this.status = status;
    this.kind = problem?.type || 'about:blank';
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
  }

  /** The reason given for `field`, if any. */
  reasonFor(field) {
    return this.errors.find((e) => e.field === field)?.reason;
  }
}

/** Sends a request; resolves to the JSON body (or null for 204), rejects with ApiError. */
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers }, signal, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const shopApi = {
  shop: () => api('/api/v1/shop'),
  search: (params, signal) => api(`/api/v1/search${query(params)}`, { signal }),
  suggest: (q, signal) => api(`/api/v1/search/suggest${query({ q })}`, { signal }),
  product: (key, signal) => api(`/api/v1/products/${encodeURIComponent(key)}`, { signal }),
  related: (key, signal) => api(`/api/v1/products/${encodeURIComponent(key)}/recommendations?limit=4`, { signal }),
  cart: () => api('/api/v1/cart'),
  addToCart: (line) => api('/api/v1/cart/items', { method: 'POST', body: line }),
  setQuantity: (id, quantity) => api(`/api/v1/cart/items/${id}`, { method: 'PATCH', body: { quantity } }),
  removeLine: (id) => api(`/api/v1/cart/items/${id}`, { method: 'DELETE' }),
  applyVoucher: (code) => api('/api/v1/cart/voucher', { method: 'PUT', body: { code } }),
  removeVoucher: () => api('/api/v1/cart/voucher', { method: 'DELETE' }),
  checkout: (details, key) => api('/api/v1/checkout', { method: 'POST', body: details, headers: { 'idempotency-key': key } }),
  orders: (signal) => api('/api/v1/orders', { signal }),
  order: (number, signal) => api(`/api/v1/orders/${encodeURIComponent(number)}`, { signal }),
  cancelOrder: (number) => api(`/api/v1/orders/${encodeURIComponent(number)}/cancel`, { method: 'POST' }),
};
