// The orders web app: no framework, no build step beyond content-hashed names.
// Sign-in: the Cognito hosted UI, authorization code flow with PKCE (RFC 7636, S256); the ID
// token is kept in sessionStorage (this tab only) and sent as the Authorization header.
'use strict';

const PAGE_SIZE = 5;
const SESSION = 'orders.session';
const PENDING = 'orders.pending-sign-in';
const $ = (id) => document.getElementById(id);
let config = null;
let cursor = null;
let editing = null; // {id, version} of the order in the form, or null for a new order
let createKey = null; // the Idempotency-Key of the new order in the form: kept across retries

// What the page tells the user for each error the API documents (docs/serverless-api.md).
const MESSAGES = {
  400: 'The order was not accepted. Correct it and try again.',
  401: 'Your session has ended. Sign in again to continue.',
  403: "The request was blocked by the site's firewall. If this keeps happening, contact support.",
  404: 'This order no longer exists: it may have been cancelled in another window.',
  409: 'This order was changed by someone else since you opened it.',
  413: 'The order is too large to send. Remove some items and try again.',
  415: 'The page sent the order in a form the service does not accept. Reload the page.',
  422: 'This order was already placed with different contents. Start a new order.',
  429: 'Too many requests right now. Wait a moment, then try again.',
};

class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function b64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(length) {
  return b64url(crypto.getRandomValues(new Uint8Array(length)));
}

function session() {
  const saved = JSON.parse(sessionStorage.getItem(SESSION) || 'null');
  return saved && saved.idToken ? saved : null;
}

function claims(token) {
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch (e) {
    return {};
  }
}

async function signIn() {
  const verifier = randomString(48);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = randomString(24);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, back: location.pathname }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: 'openid',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  location.assign(`${config.signInUrl}/oauth2/authorize?${query}`);
}

function signOut() {
  sessionStorage.removeItem(SESSION);
  const query = new URLSearchParams({ client_id: config.clientId, logout_uri: config.redirectUri });
  location.assign(`${config.signInUrl}/logout?${query}`);
}

// Back from the hosted UI with ?code=...&state=...: trade the code and the verifier for tokens.
async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', pending && pending.back ? pending.back : '/');
  if (params.get('error')) throw new ApiError(401, 'SIGN_IN', `Sign-in failed: ${params.get('error')}`);
  if (!pending || pending.state !== params.get('state')) {
    throw new ApiError(401, 'SIGN_IN', 'Sign-in could not be completed (the reply did not match this window). Sign in again.');
  }
  const response = await fetch(`${config.signInUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: config.clientId,
      code: params.get('code'),
      redirect_uri: config.redirectUri,
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new ApiError(401, 'SIGN_IN', 'Sign-in could not be completed. Sign in again.');
  const tokens = await response.json();
  sessionStorage.setItem(SESSION, JSON.stringify({ idToken: tokens.id_token }));
}

async function api(method, path, { body, headers } = {}) {
  const current = session();
  const init = { method, headers: { ...(headers || {}) } };
  if (current) init.headers.Authorization = current.idToken;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${config.apiUrl}${path}`, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'Could not reach the service. Check your connection and try again.');
  }
  if (response.status === 204) return null;
  let document = null;
  try {
    document = await response.json();
  } catch (e) {
    document = null;
  }
  if (!response.ok) {
    const error = (document && document.error) || {};
    throw new ApiError(response.status, error.code || 'ERROR', error.message || '', document && document.requestId);
  }
  return document;
}

