package ui

import (
	"context"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
)

// findingsTTL is how long the status page's findings tile reuses the
// audit's counts: the audit reads the whole store (tens of milliseconds
// at 20,000 extensions) and a board asks every few seconds. An
// acknowledgement made on the audit page clears it.
const findingsTTL = 10 * time.Second

// findingsCounts keeps the last counts of the audit's alerting findings.
type findingsCounts struct {
	mu       sync.Mutex
	at       time.Time
	alerting map[string]int
}

// get returns the alerting findings by severity, from the audit when the
// last counts are older than findingsTTL.
func (f *findingsCounts) get(ctx context.Context, src AuditSource) (map[string]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.alerting != nil && time.Since(f.at) < findingsTTL {
		return f.alerting, nil
	}
	res, err := src.Audit(ctx, service.AuditQuery{})
	if err != nil {
		return nil, err
	}
	f.at, f.alerting = time.Now(), res.Alerting
	return f.alerting, nil
}

func (f *findingsCounts) clear() {
	f.mu.Lock()
	f.alerting = nil
	f.mu.Unlock()
}
