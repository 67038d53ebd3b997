// dynthrift ui: a form for any method of the gateway's services, built from
// GET /schema. Plain JS, no framework, no build step; served from the binary.
//
// Every editor returns JSON *text*, never a JS value, so i64 and other
// integers stay exact (digits are checked and copied, not parsed), and
// answers are shown as text re-indented without JSON.parse for the same
// reason.
'use strict';

const $ = (id) => document.getElementById(id);
const INT_RANGE = {
  i8: [-128n, 127n], i16: [-32768n, 32767n], i32: [-2147483648n, 2147483647n],
  i64: [-9223372036854775808n, 9223372036854775807n],
};
const HISTORY_KEY = 'dynthrift-ui-history';
let schema = null;
let config = { file: 'FILE', upstream: 'ADDR', flags: [] };
let rootEditor = null;
let currentFn = null;
let currentSvc = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

let uid = 0;
const nextId = () => 'f' + (++uid);

class InputError extends Error {
  constructor(path, msg) { super(path + ': ' + msg); this.path = path; }
}

function typeLabel(t) { return t.name || t.kind; }

// ---- editors: {el, text()} where text() gives JSON text or throws ---------

function scalarEditor(t, def, path, labelId) {
  const k = t.kind;
  if (k === 'bool') {
    const box = el('input', { type: 'checkbox', id: labelId, 'data-path': path });
    box.checked = def === true;
    return { el: box, text: () => (box.checked ? 'true' : 'false') };
  }
  if (k === 'enum') {
    const en = schema.enums[t.ref];
    const sel = el('select', { id: labelId, 'data-path': path });
    for (const v of en.values) sel.append(el('option', { value: v.name, text: `${v.name} (${v.value})` }));
    if (def !== undefined) sel.value = typeof def === 'number'
      ? (en.values.find((v) => v.value === def) || {}).name : def;
    return { el: sel, text: () => JSON.stringify(sel.value) };
  }
  const input = el('input', { type: 'text', id: labelId, 'data-path': path, class: 'mono',
    inputmode: k in INT_RANGE ? 'numeric' : (k === 'double' ? 'decimal' : undefined),
    placeholder: k === 'binary' ? 'base64' : k === 'uuid' ? 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx' : k });
  if (def !== undefined) input.value = String(def);
  let wrap = input;
  if (k === 'binary') {
    const file = el('input', { type: 'file', 'aria-label': path + ' from a file' });
    file.addEventListener('change', () => {
      const f = file.files[0];
      if (!f) return;
      const r = new FileReader();
      r.onload = () => { input.value = String(r.result).replace(/^data:[^,]*,/, ''); };
      r.readAsDataURL(f);
    });
    wrap = el('span', { class: 'binary' }, input, file);
  }
  return {
    el: wrap,
    text() {
      const s = input.value.trim();
      if (k in INT_RANGE) {
        if (!/^-?\d+$/.test(s)) throw new InputError(path, `expected ${k}, got '${input.value}'`);
        const n = BigInt(s);
        const [lo, hi] = INT_RANGE[k];
        if (n < lo || n > hi) throw new InputError(path, `${s} out of range for ${k}`);
        return n.toString();
      }
      if (k === 'double') {
        if (['NaN', 'Infinity', '-Infinity'].includes(s)) return JSON.stringify(s);
        if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(s))
          throw new InputError(path, `expected a number, got '${input.value}'`);
        return s;
      }
      if (k === 'binary' && !/^[A-Za-z0-9+/]*={0,2}$/.test(s))
        throw new InputError(path, 'expected base64');
      return JSON.stringify(k === 'string' ? input.value : s);
    },
    blank: () => input.value.trim() === '' && k !== 'string',
  };
}

function listEditor(t, def, path) {
  const box = el('div', { class: 'list', 'data-path': path });
  const items = [];
  const isMap = t.kind === 'map';
  const add = (k, v) => {
    const i = items.length;
    const ipath = isMap ? `${path}[${i}]` : `${path}[${i}]`;
    const parts = [];
    let keyEd = null;
    if (isMap) {
      const kid = nextId();
      keyEd = editorFor(t.key, k, ipath + '.key', kid, 1);
      parts.push(el('label', { for: kid, text: 'key' }), keyEd.el);
    }
    const vid = nextId();
    const valEd = editorFor(isMap ? t.value : t.elem, isMap ? v : k, isMap ? ipath + '.value' : ipath, vid, 1);
    parts.push(el('label', { for: vid, text: isMap ? 'value' : `item ${i}` }), valEd.el);
    const entry = { keyEd, valEd };
    const rm = el('button', { type: 'button', class: 'small', text: 'remove',
      'aria-label': `remove ${ipath}`,
      onclick: () => { items.splice(items.indexOf(entry), 1); row.remove(); } });
    const row = el('div', { class: 'item' }, el('div', { class: 'item-body' }, ...parts), rm);
    entry.row = row;
    items.push(entry);
    box.insertBefore(row, addBtn);
    return row;
  };
  const addBtn = el('button', { type: 'button', class: 'small', text: '+ add',
    'aria-label': `add to ${path}`,
    onclick: () => { const r = add(undefined, undefined); const f = r.querySelector('input,select,textarea'); if (f) f.focus(); } });
  box.append(addBtn);
  if (Array.isArray(def)) {
    for (const d of def) isMap ? add(d[0], d[1]) : add(d);
  } else if (def && typeof def === 'object' && isMap) {
    for (const [kk, vv] of Object.entries(def)) add(kk, vv);
  }
  return {
    el: box,
    text() {
      if (!isMap) return '[' + items.map((e) => e.valEd.text()).join(',') + ']';
      const objectKeys = ['string', 'enum', 'i8', 'i16', 'i32', 'i64'].includes(t.key.kind);
      if (objectKeys) {
        return '{' + items.map((e) => {
          const kt = e.keyEd.text();
          const key = kt.startsWith('"') ? kt : JSON.stringify(kt);
          return key + ':' + e.valEd.text();
        }).join(',') + '}';
      }
      return '[' + items.map((e) => '[' + e.keyEd.text() + ',' + e.valEd.text() + ']').join(',') + ']';
    },
  };
}

// A field with a toggle when it may be left unset (optional, or no keyword).
function fieldEditor(f, def, path, depth) {
  const id = nextId();
  const required = f.required === 'required';
  // Optional fields start unset unless they have a default; deep struct
  // fields start unset too (and are only built when switched on), so a
  // recursive struct does not unfold forever.
  const isStruct = ['struct', 'union', 'exception'].includes(f.type.kind);
  let on = required || def !== undefined || (f.required === 'default' && !(isStruct && depth > 2));
  const wrap = el('div', { class: 'field' + (on ? '' : ' off') });
  const head = el('div', { class: 'head' });
  let toggle = null;
  if (!required) {
    toggle = el('input', { type: 'checkbox', 'aria-label': `set ${path}`, 'data-toggle': path });
    toggle.checked = on;
    head.append(toggle);
  }
  head.append(el('label', { for: id, text: f.name + (required ? ' *' : '') }),
    el('span', { class: 'type', text: `${f.id}: ${f.required === 'default' ? '' : f.required + ' '}${typeLabel(f.type)}` }));
  if (f.doc) head.append(el('span', { class: 'doc', text: f.doc }));
  const body = el('div', { class: 'body' });
  wrap.append(head, body);
  let ed = null;
  const build = () => { if (!ed) { ed = editorFor(f.type, def, path, id, depth + 1); body.append(ed.el); } };
  if (on) build();
  if (toggle) toggle.addEventListener('change', () => {
    on = toggle.checked;
    wrap.classList.toggle('off', !on);
    if (on) build();
  });
  return {
    el: wrap, name: f.name,
    text() {
      if (!on) return undefined;
      if (!required && ed.blank && ed.blank()) return undefined;
      return ed.text();
    },
  };
}

function structEditor(t, def, path, depth) {
  const sd = schema.structs[t.ref];
  const fs = el('fieldset', { 'data-path': path }, el('legend', { text: `${sd.name} (${sd.kind})` }));
  if (sd.kind === 'union') {
    const id = nextId();
    const pick = el('select', { id, 'aria-label': `${path}: which field` });
    for (const f of sd.fields) pick.append(el('option', { value: f.name, text: f.name }));
    const given = def && typeof def === 'object' ? Object.keys(def)[0] : undefined;
    if (given) pick.value = given;
    const slot = el('div');
    let ed = null;
    const show = () => {
      const f = sd.fields.find((x) => x.name === pick.value);
      slot.replaceChildren();
      const fid = nextId();
      ed = editorFor(f.type, def && def[f.name], `${path}.${f.name}`, fid, depth + 1);
      slot.append(el('label', { for: fid, text: f.name }), ed.el);
    };
    pick.addEventListener('change', show);
    show();
    fs.append(pick, slot);
    return { el: fs, text: () => '{' + JSON.stringify(pick.value) + ':' + ed.text() + '}' };
  }
  const eds = sd.fields.map((f) => {
    const d = def && typeof def === 'object' && f.name in def ? def[f.name] : f.default;
    const e = fieldEditor(f, d, path ? `${path}.${f.name}` : f.name, depth);
    fs.append(e.el);
    return e;
  });
  return { el: fs, text: () => objectText(eds) };
}

function objectText(eds) {
  const parts = [];
  for (const e of eds) {
    const v = e.text();
    if (v !== undefined) parts.push(JSON.stringify(e.name) + ':' + v);
  }
  return '{' + parts.join(',') + '}';
}

function editorFor(t, def, path, labelId, depth) {
  switch (t.kind) {
    case 'struct': case 'union': case 'exception': return structEditor(t, def, path, depth);
    case 'list': case 'set': case 'map': return listEditor(t, def, path);
    default: return scalarEditor(t, def, path, labelId);
  }
}

// ---- JSON text display, numbers kept as written --------------------------

function reindent(text) {
  let out = '', depth = 0, i = 0;
  const pad = () => '\n' + '  '.repeat(depth);
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      let k = i + 1;
      while (k < text.length && /\s/.test(text[k])) k++;
      if (text[k] === close) { out += c + close; i = k + 1; continue; }
      depth++; out += c + pad();
    } else if (c === '}' || c === ']') { depth--; out += pad() + c; }
    else if (c === ',') out += ',' + pad();
    else if (c === ':') out += ': ';
    else if (!/\s/.test(c)) out += c;
    i++;
  }
  return out;
}

