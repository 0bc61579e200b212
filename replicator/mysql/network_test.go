package mysql

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxy forwards TCP connections to a server and can cut them all, and
// refuse new ones, as a network outage would.
type proxy struct {
	target string
	ln     net.Listener
	addr   string

	mu    sync.Mutex
	conns []net.Conn
	down  bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, ln: ln, addr: ln.Addr().String()}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut(true) })
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close() }()
		go func() { io.Copy(c, s); c.Close() }()
	}
}

// cut closes every connection; down also refuses new ones until up.
func (p *proxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns, p.down = nil, down
}

func (p *proxy) up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A network drop and a longer outage: the bridge retries with backoff,
// reports it, and resumes both ways from where it was.
func TestNetworkDropAndOutage(t *testing.T) {
	db := newDB(t, GuideDDL())
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	px := newProxy(t, server.Addr())
	cfg := testConfig(db, "guide")
	cfg.DSN = "root@tcp(" + px.addr + ")/" + db
	br := startBridge(t, a, cfg)

	sqlExec(t, db, guideInsert("tpa1", "6101", "one"))
	waitFor(t, "the first row", func() bool { return fields(t, a, "tpa1/6101") != nil })
	px.cut(false)
	sqlExec(t, db, guideInsert("tpa1", "6102", "two"))
	waitFor(t, "the row after the drop", func() bool { return fields(t, a, "tpa1/6102") != nil })

	px.cut(true)
	sqlExec(t, db, guideInsert("tpa1", "6103", "three"))
	putExt(t, b, "cluster", "tpa2", "regexten", "5020", "name", "remote")
	pull(t, a, b)
	before := br.Status().Reconnects
	waitFor(t, "several failed reconnects", func() bool {
		s := br.Status()
		return s.State == StateRetrying && s.Reconnects >= before+3
	})
	px.up()
	waitFor(t, "both sides after the outage", func() bool {
		return fields(t, a, "tpa1/6103") != nil &&
			sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '5020'") == "remote"
	})
	if n := sqlValue(t, db, "SELECT COUNT(*) FROM pbxtopo_extensions"); n != "4" {
		t.Fatalf("%s rows in MySQL, want 4", n)
	}
}

// The lag is what it is when read: near 0 on an idle bridge that hears
// the server's heartbeats, growing while the server cannot be reached,
// and back near 0 once the reader caught up again.
func TestLagIsNeverStale(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	px := newProxy(t, server.Addr())
	cfg := testConfig(db, "guide")
	cfg.DSN = "root@tcp(" + px.addr + ")/" + db
	br := startBridge(t, a, cfg)
	sqlExec(t, db, guideInsert("tpa1", "6101", "one"))
	waitFor(t, "the row", func() bool { return fields(t, a, "tpa1/6101") != nil })
	idleSince := time.Now()
	waitFor(t, "3 s idle", func() bool { return time.Since(idleSince) > 3*time.Second })
	if lag := br.Status().LagSeconds; lag > 2.5 {
		t.Fatalf("lag %.1f s on an idle bridge that is caught up", lag)
	}
	px.cut(true)
	waitFor(t, "the lag to grow while the server is cut off", func() bool { return br.Status().LagSeconds > 3 })
	px.up()
	waitFor(t, "the lag back down", func() bool { return br.Status().LagSeconds < 2.5 })
}
