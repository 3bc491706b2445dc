// The web terminal in a real browser: Debian's chromium driven by playwright-core. It starts
// the server binary on 127.0.0.1, opens the page, joins a channel, exchanges messages with a
// real telnet client, and resizes the window. Run by ./test.sh; screenshots go to
// web/test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const binary = process.env.R0C_BIN ?? path.join(root, 'target', 'debug', 'r0c');
const outputDir = path.join(here, '..', 'test-output');
const PATIENCE = 15000;

let server;
let browser;
let dataDir;
const ports = {};

async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitFor(what, check, shown = () => '') {
  const deadline = Date.now() + PATIENCE;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) {
      return last;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const seen = shown();
  throw new Error(`timed out waiting for ${what}${seen ? `; it showed:\n${seen.slice(-3000)}` : ''}`);
}

/** The rows of the page's terminal, as text. */
async function screenRows(page) {
  return page.evaluate(() => {
    const term = window.term;
    const buffer = term.buffer.active;
    const rows = [];
    for (let y = 0; y < term.rows; y++) {
      const line = buffer.getLine(buffer.viewportY + y);
      rows.push(line ? line.translateToString(true) : '');
    }
    return rows;
  });
}

async function screenShows(page, text) {
  return waitFor(`"${text}" in the browser`, async () => (await screenRows(page)).join('\n').includes(text));
}

/** A real telnet client with its stdin and stdout in our hands. */
class Telnet {
  constructor(port) {
    this.output = '';
    this.child = spawn('telnet', ['127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.stdout.on('data', (data) => {
      this.output += data.toString('utf8');
    });
    this.child.on('error', (error) => {
      this.output += `\n[telnet failed to start: ${error.message}; ./test.sh installs it]\n`;
    });
  }

  type(text) {
    this.child.stdin.write(text);
  }

  async shows(text) {
    return waitFor(`"${text}" on telnet`, async () => this.output.includes(text), () => this.output);
  }

  /** Answers the wizard as a person would; telnet on a pipe sends whole lines. */
  async walkWizard() {
    const answers = [
      ['type the text below', 'qwer asdf\n\n'],
      ['stuck in line-buffered mode', 'a\n'],
      ['nothing happened', 'b\n'],
      ['does colours work?', 'y\n'],
      ['which line looks like', 'a\n'],
    ];
    const answered = new Set();
    await waitFor('the telnet wizard to finish', async () => {
      if (this.output.includes('r0c readme (and status info)')) {
        return true;
      }
      for (const [question, answer] of answers) {
        if (this.output.includes(question) && !answered.has(question)) {
          answered.add(question);
          this.type(answer);
        }
      }
      return false;
    }, () => this.output);
  }

  stop() {
    this.child.kill('SIGTERM');
  }
}

before(async () => {
  fs.mkdirSync(outputDir, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'r0c-web-'));
  ports.telnet = await freePort();
  ports.raw = await freePort();
  ports.web = await freePort();
  server = spawn(
    binary,
    ['--dir', dataDir, '-i', '127.0.0.1', '-pt', String(ports.telnet), '-pn', String(ports.raw), '--web', String(ports.web), '--irc-listen', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let console = '';
  server.stdout.on('data', (data) => {
    console += data.toString();
  });
  await waitFor('the server to start', async () => console.includes('r0c is up'));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the browser chats with a telnet client and follows a resize', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`http://127.0.0.1:${ports.web}/`);

  // No wizard questions: the chat's welcome text comes straight away.
  await screenShows(page, 'r0c readme (and status info)');
  const rows = await screenRows(page);
  assert.ok(!rows.join('\n').includes('qwer asdf'), 'the browser is not asked the typing test');

  await page.keyboard.type('/join #web');
  await page.keyboard.press('Enter');
  await screenShows(page, 'has joined');

  const telnet = new Telnet(ports.telnet);
  try {
    await telnet.walkWizard();
    telnet.type('/join #web\n');
    await telnet.shows('has joined');
    telnet.type('hello from telnet\n');
    await screenShows(page, 'hello from telnet');

    await page.keyboard.type('hello from the browser, ünïcödé');
    await page.keyboard.press('Enter');
    await telnet.shows('hello from the browser, ünïcödé');
  } finally {
    telnet.stop();
  }

  // The layout follows the window: the status bar stays on the second-to-last row.
  const before = await page.evaluate(() => ({ cols: window.term.cols, rows: window.term.rows }));
  await page.screenshot({ path: path.join(outputDir, 'web-before-resize.png') });
  await page.setViewportSize({ width: 700, height: 420 });
  const after = await waitFor('the terminal to shrink', async () => {
    const size = await page.evaluate(() => ({ cols: window.term.cols, rows: window.term.rows }));
    return size.cols < before.cols && size.rows < before.rows ? size : null;
  });
  // The redraw may reach the page in more than one frame: wait for the status bar on its new
  // row and the chat redrawn above it, then check the whole screen.
  let lastRows = [];
  await waitFor('the status bar on the new second-to-last row and the chat redrawn', async () => {
    const now = await screenRows(page);
    lastRows = now;
    return now.length === after.rows && /#web/.test(now[after.rows - 2]) && !now.slice(after.rows).some((row) => row.trim())
      && now.join('\n').includes('hello from the browser');
  }, () => lastRows.join('\n'));
  const shrunk = await screenRows(page);
  assert.ok(shrunk.join('\n').includes('hello from the browser'), 'the chat is redrawn at the new size');
  assert.ok(shrunk.every((row) => row.length <= after.cols), 'no row is wider than the window');
  await page.screenshot({ path: path.join(outputDir, 'web-after-resize.png') });
  assert.deepEqual(errors, [], 'the page has no script errors');
  await page.close();
});

test('a page from another origin may not open the chat', async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${ports.web}/`);
  // localhost and 127.0.0.1 are different origins to a browser.
  const closedWith = await page.evaluate(
    (port) =>
      new Promise((resolve) => {
        const socket = new WebSocket(`ws://localhost:${port}/ws`);
        socket.onopen = () => resolve('open');
        socket.onerror = () => resolve('refused');
      }),
    ports.web,
  );
  assert.equal(closedWith, 'refused');
  await page.close();
});
