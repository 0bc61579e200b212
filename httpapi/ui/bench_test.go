package ui_test

import (
	"net/http/httptest"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi/ui"
	"github.com/pbxtopo/pbxtopo/internal/bench"
)

// BenchmarkStatusPage renders the enterprise status page of 10 clusters
// (the goal: under 100 ms) through the handler, data included.
func BenchmarkStatusPage(b *testing.B) {
	f, err := bench.NewUIFixture(b.TempDir(), 10, 1000)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.Handler.ServeHTTP(rec, httptest.NewRequest("GET", ui.Prefix, nil))
		if rec.Code != 200 {
			b.Fatalf("status page: %d", rec.Code)
		}
	}
}

// BenchmarkGroupPage renders one page (200 rows) of the group status over
// 20,000 extensions, sorted by name.
func BenchmarkGroupPage(b *testing.B) {
	f, err := bench.NewUIFixture(b.TempDir(), 10, 20000)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.Handler.ServeHTTP(rec, httptest.NewRequest("GET", ui.Prefix+"groups?group=USSales&sort=name", nil))
		if rec.Code != 200 {
			b.Fatalf("group page: %d", rec.Code)
		}
	}
}
