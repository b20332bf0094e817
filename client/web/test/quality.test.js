import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify } from '../static/js/quality.js';
import { adviceFor, plan } from '../static/js/netcheck.js';

test('connection quality levels', () => {
  assert.equal(classify(40, 0, false), 'good');
  assert.equal(classify(null, 0.5, false), 'good');
  assert.equal(classify(350, 0, false), 'reduced');
  assert.equal(classify(40, 5, false), 'reduced');
  assert.equal(classify(40, 0, true), 'reduced');
  assert.equal(classify(900, 0, false), 'poor');
  assert.equal(classify(40, 15, false), 'poor');
});

test('network check sorts servers and gives advice', () => {
  const p = plan([
    { urls: ['stun:turn.example.org:3478'] },
    { urls: ['turn:turn.example.org:3478?transport=udp', 'turn:turn.example.org:3478?transport=tcp', 'turns:turn.example.org:5349'], username: 'u', credential: 'c' },
  ]);
  assert.equal(p.udp.length, 1);
  assert.equal(p.relayUdp.length, 1);
  assert.equal(p.relayTcp.length, 2);
  assert.equal(p.relayTcp[0].username, 'u');
  assert.equal(adviceFor({ udp: 'ok', relayUdp: 'ok', relayTcp: 'ok' }), 'net.adviceAll');
  assert.equal(adviceFor({ udp: 'fail', relayUdp: 'ok', relayTcp: 'ok' }), 'net.adviceRelay');
  assert.equal(adviceFor({ udp: 'fail', relayUdp: 'fail', relayTcp: 'ok' }), 'net.adviceTcp');
  assert.equal(adviceFor({ udp: 'fail', relayUdp: 'fail', relayTcp: 'fail' }), 'net.adviceNone');
  assert.equal(adviceFor({ udp: 'skip', relayUdp: 'skip', relayTcp: 'skip' }), 'net.adviceNoServers');
});