function showError(error, extra) {
  const box = $('error');
  box.replaceChildren();
  const status = error.status || 0;
  const headline = document.createElement('p');
  const strong = document.createElement('strong');
  strong.textContent = status === 0 ? error.message
    : MESSAGES[status] || (status >= 500 ? `The service failed (error ${status}). Try again in a few minutes.`
      : `The request failed (error ${status}).`);
  headline.append(strong);
  box.append(headline);
  if (status !== 0 && error.message) {
    const detail = document.createElement('p');
    detail.textContent = `Details: ${error.message}`;
    box.append(detail);
  }
  if (extra) box.append(extra);
  if (error.requestId) {
    const reference = document.createElement('p');
    reference.className = 'meta';
    reference.textContent = `Reference: ${error.requestId}`;
    box.append(reference);
  }
  if (status === 401) {
    sessionStorage.removeItem(SESSION);
    const again = document.createElement('button');
    again.type = 'button';
    again.textContent = 'Sign in again';
    again.addEventListener('click', signIn);
    box.append(again);
    renderAccount();
  }
  box.hidden = false;
  box.focus && box.setAttribute('tabindex', '-1');
  box.focus();
}

function clearMessages() {
  $('error').hidden = true;
  $('error').replaceChildren();
}

function say(text) {
  $('status').textContent = text;
}

function money(cents) {
  return (cents / 100).toFixed(2);
}

function renderAccount() {
  const current = session();
  $('sign-in').hidden = Boolean(current);
  $('sign-out').hidden = !current;
  $('who').hidden = !current;
  $('who').textContent = current ? `Signed in as ${claims(current.idToken).email || 'you'}` : '';
}

function orderItem(order) {
  const li = document.createElement('li');
  li.dataset.orderId = order.id;
  const title = document.createElement('h3');
  title.textContent = `Order ${order.id.slice(0, 8)}`;
  const lines = document.createElement('p');
  lines.textContent = order.items.map((i) => `${i.quantity} x ${i.sku} at ${money(i.unitPriceCents)}`).join(', ');
  const meta = document.createElement('p');
  meta.className = 'meta';
  const total = order.items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);
  meta.textContent = `Total ${money(total)} · version ${order.version}${order.requiresShipping ? ' · to be shipped' : ''}`;
  const actions = document.createElement('p');
  actions.className = 'actions';
  const edit = document.createElement('a');
  edit.href = `/edit/${order.id}`;
  edit.dataset.route = '';
  edit.textContent = 'Edit';
  edit.setAttribute('aria-label', `Edit order ${order.id.slice(0, 8)}`);
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'secondary';
  cancel.textContent = 'Cancel order';
  cancel.setAttribute('aria-label', `Cancel order ${order.id.slice(0, 8)}`);
  cancel.addEventListener('click', () => cancelOrder(order, li));
  actions.append(edit, cancel);
  li.append(title, lines, meta, actions);
  return li;
}

async function loadPage(first) {
  if (first) {
    cursor = null;
    $('orders').replaceChildren();
  }
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) query.set('cursor', cursor);
  const page = await api('GET', `/orders?${query}`);
  for (const order of page.orders) $('orders').append(orderItem(order));
  cursor = page.nextCursor || null;
  $('more').hidden = !cursor;
  $('empty').hidden = $('orders').children.length > 0;
  if (!first) say(`Showing ${$('orders').children.length} orders.`);
}

async function cancelOrder(order, li) {
  clearMessages();
  try {
    await api('DELETE', `/orders/${order.id}`);
    li.remove();
    $('empty').hidden = $('orders').children.length > 0;
    say(`Order ${order.id.slice(0, 8)} was cancelled.`);
    $('list-title').focus();
  } catch (error) {
    showError(error);
  }
}

function addLine(item) {
  const line = $('line-template').content.firstElementChild.cloneNode(true);
  const index = $('lines').children.length + 1;
  for (const input of line.querySelectorAll('input')) {
    input.id = `${input.name}-${index}`;
    if (item) input.value = item[input.name];
  }
  line.querySelector('.remove-line').addEventListener('click', () => {
    if ($('lines').children.length > 1) line.remove();
  });
  line.querySelector('.remove-line').setAttribute('aria-label', `Remove item ${index}`);
  $('lines').append(line);
}

