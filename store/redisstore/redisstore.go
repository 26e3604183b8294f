package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

// SchemaVersion is the layout version this package writes under the
// "version" key. Version 2 leaves a new row's empty and zero fields out,
// which version 1 code does not read right (RunCount), and keeps only
// recurring rows in the recoverable index. Version 3 keeps the retention
// entries of finished rows in lists per second instead of one sorted set
// per status. Version 4 adds the due index per queue and the lease index
// of cluster mode (store.Cluster), which every step keeps. Opening an older
// prefix brings it to version 4 (the one-shot rows leave the recoverable
// index, the retention entries move to the lists, the due and lease
// indexes are built from the rows) and raises the version; older code then
// refuses the prefix instead of misreading it or writing rows those indexes
// would miss.
const SchemaVersion = 4

// raiseVersion sets the version key to ARGV[2] if it still holds ARGV[1].
var raiseVersion = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end return 1`)

// DefaultPrefix is the key prefix when Opts.Prefix is empty.
const DefaultPrefix = "evertask:"

// DefaultListScanLimit bounds the index entries one List call examines.
const DefaultListScanLimit = 10000

// Opts configures a Store. A nil *Opts means the defaults.
type Opts struct {
	// Prefix starts every key, so several applications share one Redis.
	// Default DefaultPrefix. Unless it already holds a hash tag ("{...}"),
	// it is wrapped in one: the keys are "{<Prefix>}t:<id>" and so on, all
	// in one cluster slot (see the package documentation).
	Prefix string

	// ListScanLimit is the most index entries one List call examines when
	// its filter is not answered by an index alone (Kind, Recurring,
	// Search, or rows changing under the read). When it is reached, the
	// page is returned with fewer than Limit rows and a Next cursor to
	// continue from. Default DefaultListScanLimit.
	ListScanLimit int

	// ReadOnly makes New write nothing: a prefix with no version key (no
	// evertask data, or a mistyped prefix) is an error wrapping ErrNoData
	// instead of a new empty store, and an older layout is an error
	// instead of an upgrade. For tools that only read, such as the CLI's
	// read commands. It does not stop the store's write methods.
	ReadOnly bool
}

// ErrNoData is returned by New with Opts.ReadOnly when the prefix holds no
// evertask data (no version key).
var ErrNoData = errors.New("redisstore: no evertask data under this prefix")

// Store is a store.Store on Redis 7 through go-redis v9. It is safe for
// concurrent use. It never closes the client it was given.
type Store struct {
	rdb       redis.UniversalClient
	p         string   // key prefix, hash tag included
	routeKey  []string // KEYS of every script call
	scanLimit int
	readOnly  bool
	closed    atomic.Bool
	done      chan struct{} // closed by Close: ends the subscriptions

	liveMu sync.Mutex
	live   map[string]*liveConn // node id -> its liveness connection (cluster.go)
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.RecurringStore  = (*Store)(nil)
	_ store.BatchStore      = (*Store)(nil)
	_ store.RecoveryCounter = (*Store)(nil)
	_ store.Counter         = (*Store)(nil)
	_ store.Retainer        = (*Store)(nil)
)

// New opens a store on client. It checks the schema version key (writing
// it on an empty prefix) and loads the scripts. Data written by a newer
// version is an error wrapping store.ErrSchemaVersion; an unreachable
// server wraps store.ErrUnavailable.
func New(ctx context.Context, client redis.UniversalClient, opts *Opts) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil redis client", store.ErrInvalid)
	}
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.ListScanLimit <= 0 {
		o.ListScanLimit = DefaultListScanLimit
	}
	p := o.Prefix
	if i := strings.IndexByte(p, '{'); i < 0 || !strings.Contains(p[i+1:], "}") || strings.HasPrefix(p[i+1:], "}") {
		p = "{" + p + "}"
	}
	s := &Store{
		rdb: client, p: p, routeKey: []string{p + "all"}, scanLimit: o.ListScanLimit,
		done: make(chan struct{}), live: map[string]*liveConn{}, readOnly: o.ReadOnly,
	}
	if err := s.checkVersion(ctx); err != nil {
		return nil, err
	}
	if err := loadScripts(ctx, client); err != nil {
		return nil, fmt.Errorf("load scripts: %w", mapErr(err))
	}
	return s, nil
}

func (s *Store) checkVersion(ctx context.Context) error {
	k := s.p + "version"
	if !s.readOnly {
		if err := s.rdb.SetNX(ctx, k, SchemaVersion, 0).Err(); err != nil {
			return fmt.Errorf("schema version: %w", mapErr(err))
		}
	}
	v, err := s.rdb.Get(ctx, k).Result()
	if s.readOnly && errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: key %s does not exist", ErrNoData, k)
	}
	if err != nil {
		return fmt.Errorf("schema version: %w", mapErr(err))
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%w: key %s holds %q, not a version number", store.ErrSchemaVersion, k, v)
	}
	if n > SchemaVersion {
		return fmt.Errorf("%w: prefix %s has version %d, this build knows %d", store.ErrSchemaVersion, s.p, n, SchemaVersion)
	}
	if n < 1 {
		return fmt.Errorf("%w: key %s holds version %d", store.ErrSchemaVersion, k, n)
	}
	if n == SchemaVersion {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("%w: prefix %s has the older layout %d; open it without ReadOnly once to upgrade it to %d", store.ErrSchemaVersion, s.p, n, SchemaVersion)
	}
	// Each step is idempotent: a process that stops half way leaves the
	// old version, and the next open starts again.
	if n == 1 {
		if err := s.upgradeFrom1(ctx); err != nil {
			return fmt.Errorf("schema version: raise %d to %d: %w", n, SchemaVersion, err)
		}
	}
	if n < 3 {
		for _, st := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCancelled} {
			if err := s.upgradeFin(ctx, st); err != nil {
				return fmt.Errorf("schema version: raise %d to %d: %w", n, SchemaVersion, err)
			}
		}
	}
	if err := s.upgradeFrom3(ctx); err != nil {
		return fmt.Errorf("schema version: raise %d to %d: %w", n, SchemaVersion, err)
	}
	if err := raiseVersion.Run(ctx, s.rdb, []string{k}, n, SchemaVersion).Err(); err != nil {
		return fmt.Errorf("schema version: raise %d to %d: %w", n, SchemaVersion, mapErr(err))
	}
	return nil
}

// upgradeFrom1 takes the one-shot rows out of the recoverable index, a
// page of 1000 entries per script. (A version 1 process still running adds
// one-shot rows there until it stops; those entries are harmless, since
// RetrievePending checks every row it reads, and go with their rows.)
func (s *Store) upgradeFrom1(ctx context.Context) error {
	lo := "-"
	for {
		last, err := s.run(ctx, scriptUpgradeV1, lo, 1000).Text()
		if err != nil {
			return mapErr(err)
		}
		if last == "" {
			return nil
		}
		lo = "(" + last
	}
}

// upgradeFrom3 builds the due and lease indexes from the rows, a page of
// 1000 rows per script. Rows a version 3 process writes meanwhile are not
// indexed until a version 4 step writes them again: stop the older
// processes before opening a prefix with this version (their next open
// refuses it).
func (s *Store) upgradeFrom3(ctx context.Context) error {
	lo := "-"
	for {
		last, err := s.run(ctx, scriptUpgradeV3, lo, 1000).Text()
		if err != nil {
			return mapErr(err)
		}
		if last == "" {
			return nil
		}
		lo = "(" + last
	}
}

// upgradeFin moves the retention entries of one status from the sorted set
// of versions 1 and 2 to the lists of version 3, 1000 per script, until
// the set is gone. Purge calls it too: a version 2 process still running
// writes to the set until it stops.
func (s *Store) upgradeFin(ctx context.Context, st store.Status) error {
	for {
		n, err := s.run(ctx, scriptUpgradeV2, string(st), 1000).Int64()
		if err != nil {
			return mapErr(err)
		}
		if n == 0 {
			return nil
		}
	}
}

// Close marks the store closed: every later call returns store.ErrClosed.
// It ends the subscriptions and closes the liveness connections of the
// nodes that joined through it (without unregistering them: other nodes
// then see them gone). The client stays open; it belongs to the caller.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	s.closeLive()
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

func (s *Store) taskKey(id string) string { return s.p + "t:" + id }

// run runs a script. KEYS[1] is the "all" index: the scripts build the
// keys they touch from the prefix in ARGV[1], all in the slot of its hash
// tag, and KEYS[1] is what routes the call to that slot's node on a
// cluster client. ARGV[2] is a random id of the call: when go-redis sends
// the call again because the connection dropped before the reply, the
// scripts that are not idempotent recognise their own earlier write by it
// and answer as the first run did (see lua/lib.lua).
func (s *Store) run(ctx context.Context, sc *redis.Script, args ...any) *redis.Cmd {
	op := strconv.FormatUint(rand.Uint64(), 36)
	return sc.Run(ctx, s.rdb, s.routeKey, append([]any{s.p, op}, args...)...)
}

// transitionArgs are the script arguments of one transition; the audit
// policy is decided here, in Go, with store.StatusAuditRequired. The four
// flags travel as one argument: every argument costs the script a string.
// A fence or a lease adds a fifth flag and their three arguments, so a
// transition without them sends nothing more.
func transitionArgs(p *store.TransitionParams) []any {
	stamp := store.StampsLastExecution(p.To)
	flags := boolField(stamp) + boolField(p.To.Terminal()) +
		boolField(store.StatusAuditRequired(p.AuditLevel, p.To, p.Error)) + boolField(p.IfRecoverable)
	cluster := p.HeldBy != "" || p.Lease != nil
	if cluster {
		flags += "1"
	}
	args := []any{
		p.ID.String(), string(p.To), micros(p.Now), p.Error,
		strconv.FormatInt(p.ExecutionTime.Microseconds(), 10), flags, len(p.From),
	}
	for _, f := range p.From {
		args = append(args, string(f))
	}
	if cluster {
		owner, lease := "", int64(0)
		if p.Lease != nil {
			owner, lease = p.Lease.Owner, leaseMicros(p.Lease.For)
		}
		args = append(args, p.HeldBy, owner, lease)
	}
	return args
}

func runsAuditMode(level store.AuditLevel) string {
	switch level {
	case store.AuditNone:
		return "none"
	case store.AuditErrorsOnly:
		return "err"
	}
	return "all"
}

// MaxConcurrentWrites implements store.WriteConcurrency: Redis runs one
// script at a time, but several batches in flight overlap their round trips.
func (s *Store) MaxConcurrentWrites() int { return 4 }
