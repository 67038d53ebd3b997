// Drives the gateway's web UI in headless Chromium (Debian's) with
// puppeteer-core; run by gateway_ui.py, which passes a JSON config as
// argv[2]:
//   {chromium, screenshot_dir, pingpong: URL, bench: URL}
// each URL a `dynthrift gateway --listen` (or `dynthrift ui`) on loopback
// in front of a thriftpy server.  Prints TAP.
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

const cfg = JSON.parse(process.argv[2]);
let n = 0;
let failed = 0;
function ok(cond, name, diag) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${name}`);
  if (!cond && diag !== undefined) for (const l of String(diag).split('\n').slice(0, 20)) console.log('# ' + l);
}

async function text(page, sel) { return page.$eval(sel, (e) => e.textContent); }

async function sendAndWait(page, before) {
  await page.click('#send');
  await page.waitForFunction((b) => document.querySelectorAll('#history li').length > b, { timeout: 15000 }, before);
}

async function pick(page, service, method) {
  await page.select('#service', service);
  await page.select('#method', method);
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--proxy-server=127.0.0.1:9'], // anything but loopback goes nowhere
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // ---- PingPong.add(2, 40) --------------------------------------------
    await page.goto(cfg.pingpong, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
    ok(true, 'the UI page loads and builds its form from /schema');
    await pick(page, 'PingPong', 'add');
    const sig = await text(page, '#signature');
    ok(sig.includes('i64 add(1: i32 a, 2: i64 b)'), 'the signature is shown', sig);
    await page.type('input[data-path="a"]', '2');
    await page.type('input[data-path="b"]', '40');
    await sendAndWait(page, 0);
    let status = await text(page, '#status');
    let resp = await text(page, '#response');
    ok(status.startsWith('200') && /"result":\s*42\b/.test(resp), 'PingPong.add 2 + 40: the page shows 42', `${status} ${resp}`);
    const timing = await text(page, '#timing');
    ok(/^\d+ ms$/.test(timing), `the call is timed (${timing})`, timing);
    ok((await page.$$('#history li')).length === 1, 'the call is in the history');

    await page.click('#copy-curl');
    let copied = await page.$eval('#copied', (e) => e.value);
    ok(copied.startsWith('curl ') && copied.includes('{"a":2,"b":40}') && copied.includes(cfg.pingpong + 'PingPong/add'),
      'copy as curl', copied);
    await page.click('#copy-call');
    copied = await page.$eval('#copied', (e) => e.value);
    ok(copied.startsWith('dynthrift call ') && copied.includes('PingPong.add') && copied.includes('--addr'),
      'copy as dynthrift call', copied);

    // Raw JSON, with an i64 beyond 2^53 kept exact both ways.
    await page.click('#tab-raw');
    const raw = await page.$eval('#raw', (e) => e.value);
    ok(/"a":\s*2/.test(raw) && /"b":\s*40/.test(raw), 'the raw editor starts from the form', raw);
    await page.$eval('#raw', (e) => { e.value = '{"a": 1, "b": 9007199254740993}'; });
    // Keyboard: Ctrl+Enter sends.
    await page.focus('#raw');
    await page.keyboard.down('Control');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Control');
    await page.waitForFunction(() => document.querySelectorAll('#history li').length > 1, { timeout: 15000 });
    resp = await text(page, '#response');
    ok(/"result":\s*9007199254740994\b/.test(resp), 'raw JSON sent with Ctrl+Enter; i64 exact beyond 2^53', resp);

    // A bad value is refused before sending, naming its path.
    await page.click('#tab-form');
    await page.$eval('input[data-path="a"]', (e) => { e.value = 'x1'; });
    await page.click('#send');
    const ferr = await text(page, '#form-error');
    ok(ferr.startsWith('a:') && ferr.includes('expected i32'), 'a bad integer is named by its path', ferr);

    // ---- Bench.echo: a struct argument with a nested list ----------------
    await page.goto(cfg.bench, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
    await pick(page, 'Bench', 'echo');
    await page.type('input[data-path="p.request_id"]', '9223372036854775807');
    await page.click('button[aria-label="add to p.users"]');
    await page.type('input[data-path="p.users[0].id"]', '7');
    await page.type('input[data-path="p.users[0].name"]', 'ada');
    ok(await page.$eval('select[data-path="p.users[0].status"]', (e) => e.value) === 'ACTIVE',
      'enum choice pre-filled with its IDL default');
    await page.click('button[aria-label="add to p.users[0].tags"]');
    await page.type('input[data-path="p.users[0].tags[0]"]', 'first');
    await page.click('button[aria-label="add to p.users[0].tags"]');
    await page.type('input[data-path="p.users[0].tags[1]"]', 'second');
    await page.click('input[data-toggle="p.users[0].address"]');
    await page.type('input[data-path="p.users[0].address.street"]', 'Main St');
    await page.click('button[aria-label="add to p.meta"]');
    await page.type('input[data-path="p.meta[0].key"]', 'k');
    await page.type('input[data-path="p.meta[0].value"]', 'v');
    const before = (await page.$$('#history li')).length;
    await sendAndWait(page, before);
    status = await text(page, '#status');
    resp = await text(page, '#response');
    let echoed = null;
    try { echoed = JSON.parse(resp).result; } catch (e) { /* shown below */ }
    ok(status.startsWith('200') && echoed && echoed.users.length === 1 &&
      JSON.stringify(echoed.users[0].tags) === '["first","second"]' &&
      echoed.users[0].address.street === 'Main St' && echoed.meta.k === 'v' &&
      resp.includes('9223372036854775807'),
    'Bench.echo: a struct with a nested list (users[0].tags), an optional struct, a map, i64 max',
    `${status} ${resp}`);
    await page.screenshot({ path: path.join(cfg.screenshot_dir, 'gateway-ui-echo.png'), fullPage: true });

    // ---- a declared exception --------------------------------------------
    await pick(page, 'Bench', 'fail');
    await page.type('input[data-path="code"]', '3');
    await sendAndWait(page, before + 1);
    status = await text(page, '#status');
    const cls = await page.$eval('#status', (e) => e.className);
    resp = await text(page, '#response');
    ok(status.includes('exception BenchError') && cls.includes('exception') && resp.includes('"exception": "BenchError"'),
      'Bench.fail: the declared exception is shown as such', `${status} ${cls} ${resp}`);
    const shot = path.join(cfg.screenshot_dir, 'gateway-ui.png');
    await page.screenshot({ path: shot, fullPage: true });
    ok(true, `screenshot saved: ${shot}`);

    // ---- history restores a call -----------------------------------------
    await page.click('#history li:last-child button');
    const restored = await page.$eval('#raw', (e) => e.value);
    ok((await page.$eval('#method', (e) => e.value)) === 'echo' && restored.includes('"first"'),
      'a history entry restores its method and body', restored);

    // ---- narrow window -----------------------------------------------------
    await page.setViewport({ width: 380, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    ok(overflow <= 0, `narrow window (380 px): no horizontal scrolling (overflow ${overflow})`);
    const narrow = path.join(cfg.screenshot_dir, 'gateway-ui-narrow.png');
    await page.screenshot({ path: narrow, fullPage: true });
    ok(errors.length === 0, 'no script errors on the page', errors.join('\n'));
  } finally {
    await browser.close();
  }
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok ${n + 1} - browser run failed: ${String(e).split('\n')[0]}`);
  console.log(`1..${n + 1}`);
  process.exit(1);
});
