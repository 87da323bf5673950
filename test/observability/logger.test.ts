/** Log lines: secrets redacted at any depth we log them; request ids on every line written inside a request. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { accessLogger, createLogger } from '../../src/logger.ts';
import { createFront, currentRequestLogFields } from '../../src/http/front.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';

function capture() {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n')) {
      if (!l.trim()) continue;
      raw.push(l);
      lines.push(JSON.parse(l) as Record<string, unknown>);
    }
  });
  return { stream, lines, raw };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('secret fields are redacted at the top of a log object and one level down', async () => {
  const { stream, lines } = capture();
  const log = createLogger('info', stream, currentRequestLogFields);
  log.info(
    {
      password: 'p',
      client_secret: 's',
      access_token: 'a',
      client_assertion: 'c',
      token: 't',
      authorization: 'Basic x',
      code: 'ERR_CODE',
      nested: { password: 'p', code: 'authorization-code' },
    },
    'x',
  );
  await tick();
  assert.deepEqual(lines[0]!['password'], '[redacted]');
  assert.deepEqual(lines[0]!['client_secret'], '[redacted]');
  assert.deepEqual(lines[0]!['access_token'], '[redacted]');
  assert.deepEqual(lines[0]!['client_assertion'], '[redacted]');
  assert.deepEqual(lines[0]!['token'], '[redacted]');
  assert.deepEqual(lines[0]!['authorization'], '[redacted]');
  assert.equal(lines[0]!['code'], 'ERR_CODE', 'a top-level code is the error code');
  assert.deepEqual(lines[0]!['nested'], { password: '[redacted]', code: '[redacted]' });
  // The access logger writes only fields the front chose; it does not redact (cost).
  accessLogger(log).info({ route: '/oauth2/token' }, 'request');
  await tick();
  assert.equal(lines[1]!['component'], 'access');
});

test('every line written while a request is handled carries its request, interaction and trace ids', async () => {
  const { stream, lines, raw } = capture();
  const log = createLogger('info', stream, currentRequestLogFields);
  const listener = createFront(
    (_req, res) => {
      log.info({ step: 'inside' }, 'working');
      setImmediate(() => {
        log.info('later, still inside');
        res.emit('close');
      });
    },
    { logger: log },
  );
  const req = Object.assign(new EventEmitter(), {
    method: 'GET',
    headers: { 'x-fapi-interaction-id': 'id-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  }) as unknown as IncomingMessage;
  const res = Object.assign(new EventEmitter(), { setHeader() {}, headersSent: true, statusCode: 204, writableFinished: true }) as unknown as ServerResponse;
  listener(req, res);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const [inside, later, access] = lines;
  for (const line of [inside!, later!, access!]) {
    assert.equal(line['interaction_id'], 'id-1');
    assert.equal(line['trace_id'], '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(line['span_id'], '00f067aa0ba902b7');
    assert.equal(typeof line['request_id'], 'string');
  }
  assert.equal(access!['msg'], 'request');
  assert.equal(access!['status'], 204);
  assert.equal(raw[2]!.split('"request_id"').length, 2, 'the ids are written once per line');
});

test('an invalid traceparent is ignored, not logged', async () => {
  const { stream, lines } = capture();
  const log = createLogger('info', stream, currentRequestLogFields);
  const listener = createFront(
    (_req, res) => {
      res.emit('close');
    },
    { logger: log },
  );
  for (const traceparent of [
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'nonsense',
  ]) {
    const req = Object.assign(new EventEmitter(), { method: 'GET', headers: { traceparent } }) as unknown as IncomingMessage;
    const res = Object.assign(new EventEmitter(), { setHeader() {}, headersSent: true, statusCode: 200, writableFinished: true }) as unknown as ServerResponse;
    listener(req, res);
  }
  await tick();
  assert.equal(lines.length, 3);
  for (const l of lines) assert.equal(l['trace_id'], undefined);
});