function formOrder() {
  const items = [...$('lines').children].map((line) => {
    const value = (name) => line.querySelector(`[name=${name}]`).value.trim();
    const number = (name) => (/^[0-9]+$/.test(value(name)) ? Number(value(name)) : value(name));
    return { sku: value('sku'), quantity: number('quantity'), unitPriceCents: number('unitPriceCents') };
  });
  return { items, requiresShipping: $('shipping').checked };
}

function fillForm(order) {
  $('lines').replaceChildren();
  (order ? order.items : [null]).forEach(addLine);
  $('shipping').checked = Boolean(order && order.requiresShipping);
  $('version-note').hidden = !order;
  $('version-note').textContent = order ? `You are editing version ${order.version}.` : '';
  $('reload').hidden = true;
}

async function saveForm(event) {
  event.preventDefault();
  clearMessages();
  const order = formOrder();
  $('save').disabled = true;
  try {
    if (editing) {
      const saved = await api('PUT', `/orders/${editing.id}`, { body: { ...order, version: editing.version } });
      say(`Order ${saved.id.slice(0, 8)} was saved (version ${saved.version}).`);
    } else {
      const saved = await api('POST', '/orders', { body: order, headers: { 'Idempotency-Key': createKey } });
      createKey = null;
      say(`Order ${saved.id.slice(0, 8)} was placed.`);
    }
    await navigate('/', { keepStatus: true });
  } catch (error) {
    if (error.status === 409 && editing) $('reload').hidden = false;
    showError(error);
  } finally {
    $('save').disabled = false;
  }
}

async function reloadEdited() {
  clearMessages();
  try {
    const order = await api('GET', `/orders/${editing.id}`);
    editing = { id: order.id, version: order.version };
    fillForm(order);
    say(`Reloaded: this is version ${order.version}. Make your change again.`);
    $('form-title').focus();
  } catch (error) {
    showError(error);
  }
}

function show(view) {
  for (const id of ['signed-out', 'list-view', 'form-view']) $(id).hidden = id !== view;
}

async function navigate(path, { push = true, keepStatus = false } = {}) {
  if (push && path !== location.pathname) history.pushState(null, '', path);
  clearMessages();
  if (!keepStatus) say('');
  renderAccount();
  if (!session()) {
    show('signed-out');
    return;
  }
  const edit = path.match(/^\/edit\/([0-9a-f-]{36})$/);
  try {
    if (path === '/new') {
      editing = null;
      createKey = crypto.randomUUID();
      $('form-title').textContent = 'New order';
      $('save').textContent = 'Place order';
      fillForm(null);
      show('form-view');
      $('form-title').focus();
    } else if (edit) {
      show('form-view');
      $('form-title').textContent = 'Edit order';
      $('save').textContent = 'Save changes';
      const order = await api('GET', `/orders/${edit[1]}`);
      editing = { id: order.id, version: order.version };
      fillForm(order);
      $('form-title').focus();
    } else {
      show('list-view');
      await loadPage(true);
      $('list-title').focus();
    }
  } catch (error) {
    showError(error);
  }
}

async function start() {
  config = await (await fetch('/config.json', { cache: 'no-cache' })).json();
  $('sign-in').addEventListener('click', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('more').addEventListener('click', () => loadPage(false).catch(showError));
  $('add-line').addEventListener('click', () => addLine(null));
  $('order-form').addEventListener('submit', saveForm);
  $('reload').addEventListener('click', reloadEdited);
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-route]');
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      navigate(new URL(link.href).pathname);
    }
  });
  window.addEventListener('popstate', () => navigate(location.pathname, { push: false }));
  const params = new URLSearchParams(location.search);
  let failed = null;
  if (params.has('code') || params.has('error')) {
    try {
      await finishSignIn(params);
    } catch (error) {
      failed = error;
    }
  }
  await navigate(location.pathname, { push: false });
  if (failed) showError(failed);
  document.body.dataset.ready = 'true';
}

start().catch((error) => showError(new ApiError(0, 'START', `The page could not start: ${error.message}`)));
