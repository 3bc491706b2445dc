// The r0c web terminal: xterm.js connected to the server's WebSocket. Binary frames carry
// terminal bytes both ways; text frames carry JSON control messages (the window size).
'use strict';
(function () {
  // Pastes go out in pieces of this many bytes, below the server's WebSocket message limit.
  const CHUNK = 16 * 1024;

  const term = new Terminal({
    cursorBlink: true,
    scrollback: 0,
    fontFamily: 'DejaVu Sans Mono, Menlo, Consolas, monospace',
    fontSize: 15,
    theme: { background: '#000000' },
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById('terminal'));
  fit.fit();
  // Tests and curious users read the screen from here.
  window.term = term;

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${scheme}//${location.host}/ws?cols=${term.cols}&rows=${term.rows}`;
  const socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();

  socket.onmessage = (event) => {
    if (typeof event.data === 'string') {
      // A control message; the server only sends errors this way.
      console.warn('r0c:', event.data);
    } else {
      term.write(new Uint8Array(event.data));
    }
  };
  // The size goes out as soon as the socket is open: it is the page's first word, and the
  // server closes a WebSocket that says nothing for its first-input timeout.
  socket.onopen = () => {
    socket.send(JSON.stringify({ t: 'resize', cols: term.cols, rows: term.rows }));
  };
  socket.onclose = () => {
    term.write('\r\n\x1b[0m[ disconnected from r0c; reload the page to connect again ]\r\n');
    document.title = 'r0c (disconnected)';
  };

  term.onData((data) => {
    if (socket.readyState !== WebSocket.OPEN) {
      return;
    }
    const bytes = encoder.encode(data);
    for (let at = 0; at < bytes.length; at += CHUNK) {
      socket.send(bytes.subarray(at, at + CHUNK));
    }
  });
  term.onResize(({ cols, rows }) => {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ t: 'resize', cols, rows }));
    }
  });
  window.addEventListener('resize', () => fit.fit());

  // The bell: the tab title blinks until the page is looked at again.
  let bellTimer = null;
  term.onBell(() => {
    if (bellTimer !== null || document.hasFocus()) {
      return;
    }
    let on = false;
    bellTimer = setInterval(() => {
      on = !on;
      document.title = on ? '(!) r0c' : 'r0c';
    }, 700);
  });
  window.addEventListener('focus', () => {
    if (bellTimer !== null) {
      clearInterval(bellTimer);
      bellTimer = null;
      document.title = 'r0c';
    }
  });
  term.focus();
})();
