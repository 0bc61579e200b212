package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the bbolt file this code writes. A store
// with a higher number was written by a newer pbxtopo and is refused.
// Open migrates an older store up to it (migrate.go).
const SchemaVersion = 3

// Config configures a Store.
type Config struct {
	// Path is the bbolt file.
	Path string
	// Replica is this replica's cluster name. Required to create a store;
	// when set for an existing store it must match.
	Replica string
	// Site is this replica's site, the scope of its site-only tables.
	Site string
	// Incarnation, when not zero, is the id a new store takes instead of a
	// random one: simulations set it so a seed replays exactly.
	Incarnation uint64
	// SiteTables reports whether a table is site-only (replicated only
	// within the site). Nil means every table is enterprise-wide.
	SiteTables func(table string) bool
	// ReadOnly opens the file read-only; every write fails with ErrReadOnly.
	ReadOnly bool
	// HistoryRetention is how long every version of a record is kept.
	HistoryRetention time.Duration
	// MaxLogEntries caps the change log; the oldest entries go first.
	MaxLogEntries int
	// MinFreeBytes: with less free space on its disk the store refuses
	// writes (disk-full read-only mode, ErrDiskFull) until space is back.
	MinFreeBytes int64
	// DiskProbe is how often the free space is checked.
	DiskProbe time.Duration
	// ResidentTrim is how often the mapped file's pages leave the
	// process's resident set (resident.go); 0: never.
	ResidentTrim time.Duration
	// MaxSkew is how far ahead of the local clock a remote timestamp may
	// be before the skew alarm counts it.
	MaxSkew time.Duration
	// MaxBatch bounds the write requests that share one commit.
	MaxBatch int
	// OpenTimeout is how long to wait for another process's file lock.
	OpenTimeout time.Duration
	// Now is the clock; time.Now when nil. Chaos runs give a simulated one.
	Now func() time.Time
	// Logger receives the store's log lines.
	Logger *slog.Logger
	// Sealer, when set, encrypts secret values at rest (see seal.go).
	Sealer Sealer
}

// DefaultConfig returns the defaults for a store at path.
func DefaultConfig(path string) Config {
	return Config{
		Path:             path,
		HistoryRetention: 30 * 24 * time.Hour,
		MaxLogEntries:    5_000_000,
		MinFreeBytes:     64 << 20,
		DiskProbe:        5 * time.Second,
		ResidentTrim:     30 * time.Second,
		MaxSkew:          5 * time.Second,
		MaxBatch:         256,
		OpenTimeout:      time.Second,
	}
}

// Store is the local authoritative store of one replica.
type Store struct {
	cfg         Config
	dbMu        sync.RWMutex // held for writing only while Restore or CompactOnline swaps the file
	db          *bolt.DB
	log         *slog.Logger
	replica     string
	site        string
	incarnation uint64 // changes only by an identity op (a Raft cluster adopts its leader's)

	mu      sync.Mutex // guards the fields below, the committed state
	summary Summary
	pruned  Summary
	lsn     uint64
	first   uint64 // the oldest log entry kept
	hlc     HLC
	horizon Summary       // what every replica had seen at the last tombstone purge
	changed chan struct{} // closed and replaced after each commit that logs changes
	skew    uint64        // remote timestamps beyond MaxSkew
	// diskFull: the disk-full read-only mode (disk.go).
	diskFull atomic.Bool
	resumeAt atomic.Int64 // free bytes needed to leave it
	commits  uint64       // bbolt transactions committed
	// tableWrites counts, per table, the committed transactions that wrote
	// one of its records; restores counts restores (TableWrites).
	tableWrites map[string]uint64
	restores    uint64

	reqs      chan *request
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Bucket names.
var (
	bMeta      = []byte("meta")
	bSummary   = []byte("summary")
	bPruned    = []byte("pruned")
	bLog       = []byte("log")
	bDots      = []byte("dots")
	bConflicts = []byte("conflicts")
	bTombs     = []byte("tombstones")
	bDigest    = []byte("digest")
	bStatus    = []byte("status")
	bTables    = []byte("tables") // holds one sub-bucket per table
	bLocal     = []byte("local")  // this replica's own key-value space, never replicated
	bGraphs    = []byte("graphs") // index of the records with a change graph (view.go)
)

var allBuckets = [][]byte{bMeta, bSummary, bPruned, bLog, bDots, bConflicts, bTombs, bDigest, bStatus, bTables, bLocal, bGraphs}

// Meta keys.
var (
	kSchema      = []byte("schema")
	kReplica     = []byte("replica")
	kIncarnation = []byte("incarnation")
	kSite        = []byte("site")
	kLSN         = []byte("lsn")
	kHLC         = []byte("hlc")
	kAgent       = []byte("agent")
	kCreated     = []byte("created")
	kHorizon     = []byte("horizon")
	kRaftIndex   = []byte("raft_index")
	kIdentity    = []byte("identity")
)

// Open opens or creates the store at cfg.Path.
func Open(cfg Config) (*Store, error) {
	def := DefaultConfig(cfg.Path)
	if cfg.HistoryRetention == 0 {
		cfg.HistoryRetention = def.HistoryRetention
	}
	if cfg.MaxLogEntries == 0 {
		cfg.MaxLogEntries = def.MaxLogEntries
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = def.MaxSkew
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = def.MinFreeBytes
	}
	if cfg.DiskProbe == 0 {
		cfg.DiskProbe = def.DiskProbe
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = def.MaxBatch
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = def.OpenTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SiteTables == nil {
		cfg.SiteTables = func(string) bool { return false }
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("store: no path: set data_dir")
	}
	if !cfg.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	} else if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{cfg: cfg, log: cfg.Logger, changed: make(chan struct{})}
	db, err := bolt.Open(cfg.Path, 0o600, s.boltOptions())
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store %s: %w (is an agent running on it? stop it, or use its API with --addr)", cfg.Path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", cfg.Path, err)
	}
	s.db = db
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if !cfg.ReadOnly {
		if err := s.reindexConflicts(); err != nil {
			db.Close()
			return nil, fmt.Errorf("store %s: %w", cfg.Path, err)
		}
		s.reqs = make(chan *request, cfg.MaxBatch)
		s.quit = make(chan struct{})
		s.done = make(chan struct{})
		go s.committer()
		s.probeDisk()
		go s.every(cfg.DiskProbe, func() bool { s.probeDisk(); return true })
		if cfg.ResidentTrim > 0 {
			go s.every(cfg.ResidentTrim, s.trimResidentOK)
		}
	}
	return s, nil
}

