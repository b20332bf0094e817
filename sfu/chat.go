package sfu

import (
	"errors"
	"sync"

	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"
)

// Chat in a conference: each participant has one data channel to the SFU
// (negotiated, label "chat", id 0, ordered, as in peer-to-peer calls).
// What a participant sends on it, the SFU relays to every other
// participant as opaque bytes, prefixed with the sender's participant
// id: one byte N, then the N bytes of the id (docs/PROTOCOL.md). The
// message itself is sealed by the clients with the room's chat key, the
// sender's id bound in as AAD (docs/SECURITY.md), so the SFU can neither
// read it nor pass one participant's message off as another's.
const (
	// MaxChatMessage bounds one message as the SFU receives it: 16 KiB of
	// chat text (the clients' limit) and room for the seal's 29 bytes.
	MaxChatMessage = 16<<10 + 64
	// maxChatBuffered is how much chat may wait unsent for one receiver:
	// beyond it, messages to that receiver are dropped rather than held
	// in memory without bound.
	maxChatBuffered = 1 << 20
	// maxChatHeld and maxChatHeldBytes bound what is held for one
	// receiver whose channel is not open yet (chatQueue): a few seconds
	// of a busy room's chat, and at most a quarter MiB per participant.
	maxChatHeld      = 64
	maxChatHeldBytes = 256 << 10
	// chatLabel and chatID make the negotiated channel, both sides alike.
	chatLabel = "chat"
	chatID    = 0
)

// errChatLimit: a chat message over the size or rate limit.
var errChatLimit = errors.New("sfu: chat message over the limit")

// openChat creates the participant's chat channel before the first offer,
// so that the offer carries its SCTP section.
func (p *Participant) openChat() error {
	yes, id := true, uint16(chatID)
	dc, err := p.pc.CreateDataChannel(chatLabel, &webrtc.DataChannelInit{Negotiated: &yes, ID: &id, Ordered: &yes})
	if err != nil {
		return err
	}
	cfg := p.sfu.cfg
	p.chat = dc
	p.chatLimit = rate.NewLimiter(rate.Limit(cfg.ChatRate), cfg.ChatBurst)
	dc.OnOpen(p.flushChat)
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if err := p.relayChat(msg.Data); err != nil {
			p.sfu.chatDropped.Add(1)
			p.log.Debug("chat message dropped", "bytes", len(msg.Data), "err", err)
		}
	})
	return nil
}

// relayChat sends one message from p to every other participant of its
// room. It runs on pion's SCTP goroutine of p; the limiter is only used
// there.
func (p *Participant) relayChat(msg []byte) error {
	if len(msg) > MaxChatMessage || !p.chatLimit.AllowN(p.sfu.cfg.Now(), 1) {
		return errChatLimit
	}
	if len(p.id) == 0 || len(p.id) > 255 {
		return errors.New("sfu: participant id does not fit the chat prefix")
	}
	framed := make([]byte, 0, 1+len(p.id)+len(msg))
	framed = append(framed, byte(len(p.id)))
	framed = append(framed, p.id...)
	framed = append(framed, msg...)
	for _, q := range p.room.members() {
		if q != p {
			q.deliverChat(framed)
		}
	}
	return nil
}

// chatQueue holds the chat relayed to one receiver before the SFU's end
// of its channel is open. A client may see its end open first and send
// at once, and the others may answer at once, while the SFU's end opens
// a moment later: without the queue, chat sent right after a join or a
// reconnect would be lost. Held messages go out in order when the
// channel opens; beyond maxChatHeld or maxChatHeldBytes, and when the
// participant leaves first, they are dropped and counted.
//
// mu guards the fields; nothing calls into pion while holding it.
type chatQueue struct {
	mu     sync.Mutex
	open   bool // the channel opened and what was held is sent
	closed bool // the participant left: nothing more is held
	held   [][]byte
	bytes  int
}

// deliverChat sends a relayed message to p, or holds it until p's
// channel opens.
func (p *Participant) deliverChat(framed []byte) {
	if p.holdChat(framed) {
		return
	}
	p.sendChat(framed)
}

// holdChat holds framed, or drops it over the bound or after p left,
// while p's channel is not open. It reports false once the channel is
// open: the caller sends.
func (p *Participant) holdChat(framed []byte) bool {
	q := &p.chatOut
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.open:
		return false
	case q.closed || len(q.held) >= maxChatHeld || q.bytes+len(framed) > maxChatHeldBytes:
		p.sfu.chatDropped.Add(1)
	default:
		// framed is shared by every receiver and never changed: held as is.
		q.held = append(q.held, framed)
		q.bytes += len(framed)
	}
	return true
}

// flushChat runs (in a goroutine of pion's) when p's channel opens: it
// sends what was held, in order, and only then lets deliverChat send
// directly. Messages relayed while it sends are held behind the others,
// so no message overtakes an older one from the same sender.
func (p *Participant) flushChat() {
	q := &p.chatOut
	for {
		q.mu.Lock()
		held := q.held
		q.held, q.bytes = nil, 0
		if len(held) == 0 {
			q.open = true
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		for _, framed := range held {
			p.sendChat(framed)
		}
	}
}

// dropHeldChat drops, and counts, what is still held for p when it
// leaves, and holds nothing more.
func (p *Participant) dropHeldChat() {
	q := &p.chatOut
	q.mu.Lock()
	n := len(q.held)
	q.held, q.bytes, q.closed = nil, 0, true
	q.mu.Unlock()
	p.sfu.chatDropped.Add(uint64(n))
}

// sendChat sends a relayed message on p's open channel, unless it has
// closed since or too much already waits for it.
func (p *Participant) sendChat(framed []byte) {
	dc := p.chat
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen || dc.BufferedAmount() > maxChatBuffered {
		p.sfu.chatDropped.Add(1)
		return
	}
	if err := dc.Send(framed); err != nil {
		p.sfu.chatDropped.Add(1)
		p.log.Debug("send chat", "err", err)
		return
	}
	p.sfu.chatRelayed.Add(1)
}
