//go:build campaign

package asterisktest_test

import (
	"context"
	"sort"
	"testing"
	"time"
)

// TestPhoneFailoverCampaign is the README's figure (make phone-campaign,
// about half an hour): a 60 s re-registration interval and a 30 s TTL,
// five runs; in each, tpa1 is killed whole (Asterisk and agent), brought
// back, then its Asterisk alone is killed and restarted. Every failover
// must register the phone at tpa2 within 65 s of the kill.
func TestPhoneFailoverCampaign(t *testing.T) {
	needPhoneTools(t)
	tm := phoneTiming{regint: 60, ttl: 30, within: 65 * time.Second}
	r := newPhoneRig(t, tm)
	r.registeredAt(r.clusters[0], 20*time.Second, time.Now())
	var whole, astOnly, back []time.Duration
	for run := 1; run <= 5; run++ {
		d := r.failover(tm, killCluster)
		whole = append(whole, d)
		b := r.restore(tm)
		back = append(back, b)
		a := r.failover(tm, killAsterisk)
		astOnly = append(astOnly, a)
		r.restoreAsterisk(tm)
		t.Logf("run %d: cluster killed → registered at tpa2 in %v; back at tpa1 %v after its return; Asterisk alone killed → tpa2 in %v",
			run, d.Round(time.Second), b.Round(time.Second), a.Round(time.Second))
	}
	for _, ds := range [][]time.Duration{whole, astOnly} {
		for _, d := range ds {
			if d > tm.within {
				t.Errorf("a failover took %v, more than %v", d, tm.within)
			}
		}
	}
	t.Logf("5 of 5 within %v: cluster killed %v; Asterisk alone killed %v; return %v", tm.within, spread(whole), spread(astOnly), spread(back))
}

func spread(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[0].Round(time.Second).String() + "–" + s[len(s)-1].Round(time.Second).String()
}

// restoreAsterisk restarts tpa1's Asterisk beside its live agent and waits
// until the phone has left tpa2 for it.
func (r *phoneRig) restoreAsterisk(tm phoneTiming) {
	r.t.Helper()
	tpa1, tpa2 := r.clusters[0], r.clusters[1]
	if err := tpa1.ast.Restart(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	waitUntil(r.t, time.Duration(2*tm.regint+10)*time.Second, "the phone back at tpa1 and gone from tpa2", func() bool {
		return r.registered(tpa1) && !r.registered(tpa2)
	})
}
