// Client-side routing over the History API. The server answers the same
// page for every route listed here (src/web/assets.rs), so a reload or a
// shared link lands on the right view.

const routes = [];
let outlet = null;
let current = null;
let firstRender = true;

/** Adds a view for paths matching `pattern`; the view gets (main, match groups, signal). */
export function route(pattern, view) {
  routes.push([pattern, view]);
}

/** Whether a path belongs to the storefront (others, like /admin, load normally). */
export function isRoute(pathname) {
  return routes.some(([pattern]) => pattern.test(pathname));
}

/**
 * Goes to `url` without reloading the page; `focus: false` leaves the focus
 * where it is (typing in the search box updates the results under it).
 */
export function navigate(url, { replace = false, focus = true } = {}) {
  const target = new URL(url, location.href);
  history[replace ? 'replaceState' : 'pushState']({}, '', target);
  render({ focus });
}

/** Draws the view of the current address in `main`, and follows links and history from now on. */
export function start(main) {
  outlet = main;
  addEventListener('popstate', () => render());
  document.addEventListener('click', followLink);
  render();
}

function followLink(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  // composedPath reaches into shadow roots (the chat's product links).
  const link = event.composedPath().find((node) => node instanceof HTMLAnchorElement && node.href);
  if (!link || link.target || link.hasAttribute('download') || link.origin !== location.origin) return;
  if (!isRoute(link.pathname)) return;
  event.preventDefault();
  navigate(link.href);
}

async function render({ focus = true } = {}) {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const { pathname } = location;
  const [pattern, view] = routes.find(([candidate]) => candidate.test(pathname)) ?? [];
  const groups = pattern ? pathname.match(pattern).slice(1).map(decodeURIComponent) : [];
  outlet.setAttribute('aria-busy', 'true');
  try {
    await (view ?? notFound)(outlet, groups, controller.signal);
  } catch (error) {
    if (error.name !== 'AbortError') showFailure(error);
  } finally {
    if (current === controller) outlet.removeAttribute('aria-busy');
  }
  if (controller.signal.aborted) return;
  if (!firstRender && focus) {
    // Move focus to the new view's heading, as a page load would.
    const heading = outlet.querySelector('h1');
    heading?.setAttribute('tabindex', '-1');
    (heading ?? outlet).focus({ preventScroll: true });
    scrollTo({ top: 0 });
  }
  firstRender = false;
}

function notFound(main) {
  document.title = 'Not found';
  main.replaceChildren();
  const heading = document.createElement('h1');
  heading.textContent = 'This page does not exist';
  const back = document.createElement('a');
  back.href = '/';
  back.textContent = 'Back to the shop';
  main.append(heading, back);
}

function showFailure(error) {
  outlet.replaceChildren();
  const heading = document.createElement('h1');
  heading.textContent = error.status === 404 ? 'Not found' : 'Something went wrong';
  const detail = document.createElement('p');
  detail.textContent = error.message;
  const retry = document.createElement('button');
  retry.className = 'button';
  retry.textContent = 'Try again';
  retry.addEventListener('click', () => render());
  outlet.append(heading, detail, retry);
}
