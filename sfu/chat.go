package sfu

import (
	"errors"

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

// deliverChat sends a relayed message to p, unless its channel is not open
// or too much already waits for it.
func (p *Participant) deliverChat(framed []byte) {
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
