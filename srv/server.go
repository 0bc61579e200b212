package srv

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// Source gives the clusters of the enterprise: *store.Store is one.
// Changed returns a channel closed at the next committed change.
type Source interface {
	View(fn func(*store.Snapshot) error) error
	Changed() <-chan struct{}
}

var _ Source = (*store.Store)(nil)

// Deps are the server's collaborators.
type Deps struct {
	Source Source       // required
	Health Health       // nil: every cluster is up
	Logger *slog.Logger // nil: no logs
	Now    func() time.Time
}

// Server is the authoritative DNS server of the voice zone.
type Server struct {
	cfg    Config
	set    settings
	src    Source
	health Health
	log    *slog.Logger
	now    func() time.Time
	rrl    *limiter

	tab      atomic.Pointer[table]
	rebuilds atomic.Uint64
	inputs   [32]byte     // what the current zone was built from (rebuild only)
	cache    clusterCache // rebuild only

	mu      sync.Mutex // guards the fields below
	started bool
	closed  bool
	udp     *net.UDPConn
	tcp     *net.TCPListener
	conns   map[net.Conn]netip.Addr // open TCP connections and their clients
	sources map[netip.Addr]int      // open TCP connections per client address

	udpStats []*counters
	tcpStats counters
	xfrs     atomic.Uint64
	notified atomic.Uint64
	notifyKO atomic.Uint64

	notifyKicks []chan struct{} // one per dns.notify secondary: asks its sender for a round
	notifyRetry time.Duration   // between two tries of one NOTIFY (notifyRetry; tests shorten it)
	ctx         context.Context
	cancel      context.CancelFunc // ends ctx at Close
	wg          sync.WaitGroup
}

// New checks the configuration and returns a server; Start makes it serve.
func New(cfg Config, deps Deps) (*Server, error) {
	set, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if deps.Source == nil {
		return nil, fmt.Errorf("srv: no Source of clusters")
	}
	if deps.Health == nil {
		deps.Health = AllUp()
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	workers := cfg.UDPWorkers
	if workers == 0 {
		// A worker answers a batch of datagrams per system call: one per
		// two CPUs keeps the batches full and leaves the other CPU to the
		// kernel's packet work (measured in pbxtopo bench dns).
		workers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	s := &Server{cfg: cfg, set: set, src: deps.Source, health: deps.Health, log: deps.Logger, now: deps.Now,
		rrl: newLimiter(cfg.RRL, deps.Now), conns: map[net.Conn]netip.Addr{},
		sources: map[netip.Addr]int{}, notifyRetry: notifyRetry}
	for range set.notify {
		s.notifyKicks = append(s.notifyKicks, make(chan struct{}, 1))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i := 0; i < workers; i++ {
		s.udpStats = append(s.udpStats, &counters{})
	}
	return s, nil
}

// Start builds the zone, binds UDP and TCP on the same port and serves
// until Close. It fails when the clusters cannot be read or the address is
// taken.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return nil
	}
	if err := s.rebuild(); err != nil {
		return err
	}
	udp, tcp, err := listen(s.cfg.Addr)
	if err != nil {
		return err
	}
	s.udp, s.tcp, s.started = udp, tcp, true
	for _, c := range s.udpStats {
		s.wg.Add(1)
		go s.serveUDP(c)
	}
	s.wg.Add(2)
	go s.serveTCP()
	go s.watch()
	for i, target := range s.set.notify {
		s.wg.Add(1)
		go s.notifier(target, s.notifyKicks[i])
	}
	s.kickNotify()
	s.log.Info("dns serving", "addr", udp.LocalAddr().String(), "zone", s.set.origin, "serial", s.tab.Load().serial)
	return nil
}

// listen binds UDP and TCP on one port; with port 0, it retries until
// the port UDP got is free for TCP too.
func listen(addr string) (*net.UDPConn, *net.TCPListener, error) {
	for try := 0; ; try++ {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: dns_addr %q: %v", ErrConfig, addr, err)
		}
		udp, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil, nil, fmt.Errorf("dns_addr %s: %w (is another DNS server there? change dns_addr)", addr, err)
		}
		udp.SetReadBuffer(4 << 20)
		udp.SetWriteBuffer(4 << 20)
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ua.IP, Port: port, Zone: ua.Zone})
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if ua.Port != 0 || try == 20 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns_addr %s (tcp): %w (is another DNS server there? change dns_addr)", addr, err)
		}
	}
}

// Run starts the server and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	return s.Close()
}

// Close stops serving and waits for every goroutine. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	if s.udp != nil {
		s.udp.Close()
		s.tcp.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Addr returns the address served (UDP and TCP), once started.
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return netip.AddrPort{}
	}
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Zone returns the zone being served and its serial.
func (s *Server) Zone() (*Zone, uint32) {
	t := s.tab.Load()
	if t == nil {
		return nil, 0
	}
	return t.zone, t.serial
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{Results: map[string]uint64{}, Types: map[string]uint64{}, Transfers: s.xfrs.Load(), NotifySent: s.notified.Load(),
		NotifyFails: s.notifyKO.Load(), Rebuilds: s.rebuilds.Load()}
	for _, c := range s.udpStats {
		st.UDPQueries += c.queries.Load()
		c.add(&st)
	}
	st.TCPQueries = s.tcpStats.queries.Load()
	s.tcpStats.add(&st)
	if t := s.tab.Load(); t != nil {
		st.Serial = t.serial
	}
	return st
}

