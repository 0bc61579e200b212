package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStoreSuiteQuick runs the store suite small, so it cannot rot: every
// row is measured, and the store's pages/s stands beside the disk's own
// rate for flushes of the same shape.
func TestStoreSuiteQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	rs, err := Store(context.Background(), Env{Dir: t.TempDir(), Self: pbxtopoBinary(t), Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	var pages *Result
	for i, r := range rs {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Name, r.Error)
		}
		if r.Name == "store pages written, 32 writers" {
			pages = &rs[i]
		}
	}
	if pages == nil {
		t.Fatal("no row of the store's pages/s")
	}
	if pages.Value <= 0 || pages.AnchorValue <= 0 || !strings.HasPrefix(pages.Anchor, "raw scattered pages, ") {
		t.Errorf("pages row %+v: want the store's pages/s and the disk's, both measured", *pages)
	}
}

// ScatteredPageRate measures: a positive rate, and an error for a
// directory it cannot write in.
func TestScatteredPageRate(t *testing.T) {
	r, err := ScatteredPageRate(t.TempDir(), 50*time.Millisecond, 16)
	if err != nil || r <= 0 {
		t.Fatalf("rate %v, %v", r, err)
	}
	if _, err := ScatteredPageRate(t.TempDir()+"/missing", 50*time.Millisecond, 16); err == nil {
		t.Fatal("no error for a missing directory")
	}
}
