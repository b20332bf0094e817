// Package sfu forwards RTP between participants of one conference. It reads
// only RTP headers, header extensions and the clear prefix of each frame; it
// never holds a media key and knows nothing of HTTP or storage.
//
// The layering follows the roles of a conference:
//
//	SFU          the rooms of this node and the pion API they share
//	Room         the participants of one conference and what they publish
//	Participant  one PeerConnection; the client offers first, the SFU after
//	Track        one published remote track, its layers read once and fanned out
//	layer        one RTP stream of a Track: a simulcast layer (RID), or the only one
//	DownTrack    one Track as one subscriber receives it (a webrtc.TrackLocal),
//	             following one layer and switching at keyframes
//	LayerSelector  per subscriber, the layer of each video from its bandwidth
//	             estimate (GCC, bwe.go) and its tile sizes (simulcast.go)
//	writer       the per-subscriber queue and goroutine that write its packets
//
// Signaling reaches the SFU through Join, Participant.Signal and
// Participant.Leave; the SFU answers through the send func given to Join.
// Messages are protocol.Message values, the same the hub relays.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/internal/pionlog"
	"github.com/konsil/konsil/protocol"
)

// Errors callers branch on.
var (
	// ErrClosed: the SFU is shutting down and takes no participants.
	ErrClosed = errors.New("sfu: closed")
)

// Config wires an SFU to its host.
type Config struct {
	// SettingEngine carries the ICE setup: the media ports of
	// turn.MediaMux.SettingEngine in production, LoopbackSettingEngine in
	// tests. The zero value gathers on every interface with ephemeral ports.
	SettingEngine webrtc.SettingEngine
	// ICEServers are handed to the SFU's own PeerConnections; usually none,
	// since the SFU has a routable address of its own.
	ICEServers []webrtc.ICEServer
	// QueuePackets bounds each subscriber's queue of packets waiting to be
	// written; a subscriber whose queue is full loses packets, nobody else
	// does. Zero means 512.
	QueuePackets int
	// KeyframeInterval is the least time between two keyframe requests
	// (PLI) sent to one publisher for one track. Zero means 500 ms.
	KeyframeInterval time.Duration
	// ChatRate and ChatBurst bound the chat messages one participant may
	// send, per second and at once; more are dropped and counted. Zero
	// means 5 per second, bursts of 20.
	ChatRate  float64
	ChatBurst int
	// MaxSubscriptions caps the tracks this SFU forwards, counted once
	// per subscriber: a join that could exceed it is refused
	// (ErrServerFull, error server_full to the client). Zero means 2000.
	MaxSubscriptions int
	// MaxTrackBitrate caps each published track (each simulcast layer
	// of it), in bits per second of RTP (header and payload), with
	// bursts of one second's worth;
	// packets over it are dropped and counted. Zero means 8 Mbit/s,
	// negative none.
	MaxTrackBitrate int
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger

	// sendHook, tests only, is an interceptor ahead of SRTP on every
	// PeerConnection: a lossy network, before encryption as a real one.
	sendHook interceptor.Factory
}

// SFU holds the conference rooms of this node. Its state (rooms, closing)
// is guarded by mu; each Room guards its own members.
type SFU struct {
	cfg Config
	// media and settings are shared by every PeerConnection; each gets
	// an API of its own for its bandwidth estimator (bwe.go).
	media    *webrtc.MediaEngine
	settings webrtc.SettingEngine
	log      *slog.Logger

	mu      sync.Mutex
	rooms   map[string]*Room
	closing bool
	// wg counts participants not yet torn down.
	wg sync.WaitGroup

	// Totals of participants already gone; live ones are summed by Stats.
	goneForwarded, goneDropped atomic.Uint64
	// packets recycles packet buffers across all tracks.
	packets *packetPool
	// trackSeq numbers tracks for their ids.
	trackSeq atomic.Uint64
	// Chat messages relayed (one per receiver) and dropped (over a
	// limit, or a receiver that never became ready or is backed up).
	chatRelayed, chatDropped atomic.Uint64
	// keyframes counts VP8 keyframes seen in published video.
	keyframes atomic.Uint64
	// nackedUpstream counts sequence numbers asked of publishers;
	// goneRetransmitted the retransmissions of participants gone.
	nackedUpstream, goneRetransmitted atomic.Uint64
	goneBytes                         atomic.Uint64
	// keyframeRequests counts PLIs sent to publishers.
	keyframeRequests atomic.Uint64
	// layerSwitches counts simulcast layer switches of down tracks.
	layerSwitches atomic.Uint64
	// estimates summarises subscribers' bandwidth estimates.
	estimates estimateStats
	// subscriptions is the number of forwarded subscriptions now, under
	// MaxSubscriptions; refusedTracks counts tracks over the one audio,
	// one video limit; bitrateCapped packets over MaxTrackBitrate.
	subscriptions                atomic.Int64
	refusedTracks, bitrateCapped atomic.Uint64
	// tap, when set (tests only: export_test.go), sees every packet's
	// payload as the SFU forwards it.
	tap func(kind webrtc.RTPCodecType, payload []byte)
}