func (s *Store) boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:      s.cfg.OpenTimeout,
		ReadOnly:     s.cfg.ReadOnly,
		FreelistType: bolt.FreelistMapType,
		// Growing the map copies every node a write transaction holds; a
		// large first map (address space, not memory) keeps big imports
		// from doing that again and again.
		InitialMmapSize: 1 << 30,
		// The free list is written with every commit (bbolt's default),
		// usually one page. Without it, every open rebuilds the list by
		// walking every page of every bucket: at a million extensions that
		// read the whole 733 MB file at each start, and kept it resident in
		// the agent (a 158 MB store: 5.1 s and 148 MB resident to open,
		// against 1.3 ms and 0.1 MB with the list written).
		NoFreelistSync: false,
	}
}

func (s *Store) init() error {
	if !s.cfg.ReadOnly {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			m := tx.Bucket(bMeta)
			if m.Get(kReplica) != nil {
				if v := int(getU64(m.Get(kSchema))); v >= SchemaVersion {
					return nil
				}
				from, err := migrate(tx, migrations, SchemaVersion, s.cfg.Now())
				if err == nil {
					s.log.Info("store migrated", "from", from, "to", SchemaVersion)
				}
				return err
			}
			if s.cfg.Replica == "" {
				return fmt.Errorf("store %s is new: give the cluster it belongs to (--cluster)", s.cfg.Path)
			}
			inc := s.cfg.Incarnation
			if inc == 0 {
				var err error
				if inc, err = randomIncarnation(); err != nil {
					return err
				}
			}
			m.Put(kSchema, u64(SchemaVersion))
			m.Put(kReplica, []byte(s.cfg.Replica))
			m.Put(kSite, []byte(s.cfg.Site))
			m.Put(kIncarnation, u64(inc))
			return m.Put(kCreated, u64(uint64(s.cfg.Now().UnixMilli())))
		})
		if err != nil {
			return fmt.Errorf("store %s: %w", s.cfg.Path, err)
		}
	}
	return s.load()
}

// load reads the identity and the committed state from the file.
func (s *Store) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if m == nil || m.Get(kReplica) == nil {
			return fmt.Errorf("store %s is not initialized: create it with a writable open first", s.cfg.Path)
		}
		if v := getU64(m.Get(kSchema)); v > SchemaVersion {
			return fmt.Errorf("store %s has schema %d, this pbxtopo reads up to %d: %w; run the newer pbxtopo, or restore a backup made by this version", s.cfg.Path, v, SchemaVersion, ErrNewerSchema)
		} else if v < SchemaVersion {
			return fmt.Errorf("store %s has schema %d, older than this pbxtopo's %d: open it writable once (start the agent) to migrate it", s.cfg.Path, v, SchemaVersion)
		}
		if err := s.checkSealKeys(tx); err != nil {
			return err
		}
		s.replica = string(m.Get(kReplica))
		if s.cfg.Replica != "" && s.cfg.Replica != s.replica {
			return fmt.Errorf("store %s belongs to cluster %q, not %q: point data_dir at this cluster's store", s.cfg.Path, s.replica, s.cfg.Replica)
		}
		s.site = string(m.Get(kSite))
		if s.cfg.Site != "" {
			s.site = s.cfg.Site
		}
		s.incarnation = getU64(m.Get(kIncarnation))
		s.lsn = getU64(m.Get(kLSN))
		if k, _ := tx.Bucket(bLog).Cursor().First(); k != nil {
			s.first = getU64(k)
		}
		s.hlc = HLC(getU64(m.Get(kHLC)))
		var err error
		if s.summary, err = loadSummary(tx.Bucket(bSummary)); err != nil {
			return err
		}
		if s.pruned, err = loadSummary(tx.Bucket(bPruned)); err != nil {
			return err
		}
		s.horizon = nil
		if h := m.Get(kHorizon); h != nil {
			s.horizon, err = DecodeSummary(h)
		}
		return err
	})
}

