package ami_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
)

func BenchmarkReadMessage(b *testing.B) {
	m := amitest.M("Event", "QueueMemberStatus", "Privilege", "agent,all", "Queue", "sales", "MemberName", "Kate",
		"Interface", "PJSIP/5020", "StateInterface", "PJSIP/5020", "Membership", "dynamic", "Penalty", "0",
		"CallsTaken", "3", "InCall", "1", "Status", "2", "Paused", "0", "PausedReason", "")
	one := string(m.AppendWire(nil))
	text := strings.Repeat(one, 1000)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		r := ami.NewReader(strings.NewReader(text))
		for range 1000 {
			if _, err := r.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkHandleEvent(b *testing.B) {
	st := openStore(b, "5060")
	cfg := testConfig("ast1")
	cfg.VIP = "off"
	c, err := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: st, AMI: offline{}})
	if err != nil {
		b.Fatal(err)
	}
	c.Refresh(context.Background())
	evs := make([]ami.Message, 100)
	for i := range evs {
		evs[i] = amitest.M("Event", "ContactStatus", "URI", "sip:5020@10.0.0.5:5060", "ContactStatus", "Reachable",
			"AOR", "5020", "EndpointName", "5020", "RoundtripUsec", strconv.Itoa(10000+i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.HandleEvent(evs[i%len(evs)])
		i++
	}
}
