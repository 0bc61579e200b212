package asterisktest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/asteriskdb"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// The phone's view, end to end: a real SIP phone (baresip) knows only its
// account sip:6109@tpa1.voice.example.net and uses the agents' DNS as its
// resolver. It follows the SRV records to the real Asterisk of its home
// cluster tpa1 and registers with the secret pbxtopo wrote into tpa1's
// MariaDB (the bridge, Asterisk's own schema, ODBC). When tpa1 dies, the
// SRV answers leave it and the phone's next re-registration goes to tpa2,
// next in tpa1's failover order, whose MariaDB holds 6109 too (standby
// rows); when tpa1 comes back the phone returns.

// phoneTiming is one run's intervals.
type phoneTiming struct {
	regint, ttl int // seconds: the phone's re-registration interval, the records' TTL
	within      time.Duration
}

// cluster is one cluster of the rig: its Asterisk, its agent and what
// restarts the agent.
type rigCluster struct {
	name  string
	ast   *asterisktest.Instance
	agent *agent.Agent
	stop  func()
	cfg   agenttest.Options
}

type phoneRig struct {
	t        *testing.T
	caDir    string
	clusters []*rigCluster
	phone    *exec.Cmd
	phoneLog string
}

// needPhoneTools skips when baresip, MariaDB or Asterisk is missing.
func needPhoneTools(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip is missing: apt-get install baresip-core")
	}
	if err := mariadbtest.Available(); err != nil {
		t.Skipf("MariaDB is missing: %v", err)
	}
	asterisktest.Require(t)
}

