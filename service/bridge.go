package service

import (
	"fmt"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
)

// bridgeSection is the bridge as the status report shows it.
func bridgeSection(st *mysql.BridgeStatus) *ami.BridgeSection {
	if st == nil {
		return nil
	}
	b := &ami.BridgeSection{State: st.State, DSN: st.DSN, Position: st.Position, LagSeconds: st.LagSeconds, LastError: st.LastError}
	if st.State == mysql.StateStopped {
		b.State = "stopped (it runs on the cluster's Raft leader)"
	}
	for _, p := range st.Parked {
		b.Parked = append(b.Parked, fmt.Sprintf("%s (%s): %s; fix: %s", p.Row, p.Side, p.Problem, p.Fix))
	}
	return b
}
