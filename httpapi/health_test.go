package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
)

// startingRaft is a node still replaying its log, or one that stopped.
type startingRaft struct {
	service.RaftView
	ready   bool
	stalled error
}

func (r *startingRaft) Ready() (bool, string) {
	return r.ready, "starting: replaying 7 entries of the Raft log"
}
func (r *startingRaft) Stalled() error { return r.stalled }

// TestStartingNodeAnswers503 checks what a node says while it replays its
// Raft log (its copy may miss acknowledged writes) and after it stopped
// applying the log: the API answers 503 with the reason, health says so.
func TestStartingNodeAnswers503(t *testing.T) {
	_, st := sampleService(t)
	raft := &startingRaft{}
	svc := service.NewServiceWith(st, service.Deps{Raft: raft})
	h := Handler(svc, nil)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/v1/extensions/tpa1/6105"); code != 503 || !strings.Contains(body, "starting: replaying 7 entries") {
		t.Fatalf("a read while starting: %d %s", code, body)
	}
	code, body := get("/v1/health")
	var hs service.Health
	json.Unmarshal([]byte(body), &hs)
	if code != 503 || hs.Status != "starting" {
		t.Fatalf("health while starting: %d %s", code, body)
	}
	raft.ready = true
	if code, _ := get("/v1/extensions/tpa1/6105"); code != http.StatusOK {
		t.Fatalf("a read once ready: %d", code)
	}
	raft.stalled = errors.New("this node stopped applying the Raft log: entry 9 cannot be read by this pbxtopo: upgrade this node")
	if code, body := get("/v1/health"); code != 503 || !strings.Contains(body, `"unhealthy"`) || !strings.Contains(body, "upgrade this node") {
		t.Fatalf("health of a stalled node: %d %s", code, body)
	}
	if _, err := svc.Get(context.Background(), "extensions", "tpa1/6105"); err != nil {
		t.Fatalf("the service itself still reads: %v", err)
	}
}