// New returns an SFU. It opens nothing: media ports belong to the
// SettingEngine passed in.
func New(cfg Config) (*SFU, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueuePackets <= 0 {
		cfg.QueuePackets = 512
	}
	if cfg.ChatRate <= 0 {
		cfg.ChatRate = 5
	}
	if cfg.ChatBurst <= 0 {
		cfg.ChatBurst = 20
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = defaultMaxSubscriptions
	}
	if cfg.MaxTrackBitrate == 0 {
		cfg.MaxTrackBitrate = defaultMaxTrackBitrate
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = 500 * time.Millisecond
	}
	media, err := newMediaEngine()
	if err != nil {
		return nil, fmt.Errorf("sfu: %w", err)
	}
	se := cfg.SettingEngine
	if se.LoggerFactory == nil {
		// pion's warnings on the server name client addresses: debug.
		se.LoggerFactory = pionlog.Factory(cfg.Logger, slog.LevelDebug)
	}
	return &SFU{cfg: cfg, media: media, settings: se, log: cfg.Logger, rooms: map[string]*Room{}, packets: newPacketPool()}, nil
}

// Codecs the SFU offers. One codec per kind keeps payload types fixed
// across all PeerConnections, so the SFU never transcodes and a subscriber
// can decode whatever any publisher sends.
var (
	codecOpus = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: transportCCFBTag}},
		},
		PayloadType: 111,
	}
	// Video has "nack" (RFC 4585 generic NACK): subscribers' NACKs are
	// answered from the track's packet cache, and the SFU NACKs
	// publishers for what the cache lacks. Audio has none: a late Opus
	// frame is as good as lost, and Opus has in-band FEC.
	codecVP8 = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
				{Type: transportCCFBTag}},
		},
		PayloadType: 96,
	}
)

// Header extensions the SFU negotiates. sdesMID and the RIDs let pion
// map a publisher's packets to their m-line and simulcast layer when the
// offer declares no SSRC; forwarded packets never carry them, as their
// values name the publisher's m-line and layer, not the subscriber's.
// transportCCURI carries the transport-wide sequence numbers TWCC
// feedback is about, both ways: publishers' browsers estimate their
// uplink from the SFU's feedback, and the SFU estimates each
// subscriber's downlink from theirs (bwe.go).
const (
	sdesMID          = "urn:ietf:params:rtp-hdrext:sdes:mid"
	sdesRID          = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
	sdesRepairedRID  = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
	transportCCURI   = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
	transportCCFBTag = "transport-cc"
)

// newMediaEngine builds the codecs and header extensions every
// PeerConnection of the SFU shares (each copies it).
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(codecOpus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(codecVP8, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{sdesMID, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdesRID, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdesRepairedRID, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{transportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		// Audio levels (RFC 6464) from publishers pick the active speaker.
		{audioLevelURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
	}
	for _, e := range exts {
		for _, kind := range e.kinds {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, kind); err != nil {
				return nil, fmt.Errorf("header extension %s: %w", e.uri, err)
			}
		}
	}
	return m, nil
}

// Join adds a participant to a room and starts its PeerConnection; the
// SFU's first offer goes out through send shortly after. send must not
// block (the hub queues). A participant already in the room with the same
// id is replaced: its PeerConnection closes and the new one starts over,
// which is how a reconnecting client gets a fresh offer.
func (s *SFU) Join(roomID, participantID string, send func(protocol.Message)) (*Participant, error) {
	p, err := newParticipant(s, roomID, participantID, send)
	if err != nil {
		return nil, fmt.Errorf("sfu: join %s: %w", roomID, err)
	}
	// The room is found and joined under s.mu, so that it cannot be
	// dropped as empty in between, nor Close miss the participant.
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		// Never in a room nor counted: its closing must not Leave.
		p.leaveOnce.Do(func() {})
		_ = p.pc.GracefulClose()
		return nil, ErrClosed
	}
	rm := s.rooms[roomID]
	if rm != nil && !s.fits(rm) {
		s.mu.Unlock()
		p.leaveOnce.Do(func() {})
		_ = p.pc.GracefulClose()
		p.log.Warn("join refused: subscription cap reached", "cap", s.cfg.MaxSubscriptions)
		send(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{
			Code: protocol.CodeServerFull, Message: "the media server is full; try again later"}})
		return nil, fmt.Errorf("sfu: join %s: %w", roomID, ErrServerFull)
	}
	if rm == nil {
		rm = newRoom(s, roomID)
		s.rooms[roomID] = rm
	}
	p.room = rm
	old := rm.add(p)
	s.wg.Add(1)
	s.mu.Unlock()
	if old != nil {
		old.log.Info("participant replaced by a new session")
		go old.close()
	}
	p.start()
	if id := rm.speakers.speaker(); id != "" {
		send(protocol.Message{Type: protocol.TypeSpeaker, Peer: &protocol.Peer{ID: id}})
	}
	return p, nil
}

