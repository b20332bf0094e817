// The pre-call network check: can this browser reach the server's STUN
// (direct UDP) and TURN (relay over UDP, relay over TCP/TLS)? Each check
// is a throw-away RTCPeerConnection that gathers candidates against one
// kind of server only. Nothing is sent to the other participant.

const CHECK_TIMEOUT_MS = 6000;

function urlsOf(servers) {
  const out = [];
  for (const s of servers || []) {
    for (const url of [].concat(s.urls || [])) out.push({ url, username: s.username, credential: s.credential });
  }
  return out;
}

function isTurnTCP(url) {
  return url.startsWith('turns:') || /[?&]transport=tcp/i.test(url);
}

/** Sorts the join response's ICE servers into the three checks. */
export function plan(iceServers) {
  const all = urlsOf(iceServers);
  const toServers = (list) => list.map(({ url, username, credential }) => ({ urls: url, username, credential }));
  return {
    udp: toServers(all.filter((s) => s.url.startsWith('stun:'))),
    relayUdp: toServers(all.filter((s) => s.url.startsWith('turn:') && !isTurnTCP(s.url))),
    relayTcp: toServers(all.filter((s) => (s.url.startsWith('turn:') || s.url.startsWith('turns:')) && isTurnTCP(s.url))),
  };
}

/**
 * Gathers with the given servers and resolves to "ok" when a candidate
 * of the wanted type appears, "fail" when none does in time.
 * want: "srflx" or "relay".
 */
async function gather(servers, want, policy) {
  const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: policy });
  try {
    pc.createDataChannel('check');
    let stunErrors = 0;
    const result = new Promise((resolve) => {
      const timer = setTimeout(() => resolve('fail'), CHECK_TIMEOUT_MS);
      const done = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      pc.onicecandidate = (ev) => {
        if (!ev.candidate) {
          // Gathering ended. For STUN, no srflx candidate and no error
          // means the host address is public (Chrome drops a srflx
          // candidate equal to a host one): direct UDP works.
          done(want === 'srflx' && stunErrors === 0 ? 'ok' : 'fail');
          return;
        }
        if (ev.candidate.type === want || ev.candidate.candidate.includes(` typ ${want}`)) done('ok');
      };
      pc.onicecandidateerror = () => {
        stunErrors++;
      };
    });
    await pc.setLocalDescription(await pc.createOffer());
    return await result;
  } finally {
    pc.close();
  }
}

/**
 * Runs the three checks one after the other (parallel checks share the
 * uplink and make each other look worse). onResult(name, state) is
 * called with "running", then "ok", "fail" or "skip" (no such server).
 */
export async function runNetworkCheck(iceServers, onResult) {
  if (typeof RTCPeerConnection === 'undefined') throw new Error('no WebRTC');
  const p = plan(iceServers);
  const results = {};
  for (const [name, servers, want, policy] of [
    ['udp', p.udp, 'srflx', 'all'],
    ['relayUdp', p.relayUdp, 'relay', 'relay'],
    ['relayTcp', p.relayTcp, 'relay', 'relay'],
  ]) {
    if (servers.length === 0) {
      results[name] = 'skip';
    } else {
      onResult(name, 'running');
      try {
        results[name] = await gather(servers, want, policy);
      } catch {
        results[name] = 'fail';
      }
    }
    onResult(name, results[name]);
  }
  return results;
}

/** The advice key (i18n) for a set of results. */
export function adviceFor(r) {
  const all = [r.udp, r.relayUdp, r.relayTcp];
  if (all.every((x) => x === 'skip')) return 'net.adviceNoServers';
  if (r.udp === 'ok' || (r.udp === 'skip' && r.relayUdp === 'ok')) {
    return r.relayUdp === 'skip' && r.relayTcp === 'skip' ? 'net.adviceNoServers' : 'net.adviceAll';
  }
  if (r.relayUdp === 'ok') return 'net.adviceRelay';
  if (r.relayTcp === 'ok') return 'net.adviceTcp';
  if (r.udp === 'skip' && r.relayUdp === 'skip' && r.relayTcp === 'skip') return 'net.adviceNoServers';
  return 'net.adviceNone';
}
