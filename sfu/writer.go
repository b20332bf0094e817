package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// maxPacket is the largest RTP packet read from a publisher: above pion's
// receive MTU (1460) with room to spare.
const maxPacket = 1500

// packet is one RTP packet read from a publisher, shared read-only by
// every subscriber it is queued for and returned to the pool when the
// last of them is done with it. The header is parsed once by the reader;
// its CSRC and extension slices point into buf.
type packet struct {
	buf     [maxPacket]byte
	n       int
	hdr     rtp.Header
	payload []byte    // buf[header:n], without padding
	at      time.Time // when it was read
	// layer is the index of the layer it was read from; keyframe says
	// it starts a VP8 keyframe (both set by the reader).
	layer    int8
	keyframe bool
	refs     atomic.Int32
	pool     *packetPool
}

// packetPool recycles packets; one per SFU.
type packetPool struct{ sync.Pool }

func newPacketPool() *packetPool {
	pp := &packetPool{}
	pp.New = func() any { return &packet{pool: pp} }
	return pp
}

// get returns a packet holding one reference, the caller's.
func (pp *packetPool) get() *packet {
	p := pp.Get().(*packet)
	p.refs.Store(1)
	return p
}

// release drops one reference and recycles the packet after the last.
func (p *packet) release() { p.releaseN(1) }

// releaseN drops n references.
func (p *packet) releaseN(n int32) {
	if p.refs.Add(-n) == 0 {
		p.pool.Put(p)
	}
}

// parse reads the header of the n bytes in buf and finds the payload,
// without the padding: pion writes padding from Header.PaddingSize, and
// wants the payload alone.
func (p *packet) parse(n int) bool {
	p.n = n
	hlen, err := p.hdr.Unmarshal(p.buf[:n])
	if err != nil {
		return false
	}
	end := n
	p.hdr.PaddingSize = 0
	if p.hdr.Padding {
		pad := int(p.buf[n-1])
		if pad == 0 || hlen+pad > n {
			return false
		}
		end -= pad
		p.hdr.PaddingSize = byte(pad)
	}
	p.payload = p.buf[hlen:end]
	return true
}

// queued is one packet for one down track of a subscriber or, with pkt
// nil, one NACK entry of the subscriber's to answer from the track's
// packet cache. switching marks the keyframe at which the down track
// moves to the packet's layer.
type queued struct {
	dt        *DownTrack
	pkt       *packet
	nack      nackPair
	switching bool
}

// writer is a subscriber's outgoing path: a bounded queue and one
// goroutine that writes what is queued to the subscriber's
// PeerConnection. Publishers' readers only ever try to queue (never wait),
// so a subscriber that is slow to write (a full ICE-TCP socket, a busy
// core) loses its own packets and delays nobody. The goroutine owns hdr;
// the counters are read by Stats.
type writer struct {
	queue chan queued
	done  chan struct{}
	ended chan struct{}

	hdr rtp.Header // the outgoing header, rewritten for each packet
	// ext and twcc back the one header extension the writer sends, the
	// transport-wide sequence number (twseq, one counter for the
	// subscriber's whole PeerConnection, as the writer is), so stamping
	// it allocates nothing.
	ext   [1]rtp.Extension
	twcc  [2]byte
	twseq uint16

	forwarded, dropped atomic.Uint64
	// forwardedBytes counts the RTP bytes of forwarded packets.
	forwardedBytes atomic.Uint64
	// retransmitted counts packets resent from a packet cache on a NACK.
	retransmitted atomic.Uint64
}

func newWriter(size int) *writer {
	return &writer{
		queue: make(chan queued, size),
		done:  make(chan struct{}),
		ended: make(chan struct{}),
	}
}

