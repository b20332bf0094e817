// Package redisstore keeps the store (package store) in Redis, so that
// several Konsil nodes share tenants, keys, rooms, credentials, call
// counts and the practice workspace. It behaves as the bbolt store does:
// the same errors, the same checks, and what bbolt does in one
// transaction happens here at once too (WATCH, then MULTI/EXEC), so that
// two nodes racing for an id, a hash or a room's call count cannot both
// win. It keeps no server secret: the pepper and the session keys live in
// the key file (package keyring). Placement of rooms on nodes and
// cross-node signaling belong to other packages.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/konsil/konsil/store"
)

// DefaultPrefix starts every key the store writes, so that Konsil can
// share a Redis with other programs and tests can share one server.
const DefaultPrefix = "konsil:"

const (
	// maxAttempts bounds the retries of a transaction whose watched keys
	// changed under it. Each round lets at least one contender commit,
	// so this many writers of one key at the same moment still finish.
	maxAttempts = 100
	// pingTimeout bounds the reachability check of Open.
	pingTimeout = 5 * time.Second
)

// errConflict is returned when a transaction lost maxAttempts races in a
// row: a key under heavy concurrent writes, not a fault of the caller.
var errConflict = errors.New("too many concurrent changes, try again")

// Store is the store.Store on Redis. Its only state is the go-redis
// client, which pools connections and is safe for concurrent use; so is
// Store.
type Store struct {
	rdb *redis.Client
	k   keys
}

var _ store.Store = (*Store)(nil)

// Options configure Open.
type Options struct {
	// URL is a redis:// or rediss:// URL with optional user, password
	// and database number, e.g. redis://:secret@10.0.0.5:6379/0.
	URL string
	// Prefix starts every key; DefaultPrefix when empty.
	Prefix string
}

// Open connects to Redis and checks that it answers, so that a server
// with a wrong URL fails at start rather than at its first join.
func Open(ctx context.Context, opts Options) (*Store, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		// The URL may hold a password: name only the problem.
		return nil, fmt.Errorf("redis store: bad URL: %w", redactURL(err, opts.URL))
	}
	rdb := redis.NewClient(ro)
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis store: %s is unreachable: %w", ro.Addr, err)
	}
	return New(rdb, opts.Prefix), nil
}

// New makes a Store on a client the caller configured; Close closes it.
func New(rdb *redis.Client, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{rdb: rdb, k: keys{prefix: prefix}}
}

// Close closes the client's connections.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("close redis store: %w", err)
	}
	return nil
}

// redactURL keeps a parse error from repeating the URL, which may hold a
// password.
func redactURL(err error, url string) error {
	if url == "" {
		return errors.New("empty URL")
	}
	msg := strings.ReplaceAll(err.Error(), url, "<url>")
	msg = strings.ReplaceAll(msg, strconv.Quote(url), "<url>")
	return errors.New(msg)
}

// view runs fn on the client without a transaction: a read of several
// keys may see one write and miss the next, as a bbolt read never does,
// but every reader here tolerates that (an index entry without its
// record is skipped, a record without its index entry is not listed).
func (s *Store) view(ctx context.Context, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(&txn{ctx: ctx, k: s.k, rd: s.rdb})
}

// update runs fn as one optimistic transaction: every key fn reads is
// WATCHed first, fn's writes are queued and run in MULTI/EXEC, and if a
// watched key changed in between nothing is written and fn runs again
// on fresh data. That gives what bbolt's one writer at a time gives:
// checks and writes that no other node's write can come between.
func (s *Store) update(ctx context.Context, fn func(t *txn) error) error {
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			t := &txn{ctx: ctx, k: s.k, rd: tx, tx: tx}
			if err := fn(t); err != nil {
				return err
			}
			return t.commit()
		})
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return err
	}
	return errConflict
}
