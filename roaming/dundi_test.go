package roaming

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming/astconf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/dundi")

// fixedVersion stands in for the store version in golden files: a real
// store's summary names its random incarnation.
var fixedVersion = Version{Summary: "0123456789ab", Changes: 42, Newest: time.Date(2026, 11, 22, 17, 3, 10, 0, time.UTC)}

func TestDUNDiGolden(t *testing.T) {
	e := load(t, sampleStore(t))
	e.Version = fixedVersion
	for _, c := range e.Clusters {
		b, err := NewBundle(e, c.Name, DefaultDUNDiConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.Files {
			path := filepath.Join("testdata", "dundi", c.Name, f.Name)
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./roaming -run Golden -update)", err)
			}
			if string(want) != f.Content {
				t.Errorf("%s differs from the golden file (go test ./roaming -run Golden -update after checking the change):\n%s", path, f.Content)
			}
		}
	}
}

func answered(t *testing.T, b *Bundle) []string {
	t.Helper()
	c := astconf.Parse(ExtensionsFile, []byte(b.File(ExtensionsFile).Content), nil)
	local := c.Section("dundi-pbxtopo-local")
	if local == nil {
		t.Fatalf("%s has no local context", b.Cluster)
	}
	var nums []string
	for _, v := range local.Vars {
		if v.Name == "exten" {
			nums = append(nums, strings.SplitN(v.Value, ",", 2)[0])
		}
	}
	return nums
}

// Every roaming number is answered by each cluster where its device
// lives, and every other cluster peers with that cluster in the same
// DUNDi context and looks numbers up there: it is reachable from every
// cluster. Non-roaming numbers are not advertised.
func TestDUNDiMakesRoamingNumbersReachableEverywhere(t *testing.T) {
	e := load(t, sampleStore(t))
	bundles := map[string]*Bundle{}
	for _, c := range e.Clusters {
		b, err := NewBundle(e, c.Name, DefaultDUNDiConfig())
		if err != nil {
			t.Fatal(err)
		}
		bundles[c.Name] = b
	}
	if got := strings.Join(answered(t, bundles["tpa2"]), " "); got != "5020 5200" {
		t.Errorf("tpa2 answers %s, want 5020 5200", got)
	}
	if got := strings.Join(answered(t, bundles["sfo"]), " "); got != "5020 5200 5601 5602 5603 5604 6179" {
		t.Errorf("sfo answers %s", got)
	}
	for _, x := range e.Extensions {
		nums := answered(t, bundles[x.Cluster])
		if has := contains(nums, x.Number); has != x.Roaming {
			t.Errorf("%s: answered %v, roaming %v", x.Key(), has, x.Roaming)
		}
		if !x.Roaming {
			continue
		}
		for name, b := range bundles {
			if name == x.Cluster {
				continue
			}
			d := astconf.Parse(DUNDiFile, []byte("[general]\n[mappings]\n"+b.File(DUNDiFile).Content), nil)
			peer := d.Section(EntityID(x.Cluster))
			if peer == nil || !hasVar(peer, "include", "pbxtopo") || !hasVar(peer, "permit", "pbxtopo") || !hasVar(peer, "model", "symmetric") {
				t.Fatalf("%s does not look up %s's numbers: %+v", name, x.Cluster, peer)
			}
			x := astconf.Parse(ExtensionsFile, []byte(b.File(ExtensionsFile).Content), nil)
			if s := x.Section("dundi-pbxtopo-switch"); s == nil || !hasVar(s, "switch", "DUNDi/pbxtopo") {
				t.Fatalf("%s has no DUNDi switch", name)
			}
		}
	}
	tpa1 := bundles["tpa1"].File(DUNDiFile).Content
	for _, want := range []string{"[general](+)\nentityid = " + EntityID("tpa1") + "\n\n[mappings](+)\n",
		"pbxtopo => dundi-pbxtopo-local,0,IAX2,pbxtopo-dundi:${SECRET}@192.168.0.218/${NUMBER},nopartial\n",
		"; cluster tpa2\n[" + EntityID("tpa2") + "]\nmodel = symmetric\nhost = 192.168.0.208\nport = 4520\n",
		"inkey = pbxtopo-tpa2\noutkey = pbxtopo-tpa1\n"} {
		if !strings.Contains(tpa1, want) {
			t.Errorf("tpa1's dundi file lacks %q:\n%s", want, tpa1)
		}
	}
	// The answers dial IAX2: the file leaves dundi.conf's own SIP
	// settings alone (Asterisk 22 has no chan_sip to set them to).
	if strings.Contains(tpa1, "outgoing_sip_tech") {
		t.Error("tpa1's dundi file sets outgoing_sip_tech")
	}
	if strings.Contains(tpa1, "["+EntityID("tpa1")+"]") {
		t.Error("tpa1 peers with itself")
	}
	iax := bundles["tpa1"].File(IAXFile).Content
	for _, want := range []string{"[pbxtopo-dundi]\ntype = user\n", "dbsecret = dundi/secret\n", "context = dundi-pbxtopo-local\n",
		"deny = 0.0.0.0/0.0.0.0\n", "permit = 192.168.8.201/32 ; tpa2\n", "permit = 192.168.150.218/32 ; ams\n"} {
		if !strings.Contains(iax, want) {
			t.Errorf("tpa1's iax file lacks %q:\n%s", want, iax)
		}
	}
	if strings.Contains(iax, "192.168.0.218") {
		t.Error("tpa1's IAX2 user admits tpa1 itself")
	}
}

