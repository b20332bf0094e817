package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/konsil/konsil/store"
)

// txn is one run of a view or an update. Reads go to Redis at once (in
// an update each key is WATCHed before it is read); writes are queued
// and run together by commit. Unlike a bbolt transaction, a txn does not
// see its own queued writes: code that reads after writing must track
// what it wrote (CreateRoom's seen hashes).
type txn struct {
	ctx context.Context
	k   keys
	rd  redis.Cmdable
	tx  *redis.Tx // nil in a view
	ops []func(redis.Pipeliner)
}

// watch marks keys so that commit fails if another client writes them
// first. A view watches nothing.
func (t *txn) watch(keys ...string) error {
	if t.tx == nil || len(keys) == 0 {
		return nil
	}
	return t.tx.Watch(t.ctx, keys...).Err()
}

// commit runs the queued writes in MULTI/EXEC; redis.TxFailedErr when a
// watched key changed.
func (t *txn) commit() error {
	if len(t.ops) == 0 {
		return nil
	}
	if t.tx == nil {
		return errors.New("write in a read-only view")
	}
	_, err := t.tx.TxPipelined(t.ctx, func(p redis.Pipeliner) error {
		for _, op := range t.ops {
			op(p)
		}
		return nil
	})
	return err
}

// Reads.

// getJSON decodes the value at key into v and reports whether it was
// there.
func (t *txn) getJSON(key string, v any) (bool, error) {
	data, found, err := t.get(key)
	if err != nil || !found {
		return found, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode record: %w", err)
	}
	return true, nil
}

// getRecord decodes the record at key; store.ErrNotFound when absent.
func getRecord[R any](t *txn, key string) (R, error) {
	var rec R
	found, err := t.getJSON(key, &rec)
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return rec, err
}

// get returns the raw value at key.
func (t *txn) get(key string) ([]byte, bool, error) {
	if err := t.watch(key); err != nil {
		return nil, false, err
	}
	data, err := t.rd.Get(t.ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// getMany returns the raw values at keys, nil where a key is absent.
func (t *txn) getMany(keys []string) ([][]byte, error) {
	if err := t.watch(keys...); err != nil {
		return nil, err
	}
	vals, err := t.rd.MGet(t.ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i] = []byte(str)
		}
	}
	return out, nil
}

// exists tells whether key is there.
func (t *txn) exists(key string) (bool, error) {
	if err := t.watch(key); err != nil {
		return false, err
	}
	n, err := t.rd.Exists(t.ctx, key).Result()
	return n > 0, err
}

// members returns the members of the set at key, sorted bytewise as
// bbolt's keys are.
func (t *txn) members(key string) ([]string, error) {
	if err := t.watch(key); err != nil {
		return nil, err
	}
	m, err := t.rd.SMembers(t.ctx, key).Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(m)
	return m, nil
}

// hasMembers tells whether the set at key is non-empty.
func (t *txn) hasMembers(key string) (bool, error) {
	if err := t.watch(key); err != nil {
		return false, err
	}
	n, err := t.rd.SCard(t.ctx, key).Result()
	return n > 0, err
}

// hget returns a field of the hash at key.
func (t *txn) hget(key, field string) (string, bool, error) {
	if err := t.watch(key); err != nil {
		return "", false, err
	}
	v, err := t.rd.HGet(t.ctx, key, field).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return v, err == nil, err
}

// hvals returns the values of the hash at key.
func (t *txn) hvals(key string) ([]string, error) {
	if err := t.watch(key); err != nil {
		return nil, err
	}
	return t.rd.HVals(t.ctx, key).Result()
}

// dueBy returns the members of the sorted set at key whose time is in a
// second up to and including t's: candidates, which the caller checks
// against the record. Not watched: each candidate is then read (and so
// watched) in a transaction of its own.
func (t *txn) dueBy(key string, at time.Time) ([]string, error) {
	return t.rd.ZRangeByScore(t.ctx, key, &redis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(at.Unix()),
	}).Result()
}

// Writes, queued for commit.

func (t *txn) queue(op func(p redis.Pipeliner)) { t.ops = append(t.ops, op) }

func (t *txn) setJSON(key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	t.queue(func(p redis.Pipeliner) { p.Set(t.ctx, key, data, 0) })
	return nil
}

func (t *txn) set(key, value string) {
	t.queue(func(p redis.Pipeliner) { p.Set(t.ctx, key, value, 0) })
}

func (t *txn) del(keys ...string) {
	if len(keys) > 0 {
		t.queue(func(p redis.Pipeliner) { p.Del(t.ctx, keys...) })
	}
}

func (t *txn) sadd(key, member string) {
	t.queue(func(p redis.Pipeliner) { p.SAdd(t.ctx, key, member) })
}

func (t *txn) srem(key, member string) {
	t.queue(func(p redis.Pipeliner) { p.SRem(t.ctx, key, member) })
}

func (t *txn) hset(key, field, value string) {
	t.queue(func(p redis.Pipeliner) { p.HSet(t.ctx, key, field, value) })
}

func (t *txn) hdel(key, field string) {
	t.queue(func(p redis.Pipeliner) { p.HDel(t.ctx, key, field) })
}

func (t *txn) hincr(key, field string) {
	t.queue(func(p redis.Pipeliner) { p.HIncrBy(t.ctx, key, field, 1) })
}

// zadd files member under at's second in the sorted set at key.
func (t *txn) zadd(key, member string, at time.Time) {
	t.queue(func(p redis.Pipeliner) {
		p.ZAdd(t.ctx, key, redis.Z{Score: float64(at.Unix()), Member: member})
	})
}

func (t *txn) zrem(key, member string) {
	t.queue(func(p redis.Pipeliner) { p.ZRem(t.ctx, key, member) })
}