// enqueue offers pkt for dt without blocking and reports whether it was
// taken. The caller has counted a reference for the queue.
func (w *writer) enqueue(dt *DownTrack, pkt *packet, switching bool) bool {
	select {
	case w.queue <- queued{dt: dt, pkt: pkt, switching: switching}:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// enqueueNack offers one NACK entry of the subscriber's for dt without
// blocking. A full queue drops it: the subscriber is behind already, and
// its NACK generator asks again.
func (w *writer) enqueueNack(dt *DownTrack, n nackPair) {
	select {
	case w.queue <- queued{dt: dt, nack: n}:
	default:
	}
}

// run writes queued packets until stop; then it releases what is left.
func (w *writer) run() {
	defer close(w.ended)
	for {
		select {
		case q := <-w.queue:
			if q.pkt == nil {
				w.retransmit(q.dt, q.nack)
				continue
			}
			w.write(q)
		case <-w.done:
			w.drain()
			return
		}
	}
}

// stop ends run and waits for it.
func (w *writer) stop() {
	close(w.done)
	<-w.ended
}

// drain releases packets still queued. Packets queued after it (a reader
// that raced with stop) are never released to the pool; the garbage
// collector takes them.
func (w *writer) drain() {
	for {
		select {
		case q := <-w.queue:
			if q.pkt != nil {
				q.pkt.release()
			}
		default:
			return
		}
	}
}

// write sends one packet on one down track with the subscriber's SSRC,
// payload type, sequence number and timestamp (rewriter). Header
// extensions are dropped, since their ids and values (the publisher's
// MID) belong to the publisher's session.
func (w *writer) write(q queued) {
	defer q.pkt.release()
	b := q.dt.binding.Load()
	if b == nil || !q.dt.follow(q.pkt, q.switching) {
		return
	}
	h := &q.pkt.hdr
	seq, ts := q.dt.rw.rewrite(h.SSRC, h.SequenceNumber, h.Timestamp, q.pkt.at, q.dt.track.codec.ClockRate)
	if n := w.send(b, q.pkt, seq, ts); n > 0 {
		w.forwarded.Add(1)
		w.forwardedBytes.Add(uint64(n))
		q.dt.sent()
	}
}

// retransmit answers one NACK entry of the subscriber's: each packet it
// names is mapped back to the publisher's sequence number of the layer
// it was sent from (the current one, or the one before the last switch)
// and, if that layer's cache holds it, sent again as it was first sent.
// What the cache lacks is asked of the publisher.
func (w *writer) retransmit(dt *DownTrack, n nackPair) {
	b := dt.binding.Load()
	if b == nil {
		return
	}
	for i := 0; i <= 16; i++ {
		if i > 0 && n.blp&(1<<(i-1)) == 0 {
			continue
		}
		out := n.pid + uint16(i)
		l, prev := dt.wlayer, false
		seq, ok := dt.rw.source(out)
		if !ok {
			if seq, ok = dt.rw.previous(out); !ok {
				continue
			}
			l, prev = dt.prevLayer, true
		}
		ly := dt.track.layer(l)
		if ly == nil || ly.cache == nil {
			continue
		}
		pkt := ly.cache.get(seq)
		if pkt == nil {
			ly.requestRetransmit(seq)
			continue
		}
		ts := dt.rw.timestamp(pkt.hdr.Timestamp)
		if prev {
			ts = dt.rw.previousTimestamp(pkt.hdr.Timestamp)
		}
		if w.send(b, pkt, out, ts) > 0 {
			w.retransmitted.Add(1)
		}
		pkt.release()
	}
}

// send writes pkt to the subscriber with its own header fields and
// returns the bytes that left. The only extension is the transport-wide
// sequence number, when negotiated.
func (w *writer) send(b *binding, pkt *packet, seq uint16, ts uint32) int {
	w.hdr = pkt.hdr
	w.hdr.Extension = false
	w.hdr.ExtensionProfile = 0
	w.hdr.Extensions = nil
	if b.twccID != 0 && b.twccID <= 14 { // one-byte form (RFC 8285 §4.2)
		binary.BigEndian.PutUint16(w.twcc[:], w.twseq)
		w.twseq++
		w.hdr.Extensions = w.ext[:0]
		_ = w.hdr.SetExtension(b.twccID, w.twcc[:]) // appends within ext's room
	}
	w.hdr.SSRC = b.ssrc
	w.hdr.PayloadType = b.payloadType
	w.hdr.SequenceNumber = seq
	w.hdr.Timestamp = ts
	n, err := b.stream.WriteRTP(&w.hdr, pkt.payload)
	if err != nil {
		// n == 0 without an error: DTLS is not up yet and pion dropped it.
		return 0
	}
	return n
}