// ---- page ---------------------------------------------------------------------

function shellQuote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

function currentBody() {
  if (!$('raw-pane').hidden) return $('raw').value;
  return rootEditor ? rootEditor.text() : '{}';
}

function showError(msg) { $('form-error').textContent = msg || ''; }

function selectTab(raw) {
  if (raw && !$('raw-pane').hidden) return;
  if (raw) {
    try { $('raw').value = reindent(rootEditor.text()); showError(''); } catch (e) { showError(e.message); }
  }
  $('raw-pane').hidden = !raw;
  $('form').hidden = raw;
  $('tab-form').setAttribute('aria-selected', String(!raw));
  $('tab-raw').setAttribute('aria-selected', String(raw));
}

function renderMethod() {
  currentSvc = schema.services[$('service').selectedIndex];
  currentFn = currentSvc && currentSvc.methods[$('method').selectedIndex];
  const form = $('form');
  form.replaceChildren();
  if (!currentFn) return;
  $('method-doc').textContent = currentFn.doc || '';
  const args = currentFn.args.map((a) => `${a.id}: ${typeLabel(a.type)} ${a.name}`).join(', ');
  const throws = currentFn.throws.length
    ? ' throws (' + currentFn.throws.map((a) => typeLabel(a.type)).join(', ') + ')' : '';
  $('signature').textContent = `${currentFn.oneway ? 'oneway ' : ''}${typeLabel(currentFn.returns)} ${currentFn.name}(${args})${throws}`;
  const eds = currentFn.args.map((a) => {
    const e = fieldEditor(a, a.default, a.name, 0);
    form.append(e.el);
    return e;
  });
  if (!eds.length) form.append(el('p', { class: 'muted', text: 'no arguments' }));
  rootEditor = { text: () => objectText(eds) };
  $('raw').value = '{}';
  showError('');
}