func hasVar(s *astconf.Section, name, value string) bool {
	for _, v := range s.Vars {
		if v.Name == name && v.Value == value {
			return true
		}
	}
	return false
}

// Same data, same bytes: two stores that hold the same enterprise (with
// different incarnations, so different versions) give the same bodies;
// the header names each store's own version.
func TestDUNDiIsDeterministic(t *testing.T) {
	st1, st2 := sampleStore(t), sampleStore(t)
	e1, e2 := load(t, st1), load(t, st2)
	b1, err := NewBundle(e1, "sfo", DefaultDUNDiConfig())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewBundle(e1, "sfo", DefaultDUNDiConfig())
	b2, _ := NewBundle(e2, "sfo", DefaultDUNDiConfig())
	for i, f := range b1.Files {
		if again.Files[i].Content != f.Content {
			t.Fatalf("%s differs between two runs", f.Name)
		}
		if string(body([]byte(b2.Files[i].Content))) != string(body([]byte(f.Content))) {
			t.Fatalf("%s differs between two stores with the same data", f.Name)
		}
		if !strings.Contains(f.Content, "; from store version "+e1.Version.Summary+" (") {
			t.Fatalf("%s does not name the store version %s:\n%s", f.Name, e1.Version, f.Content[:300])
		}
	}
	if e1.Version.Summary == e2.Version.Summary || e1.Version.Changes != e2.Version.Changes || e1.Version.Newest.IsZero() {
		t.Fatalf("versions %v and %v", e1.Version, e2.Version)
	}
	change(t, st1, pbx.Extensions, "sfo/5540", pbx.Fields{"roaming": "yes"})
	e3 := load(t, st1)
	if e3.Version.Summary == e1.Version.Summary || e3.Version.Changes != e1.Version.Changes+1 {
		t.Fatalf("version after a write: %v, before %v", e3.Version, e1.Version)
	}
}

func TestEntityID(t *testing.T) {
	re := regexp.MustCompile(`^02(:[0-9a-f]{2}){5}$`)
	seen := map[string]string{}
	for _, c := range []string{"tpa1", "tpa2", "sfo", "lon", "ams"} {
		id := EntityID(c)
		if !re.MatchString(id) || EntityID(c) != id {
			t.Fatalf("EntityID(%s) = %s", c, id)
		}
		if other, dup := seen[id]; dup {
			t.Fatalf("%s and %s share %s", c, other, id)
		}
		seen[id] = c
	}
	// The rule is part of the contract between clusters (every cluster
	// derives every other's id): pin one value.
	if got := EntityID("tpa1"); got != "02:96:12:7b:0e:fe" {
		t.Fatalf("EntityID(tpa1) = %s: the derivation changed, and clusters of different versions no longer agree", got)
	}
}

func TestDUNDiErrors(t *testing.T) {
	e := load(t, sampleStore(t))
	if _, err := NewBundle(e, "nyc", DefaultDUNDiConfig()); !errors.Is(err, ErrUnknownCluster) || !strings.Contains(err.Error(), "ams, lon, sfo, tpa1, tpa2") {
		t.Fatalf("unknown cluster: %v", err)
	}
	cfg := DefaultDUNDiConfig()
	cfg.Context = "bad context"
	if _, err := NewBundle(e, "tpa1", cfg); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad context: %v", err)
	}
	b, _ := NewBundle(e, "tpa1", DefaultDUNDiConfig())
	b.Files[0].Content = strings.Replace(b.Files[0].Content, "model = symmetric", "model = sideways", 1)
	if err := checkBundle(b); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "sideways") {
		t.Fatalf("check of a broken file: %v", err)
	}
}