// fits tells whether one more participant in rm stays within
// MaxSubscriptions, counting what it would receive and what the others
// would receive of it. Joins are checked under s.mu, so two cannot both
// take the last room. A participant replacing its own earlier session
// is counted anew, though the old one's subscriptions go soon after.
func (s *SFU) fits(rm *Room) bool {
	return s.subscriptions.Load()+int64(rm.subscriptionCost()) <= int64(s.cfg.MaxSubscriptions)
}

// takeSubscription counts one more subscription, unless that would go
// over MaxSubscriptions (tracks published after the joins were checked).
func (s *SFU) takeSubscription() bool {
	if s.subscriptions.Add(1) > int64(s.cfg.MaxSubscriptions) {
		s.subscriptions.Add(-1)
		return false
	}
	return true
}

// dropRoomIfEmpty forgets a room without participants.
func (s *SFU) dropRoomIfEmpty(rm *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[rm.id] == rm && rm.empty() {
		delete(s.rooms, rm.id)
	}
}

// Stats are running totals of this SFU.
type Stats struct {
	// Forwarded counts RTP packets written to subscribers, ForwardedBytes
	// their bytes (RTP header and payload, before SRTP).
	Forwarded, ForwardedBytes uint64
	// Dropped counts packets not queued because a subscriber's queue was
	// full.
	Dropped uint64
	// Participants and Tracks are the current numbers.
	Participants, Tracks int
	// ChatRelayed counts chat messages delivered (one per receiver);
	// ChatDropped those dropped: over the size or rate limit, beyond
	// what is held for a receiver whose channel is not open yet, still
	// held when that receiver left, or to a receiver backed up.
	ChatRelayed, ChatDropped uint64
	// Keyframes counts VP8 keyframes published, as the SFU sees them in
	// the clear prefix of (encrypted) frames.
	Keyframes uint64
	// Retransmitted counts packets resent to subscribers from a packet
	// cache, on their NACKs; NackedUpstream the sequence numbers the SFU
	// asked publishers for because the cache lacked them.
	Retransmitted, NackedUpstream uint64
	// KeyframeRequests counts PLIs sent to publishers.
	KeyframeRequests uint64
	// Subscriptions is the number of forwarded subscriptions now.
	Subscriptions int
	// RefusedTracks counts published tracks refused over the limit of
	// one audio and one video per participant; BitrateCapped packets
	// dropped over MaxTrackBitrate.
	RefusedTracks, BitrateCapped uint64
	// LayerSwitches counts simulcast layer switches of down tracks.
	LayerSwitches uint64
}

// Stats returns the running totals.
func (s *SFU) Stats() Stats {
	st := Stats{Forwarded: s.goneForwarded.Load(), Dropped: s.goneDropped.Load(),
		ChatRelayed: s.chatRelayed.Load(), ChatDropped: s.chatDropped.Load(), Keyframes: s.keyframes.Load(),
		Retransmitted: s.goneRetransmitted.Load(), NackedUpstream: s.nackedUpstream.Load(),
		ForwardedBytes: s.goneBytes.Load(), KeyframeRequests: s.keyframeRequests.Load(),
		Subscriptions: int(s.subscriptions.Load()), RefusedTracks: s.refusedTracks.Load(), BitrateCapped: s.bitrateCapped.Load(),
		LayerSwitches: s.layerSwitches.Load()}
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, rm := range s.rooms {
		rooms = append(rooms, rm)
	}
	s.mu.Unlock()
	for _, rm := range rooms {
		rm.addStats(&st)
	}
	return st
}

// Close tears down every participant and waits for their goroutines.
func (s *SFU) Close() error {
	s.mu.Lock()
	s.closing = true
	var all []*Participant
	for _, rm := range s.rooms {
		all = append(all, rm.members()...)
	}
	s.mu.Unlock()
	for _, p := range all {
		p.Leave()
	}
	s.wg.Wait()
	return nil
}
