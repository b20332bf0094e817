// Connection quality from getStats: round-trip time of the selected
// candidate pair, loss and bitrate of what we receive. Classified as
// good / reduced / poor so the UI can say when quality drops.

/** Thresholds (ms, %): above the first is "reduced", above the second "poor". */
const RTT = [300, 700];
const LOSS = [3, 10];

/** Samples one PeerConnection; call sample() every couple of seconds. */
export class QualityMonitor {
  constructor(pc) {
    this.pc = pc;
    this.prev = null;
    this.limitedFor = 0;
  }

  async sample() {
    const report = await this.pc.getStats();
    let rtt = null;
    let bytes = 0;
    let lost = 0;
    let received = 0;
    let framesDecoded = 0;
    let limited = false;
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    report.forEach((s) => {
      if (s.type === 'candidate-pair' && (s.id === pairId || (!pairId && s.nominated && s.state === 'succeeded'))) {
        if (typeof s.currentRoundTripTime === 'number') rtt = s.currentRoundTripTime * 1000;
      }
      if (s.type === 'inbound-rtp') {
        bytes += s.bytesReceived || 0;
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
        if (s.kind === 'video') framesDecoded += s.framesDecoded || 0;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.qualityLimitationReason === 'bandwidth') limited = true;
    });
    const now = performance.now();
    const cur = { now, bytes, lost, received, framesDecoded };
    const prev = this.prev;
    this.prev = cur;
    if (!prev) return null;
    // The encoder holds back for bandwidth during the first seconds of
    // every call while the estimate ramps up; only a sustained limit
    // counts as reduced quality.
    this.limitedFor = limited ? this.limitedFor + 1 : 0;
    const dt = (now - prev.now) / 1000;
    const dLost = lost - prev.lost;
    const dRecv = received - prev.received;
    const loss = dLost + dRecv > 0 ? (100 * dLost) / (dLost + dRecv) : 0;
    const kbps = dt > 0 ? Math.round(((bytes - prev.bytes) * 8) / 1000 / dt) : 0;
    return {
      rtt: rtt === null ? null : Math.round(rtt),
      loss: Math.round(loss * 10) / 10,
      kbps,
      framesDecoded,
      newFrames: framesDecoded - prev.framesDecoded,
      limited,
      level: classify(rtt, loss, this.limitedFor >= 5),
    };
  }
}

/** "good", "reduced" or "poor". */
export function classify(rtt, loss, limited) {
  if ((rtt !== null && rtt > RTT[1]) || loss > LOSS[1]) return 'poor';
  if ((rtt !== null && rtt > RTT[0]) || loss > LOSS[0] || limited) return 'reduced';
  return 'good';
}
