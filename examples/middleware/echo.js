#!/usr/bin/env node
// echo.js: a doppel / GoReplay middleware in Node.js that passes every message through.
//
//   doppel ... --middleware 'node examples/middleware/echo.js'
//
// One line per message on stdin: the lowercase hex of "<meta line>\n<payload>" (README.md).
// Writing a line back keeps the message; not writing it drops it. Logs go to stderr.
// readline has no line length limit (a 10 MB message is a 20 MB line), and payloads are
// handled as Buffers, so NULs and any other byte pass untouched. Edit handle() to change
// messages.
'use strict';

const readline = require('readline');

// Returns the [meta, payload] pairs (Buffers) to emit for one message. <type> is '1'
// (request), '2' (original response) or '3' (replayed response); <meta> has no LF.
function handle(type, meta, payload) {
  return [[meta, payload]];
}

function encode(meta, payload) {
  return Buffer.concat([meta, Buffer.from('\n'), payload]).toString('hex') + '\n';
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });

rl.on('line', (line) => {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line.length === 0) return;
  if (line.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(line)) {
    process.stderr.write('echo.js: skipping a line that is not hex\n');
    return;
  }
  const record = Buffer.from(line, 'hex');
  let nl = record.indexOf(0x0a);
  if (nl < 0) nl = record.length;
  const meta = record.subarray(0, nl);
  const payload = record.subarray(Math.min(nl + 1, record.length));
  for (const [m, p] of handle(String.fromCharCode(meta[0]), meta, payload)) {
    // Respect backpressure: stop reading while stdout's buffer is full.
    if (!process.stdout.write(encode(m, p))) {
      rl.pause();
      process.stdout.once('drain', () => rl.resume());
    }
  }
});

process.stdout.on('error', () => process.exit(0)); // doppel went away
