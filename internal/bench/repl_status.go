package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
)

// statusFlaps is how many times the phone's status changes between two
// pulls in the coalescing measurement.
const statusFlaps = 100

// statusCoalescing measures what status replication ships over the real
// transport for a phone whose status is written statusFlaps times: pulled
// once after all of them (coalesced: only the latest value of the key
// crosses), against pulled after every write (what shipping each write
// would cost: the anchor). Bytes are the encoded status answers the
// serving replica counts (repl status's bytes_served), without HTTP/2 and
// TLS framing.
func statusCoalescing(ctx context.Context, env Env) ([]Result, error) {
	env.Param("status_flaps", statusFlaps)
	e, err := newEnterprise(filepath.Join(env.Dir, "status"), replicator.Mesh, 2)
	if err != nil {
		return nil, err
	}
	defer e.close()
	key := ami.ExtKey("r0", "6109", "r0-1")
	src := replicator.Source{Cluster: "r0", Addrs: []string{e.addrs[0]}}
	served := func() (entries, bytes uint64) {
		for _, l := range e.reps[0].StatusStats() {
			if l.Peer == "r1" {
				return l.Served, l.BytesOut
			}
		}
		return 0, 0
	}
	flap := func(i int) error {
		state := "registered"
		if i%2 == 1 {
			state = "unreachable"
		}
		v := ami.Encode(pbx.Fields{"regstatus": state, "ipaddr": "10.0.0.5", "port": "5060", "lastms": strconv.Itoa(20 + i%40),
			"useragent": "Yealink SIP-T46S 66.86.0.15", "regserver": "r0-1", "node": "r0-1", "updated": strconv.Itoa(1_800_000_000_000 + i*1000)})
		return e.stores[0].PutStatus(ctx, map[string][]byte{key: v})
	}
	pull := func() error {
		_, err := e.reps[1].SyncStatus(ctx, src)
		return err
	}
	// The first pull takes what is there (nothing yet) and sets the mark.
	if err := pull(); err != nil {
		return nil, fmt.Errorf("status pull: %w", err)
	}
	e0, b0 := served()
	for i := range statusFlaps {
		if err := flap(i); err != nil {
			return nil, err
		}
		if err := pull(); err != nil {
			return nil, fmt.Errorf("status pull: %w", err)
		}
	}
	e1, b1 := served()
	for i := range statusFlaps {
		if err := flap(statusFlaps + i); err != nil {
			return nil, err
		}
	}
	if err := pull(); err != nil {
		return nil, fmt.Errorf("status pull: %w", err)
	}
	e2, b2 := served()
	if e1-e0 != statusFlaps {
		return nil, fmt.Errorf("pulled after every write, %d entries crossed for %d writes", e1-e0, statusFlaps)
	}
	name := fmt.Sprintf("status of one phone written %d times between two pulls", statusFlaps)
	return []Result{
		{Name: name + ": entries shipped", Value: float64(e2 - e1), Unit: "entries",
			Anchor: "pulled after every write", AnchorValue: float64(e1 - e0)},
		{Name: name + ": bytes shipped", Value: float64(b2 - b1), Unit: "bytes",
			Anchor: "pulled after every write", AnchorValue: float64(b1 - b0),
			AnchorSettings: fmt.Sprintf("the same %d writes, each followed by a pull from r1 over HTTP/2 mTLS", statusFlaps),
			Note:           "encoded status answers as the serving replica counts them (bytes_served), without HTTP/2 and TLS framing"},
	}, nil
}