func TestWriteBundleIsAtomicAndSkipsUnchanged(t *testing.T) {
	st := sampleStore(t)
	dir := filepath.Join(t.TempDir(), "asterisk")
	b, _ := NewBundle(load(t, st), "tpa1", DefaultDUNDiConfig())
	changed, err := WriteBundle(dir, b)
	if err != nil || len(changed) != 3 {
		t.Fatalf("first write: %v %v", changed, err)
	}
	for _, f := range b.Files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		fi, _ := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || string(got) != f.Content || fi.Mode().Perm() != 0o644 {
			t.Fatalf("%s: %v mode %v", f.Name, err, fi.Mode())
		}
	}
	// A write elsewhere changes the version, not the body: nothing is rewritten.
	change(t, st, pbx.Hours, "lon/UKSales/OPEN", pbx.Fields{"end_time": "19:00:00"})
	b2, _ := NewBundle(load(t, st), "tpa1", DefaultDUNDiConfig())
	if b2.Version == b.Version {
		t.Fatal("the version did not change")
	}
	if changed, err := WriteBundle(dir, b2); err != nil || len(changed) != 0 {
		t.Fatalf("rewrite of an unchanged body: %v %v", changed, err)
	}
	change(t, st, pbx.Extensions, "tpa1/6101", pbx.Fields{"roaming": "yes"})
	b3, _ := NewBundle(load(t, st), "tpa1", DefaultDUNDiConfig())
	if changed, err := WriteBundle(dir, b3); err != nil || strings.Join(changed, ",") != ExtensionsFile {
		t.Fatalf("after a roaming change: %v %v", changed, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if _, err := WriteBundle(filepath.Join(dir, DUNDiFile, "sub"), b3); err == nil {
		t.Fatal("writing under a file succeeded")
	}
}

func TestPublisherFollowsTheStore(t *testing.T) {
	st := sampleStore(t)
	dir := t.TempDir()
	cfg := DefaultPublisherConfig("lon", dir)
	cfg.Debounce = 10 * time.Millisecond
	p, err := NewPublisher(cfg, PublisherDeps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	path := filepath.Join(dir, ExtensionsFile)
	waitFor(t, func() bool { return p.Last() != nil })
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "exten => 5601,1,Dial(SIP/5601)") {
		t.Fatalf("%s:\n%s", path, b)
	}
	first := p.Last()
	if first.Result != PublishWritten || len(first.Changed) != 3 {
		t.Fatalf("first publish: %+v", first)
	}
	// Status writes change no record: nothing is published for them.
	if err := st.PutStatus(ctx, map[string][]byte{"health/lon/n1": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	change(t, st, pbx.Extensions, "lon/4401", pbx.Fields{"roaming": "yes"})
	waitFor(t, func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), "exten => 4401,1,Dial(SIP/4401)")
	})
	waitFor(t, func() bool { l := p.Last(); return l != nil && l.Version != first.Version })
	if l := p.Last(); l.Result != PublishWritten || strings.Join(l.Changed, ",") != ExtensionsFile {
		t.Fatalf("publish after a roaming change: %+v", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := NewPublisher(PublisherConfig{Dir: dir}, PublisherDeps{Store: st}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("publisher without cluster: %v", err)
	}
}

// A publish that could not reach Asterisk is tried again with the same
// store version; a FAILED one is not, until the records change.
func TestPublisherRetriesWhatCouldNotBeApplied(t *testing.T) {
	st := sampleStore(t)
	cfg := DefaultPublisherConfig("lon", t.TempDir())
	cfg.Debounce, cfg.Retry = 0, 10*time.Millisecond
	var mu sync.Mutex
	calls := 0
	p, err := NewPublisher(cfg, PublisherDeps{Store: st, Apply: func(_ context.Context, b *Bundle) (Outcome, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls {
		case 1, 2:
			return Outcome{}, errors.New("ami: not connected to Asterisk")
		case 3:
			return Outcome{Result: PublishFailed, Detail: "Asterisk dropped a line"}, nil
		}
		return Outcome{Result: PublishOK, Changed: []string{ExtensionsFile}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, func() bool {
		l := p.Last()
		return l != nil && l.Result == PublishFailed && l.Detail == "Asterisk dropped a line"
	})
	if err := st.PutStatus(ctx, map[string][]byte{"health/lon/n1": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	change(t, st, pbx.Extensions, "lon/4401", pbx.Fields{"roaming": "yes"})
	waitFor(t, func() bool { l := p.Last(); return l.Result == PublishOK })
	cancel()
	<-done
	if calls != 4 {
		t.Errorf("%d applies, want 4: two retries, the FAILED one (not retried), the one after the change", calls)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
