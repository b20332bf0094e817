package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// run is one execution of a Config. The participants slice is fixed
// before the ramp starts; each participant guards its own state.
type run struct {
	cfg       Config
	log       *slog.Logger
	epoch     time.Time
	transport *http.Transport
	api       roomAPI

	measuring atomic.Bool
	stopMedia chan struct{}
	sources   sync.WaitGroup

	// Every phase, for the live line and the timeline.
	rxPackets, rxBytes, txBytes atomic.Uint64
	joined, failed              atomic.Int64

	rooms        []string // ids, to delete
	participants []*participant
	// settled is how long media ran after the last join before measuring.
	settled time.Duration
	// baseline is the server and bench before the first join.
	baseline point

	// Owned by the sampler until it stops.
	timeline []Sample
}

// now is the time since the run's epoch, on the monotonic clock: senders
// and receivers are in this process, so one clock stamps and reads.
func (r *run) now() time.Duration { return time.Since(r.epoch) }

// Run executes cfg against cfg.URL and returns its report. It creates the
// rooms, ramps the participants up at cfg.RampRate, measures for
// cfg.Duration once they are in, then closes everyone and deletes the
// rooms, whatever happened. A run in which nobody joined is an error,
// returned with the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	r := &run{
		cfg: cfg, log: log, epoch: time.Now(), transport: tr,
		stopMedia: make(chan struct{}),
	}
	r.api = roomAPI{hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}, base: cfg.URL, key: cfg.APIKey}
	defer tr.CloseIdleConnections()
	// The hard bound of the whole run: ramp, the last join, measuring,
	// and half a minute to leave and clean up.
	ramp := time.Duration(float64(cfg.Participants()) / cfg.RampRate * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, ramp+cfg.JoinTimeout+settleMax+cfg.Duration+30*time.Second)
	defer cancel()
	return r.execute(ctx)
}

func (r *run) execute(ctx context.Context) (*Report, error) {
	secrets, keys, err := r.createRooms(ctx)
	defer r.deleteRooms()
	if err != nil {
		return nil, err
	}
	sampler := newSampler(r)
	r.baseline = sampler.snapshot(ctx)
	samplerDone := make(chan struct{})
	samplerCtx, stopSampler := context.WithCancel(ctx)
	go func() {
		defer close(samplerDone)
		sampler.loop(samplerCtx)
	}()

	r.rampUp(ctx, secrets, keys)
	var w window
	measured := r.joined.Load() > 0 && ctx.Err() == nil
	if measured {
		w = r.measure(ctx, sampler)
	}
	stopSampler()
	<-samplerDone
	r.timeline = sampler.timeline
	if r.cfg.Progress != nil {
		fmt.Fprintln(r.cfg.Progress)
	}
	close(r.stopMedia)
	r.sources.Wait()
	r.leaveAll()
	rep := r.report(w)
	if !measured {
		return rep, fmt.Errorf("bench: nothing measured: %d of %d joined (%d failed): %s",
			r.joined.Load(), len(r.participants), r.failed.Load(), firstError(r.participants))
	}
	return rep, nil
}

