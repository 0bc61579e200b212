package httpapi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Past max_inflight a request waits queue_wait for a slot, then gets 503
// with Retry-After; a slot freed in time serves the waiting request.
func TestShedderRefusesPastItsSlots(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	s := newShedder(ShedConfig{MaxInflight: 2, QueueWait: 50 * time.Millisecond})
	h := s.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(204)
	}))
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/extensions", nil))
			codes[i] = rec.Code
		}()
	}
	<-started
	<-started
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/extensions", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("third request: %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("refused after %v, before its queue wait", waited)
	}
	// A slot freed while a request waits serves it.
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/extensions", nil))
		done <- rec.Code
	}()
	time.Sleep(10 * time.Millisecond) // let it queue (either way it must be served)
	release <- struct{}{}
	<-started
	close(release)
	if code := <-done; code != 204 {
		t.Errorf("the waiting request got %d", code)
	}
	wg.Wait()
	if codes[0] != 204 || codes[1] != 204 {
		t.Errorf("the first two got %v", codes)
	}
}

// The API sheds every route but health.
func TestHandlerShedsAllButHealth(t *testing.T) {
	svc, _ := sampleService(t)
	h := HandlerWith(svc, HandlerOptions{Shed: ShedConfig{MaxInflight: 1, QueueWait: time.Millisecond}})
	// Hold the only slot with a request whose body never ends.
	pr, pw := newBlockingBody()
	defer pw.Close()
	imp := httptest.NewRequest("POST", "/v1/import?table=extensions", pr)
	imp.Header.Set("Content-Type", "text/csv")
	go h.ServeHTTP(httptest.NewRecorder(), imp)
	// The import holds the slot once it reads its body (a listing sent
	// before that could take the slot first and get the import shed).
	select {
	case <-pr.reading:
	case <-time.After(5 * time.Second):
		t.Fatal("the import never read its body")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/extensions?limit=1", nil))
		if rec.Code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a listing was never shed while the only slot was held: %d", rec.Code)
		}
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/health", nil))
	if rec.Code != 200 {
		t.Errorf("health under load: %d %s", rec.Code, rec.Body)
	}
}

// newBlockingBody is a request body that blocks until closed.
func newBlockingBody() (*blockingBody, *blockingBody) {
	b := &blockingBody{done: make(chan struct{}), reading: make(chan struct{})}
	return b, b
}

// blockingBody blocks its reader until it is closed; reading is closed at
// the first read.
type blockingBody struct {
	once, read    sync.Once
	done, reading chan struct{}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	b.read.Do(func() { close(b.reading) })
	<-b.done
	return 0, http.ErrBodyReadAfterClose
}
func (b *blockingBody) Close() error { b.once.Do(func() { close(b.done) }); return nil }
