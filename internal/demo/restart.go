package demo

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Restart stops a node cleanly (SIGTERM) and starts it again, then waits
// until its API answers and it sees every other node of the enterprise
// alive in its membership: it has rejoined.
func (e *Enterprise) Restart(ctx context.Context, n *Node) error {
	if err := n.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := n.Wait(20 * time.Second); err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	return e.WaitRejoined(ctx, n)
}

// WaitRejoined waits until n's API answers and its membership lists every
// other running node of the enterprise alive.
func (e *Enterprise) WaitRejoined(ctx context.Context, n *Node) error {
	var last string
	for ctx.Err() == nil {
		ms, err := e.Client(n, "read").Members(ctx)
		if err == nil {
			alive := map[string]bool{}
			for _, m := range ms {
				alive[m.Node] = m.Status == "alive"
			}
			missing := []string{}
			for _, o := range e.Nodes() {
				if o.running() && !alive[o.Name] {
					missing = append(missing, o.Name)
				}
			}
			if len(missing) == 0 {
				return nil
			}
			last = fmt.Sprintf("it does not see %v alive", missing)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not rejoin: %s (%w; see %s)", n.Name, last, ctx.Err(), n.Log)
}

// running reports whether the node's process runs.
func (n *Node) running() bool {
	if n.proc.exited == nil {
		return false
	}
	select {
	case <-n.proc.exited:
		return false
	default:
		return true
	}
}