// createRooms makes the run's rooms and their participants; for
// conferences with E2EE, a room secret each and the keys to read it.
func (r *run) createRooms(ctx context.Context) ([][]byte, []*roomKeys, error) {
	size := r.cfg.RoomSize()
	hours := int((r.cfg.Duration+r.cfg.JoinTimeout)/time.Hour) + 2
	secrets := make([][]byte, r.cfg.Rooms)
	keys := make([]*roomKeys, r.cfg.Rooms)
	for i := range r.cfg.Rooms {
		room, err := r.api.create(ctx, size, hours, time.Now())
		if err != nil {
			return nil, nil, err
		}
		r.rooms = append(r.rooms, room.ID)
		for j, pt := range room.Participants {
			r.participants = append(r.participants, &participant{room: i, index: j, role: r.roleOf(j), token: pt.Token})
		}
		if r.cfg.E2EE {
			secrets[i] = make([]byte, 32)
			if _, err := rand.Read(secrets[i]); err != nil {
				return nil, nil, err
			}
			if r.cfg.Scenario != P2P {
				if keys[i], err = newRoomKeys(secrets[i]); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	r.log.Info("rooms created", "rooms", len(r.rooms), "participants", len(r.participants))
	return secrets, keys, nil
}

func (r *run) roleOf(index int) role {
	switch {
	case r.cfg.Scenario == P2P || index < r.cfg.VideoPublishers:
		return roleVideo
	case index < r.cfg.VideoPublishers+r.cfg.AudioPublishers:
		return roleAudio
	}
	return roleSubscriber
}

// deleteRooms removes every room the run made, on a context of its own:
// the run's may be over.
func (r *run) deleteRooms() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, id := range r.rooms {
		if err := r.api.delete(ctx, id); err != nil {
			r.log.Warn("delete room", "room", id, "err", err)
		}
	}
}

// rampUp starts one join every 1/RampRate and waits for all of them,
// each bounded by JoinTimeout.
func (r *run) rampUp(ctx context.Context, secrets [][]byte, keys []*roomKeys) {
	var wg sync.WaitGroup
	every := time.Duration(float64(time.Second) / r.cfg.RampRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i, p := range r.participants {
		if i > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-tick.C:
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			jctx, cancel := context.WithTimeout(ctx, r.cfg.JoinTimeout)
			defer cancel()
			var err error
			if r.cfg.Scenario == P2P {
				err = r.joinCall(jctx, p, secrets[p.room])
			} else {
				err = r.joinConference(jctx, p, secrets[p.room], keys[p.room])
			}
			if err != nil {
				p.fail(err)
				r.failed.Add(1)
				r.log.Warn("join failed", "room", p.room, "index", p.index, "err", err)
				return
			}
			r.joined.Add(1)
		}()
	}
	wg.Wait()
}

// settle is how long media flows after the last join before measuring:
// subscribers that joined last wait for the next keyframe.
func (r *run) settle() time.Duration {
	return min(r.cfg.KeyframeInterval+500*time.Millisecond, 5*time.Second)
}

// Simulcast settling: the SFU starts each subscriber low and raises its
// layers as its bandwidth estimate (GCC) grows, some 8 % a second, so
// the first seconds are a climb, not the steady load to measure. The
// run waits until no video stream has changed layer for layersQuiet,
// but at most settleMax.
const (
	layersQuiet = 3 * time.Second
	settleMax   = 30 * time.Second
)

// settleLayers waits, after the keyframe settle, until the video
// streams' layers are steady (see layersQuiet), polling every 250 ms,
// and returns how long the whole settle took.
func (r *run) settleLayers(ctx context.Context, start time.Duration) time.Duration {
	if r.publishedLayers() == 1 {
		return r.now() - start
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for r.now()-start < settleMax && !r.layersSteady(r.now()) {
		select {
		case <-ctx.Done():
			return r.now() - start
		case <-tick.C:
		}
	}
	return r.now() - start
}

// layersSteady: every video stream has frames and none changed layer in
// the last layersQuiet.
func (r *run) layersSteady(now time.Duration) bool {
	for _, p := range r.participants {
		p.mu.Lock()
		streams := slices.Clone(p.streams)
		p.mu.Unlock()
		for _, s := range streams {
			if s.kind != "video" {
				continue
			}
			at, ok := s.steadySince()
			if !ok || now-at < layersQuiet {
				return false
			}
		}
	}
	return true
}

// measure lets the load run for Duration and returns the window.
func (r *run) measure(ctx context.Context, s *sampler) window {
	settleStart := r.now()
	select {
	case <-ctx.Done():
	case <-time.After(r.settle()):
	}
	r.settled = r.settleLayers(ctx, settleStart)
	start := s.snapshot(ctx)
	r.measuring.Store(true)
	select {
	case <-ctx.Done():
	case <-time.After(r.cfg.Duration):
	}
	r.measuring.Store(false)
	end := s.snapshot(context.WithoutCancel(ctx))
	return window{start: start, end: end}
}

// leaveAll closes every participant at once and waits at most
// leaveTimeout: a stuck close must not hold the rooms' deletion.
func (r *run) leaveAll() {
	const leaveTimeout = 15 * time.Second
	var wg sync.WaitGroup
	for _, p := range r.participants {
		p.mu.Lock()
		c := p.conn
		p.mu.Unlock()
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Close()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(leaveTimeout):
		r.log.Warn("participants still closing; deleting the rooms anyway")
	}
}

func firstError(ps []*participant) string {
	for _, p := range ps {
		p.mu.Lock()
		err := p.err
		p.mu.Unlock()
		if err != nil {
			return err.Error()
		}
	}
	return "no error recorded"
}

// localServer: the server is another process on this machine (a
// loopback URL, not in this process), so the machine's CPU is split
// between server, bench and whatever else runs.
func (r *run) localServer() bool { return r.cfg.LoopbackOnly && !r.cfg.ServerInProcess }

// cores is the number of CPUs this process may use.
func cores() int { return runtime.GOMAXPROCS(0) }
