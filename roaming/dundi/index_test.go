package dundi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The index answers as a plain model of the rules over the list of
// holdings does (DESIGN.md, "What an answer says"), on random directories
// dense in prefixes: numbers of one to four digits of three, clusters
// with and without a VIP or a clusters record, down or up, with failover
// lists, and mailboxes on some.
func TestStoreDirectoryMatchesAPlainModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 19))
			randNumber := func() string {
				b := make([]byte, 1+r.IntN(4))
				for i := range b {
					b[i] = "123"[r.IntN(3)]
				}
				return string(b)
			}
			names := []string{"a", "b", "c", "d", "e"} // d has no VIP, e no record
			var clusters []cluster
			for i, n := range names[:4] {
				c := cluster{name: n}
				if n != "d" {
					c.vip = fmt.Sprintf("10.0.0.%d", i+1)
				}
				perm := r.Perm(len(names))
				for _, j := range perm[:r.IntN(4)] {
					c.failover += names[j] + ","
				}
				c.failover = strings.TrimSuffix(c.failover, ",")
				clusters = append(clusters, c)
			}
			var exts []ext
			held := map[string]bool{}
			for range 120 {
				e := ext{cluster: names[r.IntN(len(names))], number: randNumber(), roaming: r.IntN(5) > 0}
				if held[e.cluster+"/"+e.number] {
					continue
				}
				held[e.cluster+"/"+e.number] = true
				if r.IntN(3) == 0 {
					e.mailbox = e.number
				}
				exts = append(exts, e)
			}
			h := &health{down: map[string]bool{names[r.IntN(len(names))]: true}}
			maps, _ := ParseMappings([]MappingConfig{
				{Context: "priv", Tech: "SIP", Destination: "${NUMBER}@${IPADDR};c=${CLUSTER}"},
				{Context: "strict", Tech: "IAX2", Destination: "${NUMBER}@${IPADDR}", Weight: 7, Options: []string{"nopartial"}},
			})
			d, err := NewStoreDirectory(newStore(t, clusters, exts), h, StoreDirectoryConfig{Mappings: maps, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			m := plainModel{clusters: clusters, exts: exts, down: h.down}
			for range 300 {
				number := randNumber()
				for _, ctx := range []string{"priv", "strict"} {
					got, err := d.Lookup(context.Background(), number, ctx)
					if err != nil {
						t.Fatal(err)
					}
					if g, w := answerStrings(got), m.lookup(number, ctx == "strict"); !slices.Equal(g, w) {
						t.Fatalf("%s@%s:\n%q\nwant\n%q", number, ctx, g, w)
					}
				}
				if g, w := d.DontAsk(number, "priv"), m.dontAsk(number); g != w {
					t.Fatalf("DontAsk(%s) = %q, want %q", number, g, w)
				}
			}
		})
	}
}

// plainModel answers by walking every holding.
type plainModel struct {
	clusters []cluster
	exts     []ext
	down     map[string]bool
}

func (m plainModel) roaming() []ext {
	return slices.DeleteFunc(slices.Clone(m.exts), func(e ext) bool { return !e.roaming })
}

func (m plainModel) info(c string) (vip string, failover []string) {
	for _, cl := range m.clusters {
		if cl.name == c {
			return cl.vip, strings.Split(cl.failover, ",")
		}
	}
	return "", nil
}

// holdsLonger: c holds a number longer than number that starts with it.
func (m plainModel) holdsLonger(c, number string) bool {
	for _, e := range m.roaming() {
		if (c == "" || e.cluster == c) && len(e.number) > len(number) && strings.HasPrefix(e.number, number) {
			return true
		}
	}
	return false
}

func (m plainModel) lookup(number string, nopartial bool) []string {
	var holders []string
	home := ""
	for _, e := range m.roaming() {
		if e.number == number {
			holders = append(holders, e.cluster)
			if e.mailbox != "" && (home == "" || e.cluster < home) {
				home = e.cluster
			}
		}
	}
	slices.Sort(holders)
	order := holders
	if home != "" {
		order = []string{home}
		_, fo := m.info(home)
		for _, f := range fo {
			if slices.Contains(holders, f) && !slices.Contains(order, f) {
				order = append(order, f)
			}
		}
		for _, c := range holders {
			if !slices.Contains(order, c) {
				order = append(order, c)
			}
		}
	}
	longer := m.holdsLonger("", number)
	var out, exists []string
	for rank, c := range order {
		vip, _ := m.info(c)
		if vip == "" || m.down[c] {
			continue
		}
		exists = append(exists, c)
		if nopartial {
			out = append(out, fmt.Sprintf("%s %d EXISTS %s@%s", c, 7+rank*100, number, vip))
			continue
		}
		flags := "EXISTS|CANMATCH"
		if m.holdsLonger(c, number) {
			flags = "EXISTS|MATCHMORE|CANMATCH"
		}
		out = append(out, fmt.Sprintf("%s %d %s %s@%s;c=%s", c, rank*100, flags, number, vip, c))
	}
	if nopartial || !longer {
		return out
	}
	var all []string
	for _, e := range m.roaming() {
		all = append(all, e.cluster)
	}
	slices.Sort(all)
	for _, c := range slices.Compact(all) {
		if !slices.Contains(exists, c) && m.holdsLonger(c, number) && !m.down[c] {
			out = append(out, c+" 0 MATCHMORE|CANMATCH ")
		}
	}
	return out
}

func (m plainModel) dontAsk(number string) string {
	for k := 1; k <= len(number); k++ {
		if p := number[:k]; !m.holds(p) && !m.holdsLonger("", p) {
			return number[:k]
		}
	}
	return ""
}

func (m plainModel) holds(number string) bool {
	for _, e := range m.roaming() {
		if e.number == number {
			return true
		}
	}
	return false
}