// newPhoneRig starts tpa1 and tpa2, each with its MariaDB database,
// Asterisk and agent, extension 6109 at tpa1, and a phone registered
// there.
func newPhoneRig(t *testing.T, tm phoneTiming) *phoneRig {
	t.Helper()
	r := &phoneRig{t: t, caDir: newCA(t)}
	db, err := mariadbtest.Start(t.TempDir(), mariadbtest.Options{ServerID: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Stop)
	schema, err := asteriskdb.Load()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, name := range []string{"tpa1", "tpa2"} {
		if err := db.Exec("", "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		if err := schema.Create(func(q ...string) error { return db.Exec(name, q...) }); err != nil {
			t.Fatal(err)
		}
		if tm.regint < 60 {
			// Asterisk refuses registrations shorter than an aor's
			// minimum_expiration (60 s by default): the short run lowers
			// it for the rows the bridge inserts.
			if err := db.Exec(name, "ALTER TABLE ps_aors ALTER COLUMN minimum_expiration SET DEFAULT 1"); err != nil {
				t.Fatal(err)
			}
		}
		ast := asterisktest.Start(t, asterisktest.Options{Env: []string{"ODBC_DSN=asterisk", "ODBC_SERVER=127.0.0.1",
			"ODBC_PORT=" + strconv.Itoa(db.Port), "ODBC_DATABASE=" + name, "ODBC_USER=root", "ODBC_PASSWORD="},
			// Expired contacts go within a second, so a contact shown is a
			// live registration.
			Append: map[string]string{"pjsip.conf": "[global]\ntype = global\ncontact_expiration_check_interval = 1\n"}})
		c := &rigCluster{name: name, ast: ast}
		c.cfg = agenttest.Options{Extra: map[string]any{
			"ami.addr": ast.AMIAddr(), "ami.user": ast.AMIUser, "ami.secret": ast.AMISecret, "ami.vip": "off",
			"mysql.dsn": db.DSN(name), "mysql.mapping": "pjsip", "mysql.min_backoff": "50ms",
			"dns.ttl": tm.ttl,
			// Every agent probes each cluster's VIP with SIP OPTIONS (the
			// defaults: every second, down after 2 failures). A cleanly
			// stopped agent counts as restarting for gossip.restart_grace,
			// so what takes a dead cluster out of the answers is its
			// silent Asterisk.
			"dns.probe.enabled": true,
			// Fixed, so a restarted agent is where the phone and the
			// other agent look for it.
			"dns_addr": testnet.FreeAddr(t, "127.0.0.1"), "serf_addr": testnet.FreeAddr(t, "127.0.0.1"),
			"repl_addr": testnet.FreeAddr(t, "127.0.0.1"), "raft_addr": testnet.FreeAddr(t, "127.0.0.1"),
			"data_dir": t.TempDir(),
		}}
		if i > 0 {
			c.cfg.Join = []string{r.clusters[0].cfg.Extra["serf_addr"].(string)}
		} else {
			c.cfg.Join = []string{}
		}
		r.clusters = append(r.clusters, c)
		r.startAgent(c)
	}
	r.clusters[0].cfg.Join = []string{r.clusters[1].cfg.Extra["serf_addr"].(string)}
	svc := r.clusters[0].agent.Service()
	for _, rec := range []struct {
		table string
		f     pbx.Fields
	}{
		{"sites", pbx.Fields{"name": "tpa"}},
		{"clusters", pbx.Fields{"name": "tpa2", "site": "tpa", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(r.clusters[1].ast.SIPPort),
			"transports": "udp"}},
		{"clusters", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(r.clusters[0].ast.SIPPort),
			"transports": "udp", "failover": "tpa2"}},
		{"extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6109", "name": "George", "secret": "Phone-pw6109", "context": "sales"}},
	} {
		if _, err := svc.Put(ctx, rec.table, rec.f, service.PutOptions{Must: store.MustNotExist}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range r.clusters {
		c.ast.WaitCLI("pjsip show endpoint 6109", 30*time.Second, func(out string) bool { return strings.Contains(out, "6109/6109") })
	}
	waitUntil(t, 30*time.Second, "both clusters up in both agents' answers", func() bool {
		return len(r.down(r.clusters[0])) == 0 && len(r.down(r.clusters[1])) == 0
	})
	r.startPhone(tm)
	return r
}

func (r *phoneRig) startAgent(c *rigCluster) {
	c.agent, c.stop = agenttest.Start(r.t, r.caDir, c.name, c.cfg)
}

// down is the clusters an agent's zone has down.
func (r *phoneRig) down(c *rigCluster) []string {
	z, err := c.agent.Service().Zone(context.Background(), "")
	if err != nil || !z.Live {
		return []string{"not serving"}
	}
	return z.Down
}

// startPhone runs baresip with the agents' DNS servers as its resolvers.
func (r *phoneRig) startPhone(tm phoneTiming) {
	t := r.t
	dir := t.TempDir()
	// Port 0: baresip binds TLS on the SIP port + 1, which a free port
	// picked here does not promise (a make test run lost that race); with port 0
	// every transport takes a port of its own.
	conf := "poll_method epoll\nsip_listen 127.0.0.1:0\n"
	for _, c := range r.clusters {
		conf += "dns_server " + c.cfg.Extra["dns_addr"].(string) + "\n"
	}
	conf += "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_tmp account.so\nmodule_app menu.so\n"
	account := fmt.Sprintf("<sip:6109@tpa1.voice.example.net;transport=udp>;auth_pass=Phone-pw6109;regint=%d\n", tm.regint)
	for name, content := range map[string]string{"config": conf, "accounts": account} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.phoneLog = filepath.Join(dir, "baresip.log")
	log, err := os.Create(r.phoneLog)
	if err != nil {
		t.Fatal(err)
	}
	r.phone = exec.Command("baresip", "-f", dir)
	r.phone.Stdout, r.phone.Stderr = log, log
	if err := r.phone.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.phone.Process.Kill()
		r.phone.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(r.phoneLog)
			t.Logf("baresip:\n%s", tail(b, 3000))
		}
	})
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var contactRE = regexp.MustCompile(`Contact:\s+6109/sip:6109[-@]`)