// watch rebuilds the zone whenever the clusters or their health change.
func (s *Server) watch() {
	defer s.wg.Done()
	var retry <-chan time.Time
	for {
		zc, hc := s.src.Changed(), s.health.Changed()
		retry = nil
		if err := s.rebuild(); err != nil {
			s.log.Error("dns zone not rebuilt; still serving the last one", "err", err)
			retry = time.After(time.Second)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-zc:
		case <-hc:
		case <-retry:
		}
	}
}

// rebuild reads the clusters, builds the zone with the current health and,
// when the answers differ, compiles it with a higher serial and serves it.
func (s *Server) rebuild() error {
	var clusters []Cluster
	var probs []Problem
	var kept serialRecord
	var sum [32]byte
	err := s.src.View(func(sn *store.Snapshot) error {
		var err error
		clusters, probs, sum, err = s.cache.load(sn)
		kept = loadSerial(sn, s.set.origin)
		return err
	})
	if err != nil {
		return fmt.Errorf("srv: reading clusters: %w", err)
	}
	// Every commit to the store wakes us (an extension written, say):
	// when neither the cluster records nor their health changed, there is
	// nothing to build.
	h := sha256.New()
	h.Write(sum[:])
	up := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		up[c.Name] = s.health.Up(c.Name)
		h.Write([]byte(c.Name))
		if up[c.Name] {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	var inputs [32]byte
	h.Sum(inputs[:0])
	cur := s.tab.Load()
	if cur != nil && inputs == s.inputs {
		return nil
	}
	s.inputs = inputs
	z := buildZone(zoneInput{s.set, uint32(s.cfg.TTL)}, clusters, probs, func(c string) bool { return up[c] })
	if cur != nil && cur.zone.Digest == z.Digest {
		if !slices.Equal(cur.zone.Down, z.Down) {
			// Same answers (a list whose clusters are all down stays
			// whole), other health: show it, same serial.
			z.SOA.Serial = cur.serial
			t := *cur
			t.zone = z
			s.tab.Store(&t)
		}
		return nil
	}
	var serial uint32
	switch {
	case cur == nil && kept.ok && kept.digest == z.Digest:
		serial = kept.serial // a restart with the same answers keeps its serial
	default:
		prev := kept.serial
		if cur != nil && serialLess(prev, cur.serial) {
			prev = cur.serial
		}
		serial = nextSerial(prev, s.now())
	}
	if serial != kept.serial || !kept.ok {
		s.saveSerial(serialRecord{serial: serial, digest: z.Digest, ok: true})
	}
	z.SOA.Serial = serial
	t, err := compile(z, serial, s.cfg.MaxUDPSize)
	if err != nil {
		return err
	}
	s.tab.Store(t)
	s.rebuilds.Add(1)
	for _, p := range z.Skipped {
		s.log.Warn("dns: cluster left out of the zone", "cluster", p.Cluster, "reason", p.Reason)
	}
	if cur != nil {
		s.log.Info("dns zone changed", "serial", serial, "down", z.Down)
		s.kickNotify()
	}
	return nil
}

func (s *Server) saveSerial(r serialRecord) {
	w, ok := s.src.(localWriter)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if _, err := w.WriteLocal(ctx, "srv", nil, map[string][]byte{serialKey(s.set.origin): r.encode()}); err != nil {
		// Phones need the new answers more than secondaries need the
		// serial kept: serve anyway; the clock-based serial covers most
		// restarts.
		s.log.Error("dns: serial not saved", "serial", r.serial, "err", err)
	}
}

// busyIdle is how long an idle TCP connection may stay while more than
// half of the slots are taken.
const busyIdle = time.Second

// trackConn registers an open TCP connection so Close can end it; false
// when the server is closing or has no room for the client: one address
// holds at most TCPMaxConnsPerSource connections, and addresses outside
// dns.allow_transfer leave a quarter of the slots to the secondaries.
func (s *Server) trackConn(c net.Conn, from netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.cfg.TCPMaxConns
	if len(s.set.allow) > 0 && s.set.transfers && !s.transferAllowed(from) {
		limit -= s.cfg.TCPMaxConns / 4
	}
	if s.closed || len(s.conns) >= limit || s.sources[from] >= s.cfg.TCPMaxConnsPerSource {
		return false
	}
	s.conns[c] = from
	s.sources[from]++
	if len(s.conns) == s.cfg.TCPMaxConns/2+1 {
		// Busy from now on: the idle connections get a second.
		for o := range s.conns {
			o.SetReadDeadline(time.Now().Add(busyIdle))
		}
	}
	return true
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.conns[c]
	delete(s.conns, c)
	if s.sources[from]--; s.sources[from] <= 0 {
		delete(s.sources, from)
	}
}

// idleTimeout is how long a connection may wait for its next query.
func (s *Server) idleTimeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) > s.cfg.TCPMaxConns/2 {
		return min(busyIdle, s.cfg.TCPIdleTimeout)
	}
	return s.cfg.TCPIdleTimeout
}