func randomIncarnation() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v, nil
		}
	}
}

func loadSummary(b *bolt.Bucket) (Summary, error) {
	s := Summary{}
	err := b.ForEach(func(k, v []byte) error {
		s[Stream(k)] = getU64(v)
		return nil
	})
	return s, err
}

// Close stops the committer, waiting for the writes in flight, and closes
// the file. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.quit != nil {
			close(s.quit)
			<-s.done
		}
		err = s.db.Close()
	})
	return err
}

// Replica returns the cluster this store belongs to.
func (s *Store) Replica() string { return s.replica }

// Site returns the site of this replica.
func (s *Store) Site() string { return s.site }

// Incarnation returns the random id of this store's life.
func (s *Store) Incarnation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.incarnation
}

// IdentityAgreed reports whether this store's incarnation was set by an
// identity op (the Raft cluster agreed on it).
func (s *Store) IdentityAgreed() bool {
	var ok bool
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bMeta).Get(kIdentity) != nil
		return nil
	})
	return ok
}

// Stream returns this replica's own stream for a table.
func (s *Store) Stream(table string) Stream {
	return MakeStream(s.replica, s.Incarnation(), s.scopeOf(table))
}

func (s *Store) scopeOf(table string) string {
	if s.cfg.SiteTables(table) {
		return s.site
	}
	return ""
}

// Path returns the file of the store.
func (s *Store) Path() string { return s.cfg.Path }

// Summary returns a copy of the committed summary.
func (s *Store) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summary.Clone()
}

// Pruned returns, per stream, the highest sequence number that may be
// missing from the log.
func (s *Store) Pruned() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pruned.Clone()
}

// TableWrites returns a number that grows with every committed
// transaction that wrote a record of one of tables, and with every
// restore. A reader that builds something from those tables reads it
// before its snapshot and rebuilds only when it has grown: the other
// tables' commits (watermarks, status) leave it alone.
func (s *Store) TableWrites(tables ...string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.restores
	for _, t := range tables {
		n += s.tableWrites[t]
	}
	return n
}

// Changed returns a channel that is closed the next time changes are
// committed. Long-polling peers wait on it.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Stats are counters for metrics and status.
type Stats struct {
	LSN       uint64 // log entries ever written
	HLC       HLC    // the latest timestamp seen
	Commits   uint64 // bbolt transactions committed since open
	SkewAlarm uint64 // remote timestamps too far ahead of the local clock
	FileBytes int64
	Conflicts int  // records in conflict
	DiskFull  bool // writes are refused: the disk is full
	// PagesWritten: pages bbolt wrote (each commit fsyncs what it wrote)
	// since open; per commit, it is what a commit costs the disk.
	PagesWritten int64
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{LSN: s.lsn, HLC: s.hlc, Commits: s.commits, SkewAlarm: s.skew, DiskFull: s.diskFull.Load()}
	s.mu.Unlock()
	s.dbMu.RLock()
	dbStats := s.db.Stats()
	st.PagesWritten = dbStats.TxStats.GetWrite()
	s.dbMu.RUnlock()
	if fi, err := os.Stat(s.cfg.Path); err == nil {
		st.FileBytes = fi.Size()
	}
	s.View(func(sn *Snapshot) error {
		st.Conflicts = sn.tx.Bucket(bConflicts).Stats().KeyN
		return nil
	})
	return st
}

// MarkAgent records that an agent has run on this store. From then on,
// offline tools open it read-only: the agent owns its writes.
func (s *Store) MarkAgent() error {
	if s.cfg.ReadOnly {
		return ErrReadOnly
	}
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(kAgent, u64(uint64(s.cfg.Now().UnixMilli())))
	})
}

// AgentHasRun reports whether an agent has ever run on this store.
func (s *Store) AgentHasRun() bool {
	var ran bool
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	s.db.View(func(tx *bolt.Tx) error {
		ran = tx.Bucket(bMeta).Get(kAgent) != nil
		return nil
	})
	return ran
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