// registered reports whether c's Asterisk has a contact of the phone.
func (r *phoneRig) registered(c *rigCluster) bool {
	out, err := c.ast.CLI("pjsip show aor 6109")
	return err == nil && contactRE.MatchString(out)
}

// registeredAt waits until the phone is registered at c and returns how
// long that took.
func (r *phoneRig) registeredAt(c *rigCluster, within time.Duration, since time.Time) time.Duration {
	r.t.Helper()
	deadline := time.Now().Add(within + 5*time.Second)
	for !r.registered(c) {
		if time.Now().After(deadline) {
			out, _ := c.ast.CLI("pjsip show aor 6109")
			r.t.Fatalf("the phone did not register at %s within %v:\n%s", c.name, within+5*time.Second, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(since)
}

// failover kills what kill names of tpa1 and returns how long the phone
// took to register at tpa2.
func (r *phoneRig) failover(tm phoneTiming, kill func(*rigCluster)) time.Duration {
	r.t.Helper()
	tpa1, tpa2 := r.clusters[0], r.clusters[1]
	r.noContact(tpa2, tm)
	start := time.Now()
	kill(tpa1)
	waitUntil(r.t, 15*time.Second, "tpa1 out of tpa2's answers", func() bool { return slices.Contains(r.down(tpa2), "tpa1") })
	return r.registeredAt(tpa2, tm.within, start)
}

// restore brings tpa1's Asterisk and agent back and returns how long the
// phone took to return, from its Asterisk's restart.
func (r *phoneRig) restore(tm phoneTiming) time.Duration {
	r.t.Helper()
	tpa1, tpa2 := r.clusters[0], r.clusters[1]
	r.startAgent(tpa1)
	start := time.Now()
	if err := tpa1.ast.Restart(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	// A contact tpa1's Asterisk kept from before it died expires first:
	// the phone cannot be back before tpa1's VIP answers the probe and
	// the phone's next re-registration, so a contact seen now is old.
	r.noContact(tpa1, tm)
	waitUntil(r.t, 30*time.Second, "tpa1 back in tpa2's answers", func() bool { return !slices.Contains(r.down(tpa2), "tpa1") })
	return r.registeredAt(tpa1, tm.within, start)
}

// noContact waits until c has no contact of the phone (an old one
// expired), so the next one seen is a new registration.
func (r *phoneRig) noContact(c *rigCluster, tm phoneTiming) {
	r.t.Helper()
	waitUntil(r.t, time.Duration(tm.regint+5)*time.Second, "no old contact at "+c.name, func() bool { return !r.registered(c) })
}

func killCluster(c *rigCluster)  { c.ast.Kill(); c.stop() }
func killAsterisk(c *rigCluster) { c.ast.Kill() }

// The short run `make test` does: a 10 s re-registration interval, 1 s
// TTL. The figures for the README's intervals (60 s and 30 s, 5 runs)
// come from TestPhoneFailoverCampaign (make phone-campaign).
func TestPhoneFailsOverAndReturns(t *testing.T) {
	needPhoneTools(t)
	tm := phoneTiming{regint: 10, ttl: 1, within: 15 * time.Second}
	r := newPhoneRig(t, tm)
	tpa1 := r.clusters[0]
	d := r.registeredAt(tpa1, 20*time.Second, time.Now())
	t.Logf("registered at tpa1 through SRV in %v", d.Round(time.Millisecond))
	if r.registered(r.clusters[1]) {
		t.Fatal("the phone registered at tpa2 while tpa1 was up")
	}
	d = r.failover(tm, killCluster)
	t.Logf("tpa1 (Asterisk and agent) killed: registered at tpa2 after %v", d.Round(time.Millisecond))
	d = r.restore(tm)
	t.Logf("tpa1 back: registered at tpa1 again after %v", d.Round(time.Millisecond))
	d = r.failover(tm, killAsterisk)
	t.Logf("tpa1's Asterisk killed, its agent alive: registered at tpa2 after %v", d.Round(time.Millisecond))
}