function fillMethods() {
  const svc = schema.services[$('service').selectedIndex];
  $('method').replaceChildren(...(svc ? svc.methods : []).map((m) => el('option', { value: m.name, text: m.name })));
  renderMethod();
}

function history() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch (e) { return []; }
}

function renderHistory() {
  const ol = $('history');
  ol.replaceChildren(...history().map((h) => el('li', {},
    el('button', { type: 'button', class: h.kind,
      text: `${h.service}.${h.method} → ${h.status} (${h.ms} ms)`,
      title: h.body, onclick: () => restore(h) }))));
}

function remember(entry) {
  const h = history();
  h.unshift(entry);
  try { localStorage.setItem(HISTORY_KEY, JSON.stringify(h.slice(0, 50))); } catch (e) { /* full or off */ }
  renderHistory();
}

function restore(h) {
  const si = schema.services.findIndex((s) => s.name === h.service);
  if (si < 0) return;
  $('service').selectedIndex = si;
  fillMethods();
  const mi = schema.services[si].methods.findIndex((m) => m.name === h.method);
  if (mi >= 0) { $('method').selectedIndex = mi; renderMethod(); }
  selectTab(true);
  $('raw').value = h.body;
  $('raw').focus();
}

async function send() {
  if (!currentFn) return;
  let body;
  try { body = currentBody(); showError(''); } catch (e) { showError(e.message); return; }
  const path = `${currentSvc.path}/${currentFn.name}`;
  const headers = { 'Content-Type': 'application/json' };
  const timeout = $('timeout').value.trim();
  if (/^\d+$/.test(timeout)) headers['X-Request-Timeout-Ms'] = timeout;
  $('status').textContent = '…';
  $('status').className = 'status';
  const t0 = performance.now();
  let status = 0, text = '', kind = 'error', exception = null;
  try {
    const r = await fetch(path, { method: 'POST', headers, body });
    status = r.status;
    text = await r.text();
    exception = r.headers.get('X-Thrift-Exception') || (text.startsWith('{"exception"') ? 'exception' : null);
    kind = exception ? 'exception' : (r.ok ? 'ok' : 'error');
  } catch (e) {
    text = String(e);
  }
  const ms = Math.round(performance.now() - t0);
  $('status').textContent = status
    ? `${status}${exception ? ' · exception ' + exception : kind === 'ok' ? ' · ok' : ' · error'}` : 'network error';
  $('status').className = 'status ' + kind;
  $('timing').textContent = `${ms} ms`;
  $('response').textContent = reindent(text);
  $('response').className = kind;
  remember({ service: currentSvc.name, method: currentFn.name, body, status, ms, kind, at: Date.now() });
}

function copy(text) {
  $('copied').value = text;
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
}

function copyCall() {
  let body;
  try { body = currentBody(); } catch (e) { showError(e.message); return; }
  const flags = (config.flags || []).map(shellQuote).join(' ');
  copy(`dynthrift call ${shellQuote(config.file)} ${currentSvc.name}.${currentFn.name} ${shellQuote(body)} --addr ${shellQuote(config.upstream)}${flags ? ' ' + flags : ''}`);
}

function copyCurl() {
  let body;
  try { body = currentBody(); } catch (e) { showError(e.message); return; }
  const url = `${location.origin}${currentSvc.path}/${currentFn.name}`;
  copy(`curl -sS -X POST -H 'Content-Type: application/json' --data-binary ${shellQuote(body)} ${shellQuote(url)}`);
}

async function start() {
  try {
    const r = await fetch('/ui/config.json');
    if (r.ok) config = await r.json();
  } catch (e) { /* defaults */ }
  $('target').textContent = config.upstream !== 'ADDR' ? `${config.file} → ${config.upstream}` : '';
  try {
    const r = await fetch('/schema');
    schema = await r.json();
  } catch (e) {
    showError('cannot load /schema: ' + e);
    return;
  }
  $('service').replaceChildren(...schema.services.map((s) => el('option', { value: s.name, text: s.name })));
  $('service').addEventListener('change', fillMethods);
  $('method').addEventListener('change', renderMethod);
  $('tab-form').addEventListener('click', () => selectTab(false));
  $('tab-raw').addEventListener('click', () => selectTab(true));
  for (const tab of [$('tab-form'), $('tab-raw')]) {
    tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        const raw = tab.id === 'tab-form';
        selectTab(raw);
        $(raw ? 'tab-raw' : 'tab-form').focus();
      }
    });
  }
  $('send').addEventListener('click', send);
  $('copy-call').addEventListener('click', copyCall);
  $('copy-curl').addEventListener('click', copyCurl);
  $('clear-history').addEventListener('click', () => { localStorage.removeItem(HISTORY_KEY); renderHistory(); });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
  });
  $('form').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  fillMethods();
  renderHistory();
  document.body.dataset.ready = '1';
}

start();
