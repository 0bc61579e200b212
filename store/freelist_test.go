package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The store's file carries bbolt's free list, so that opening it reads
// the free list instead of every page of the file (which kept a million
// extensions' 733 MB store resident in the agent from its start). Read
// off the newest meta page: its free list page is not "none".
func TestStoreFileCarriesItsFreeList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cfg := DefaultConfig(path)
	cfg.Replica = "tpa1"
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		put(t, s, fmt.Sprintf("tpa1/%d", 6100+i), "cluster", "tpa1", "regexten", fmt.Sprint(6100+i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt's layout: two meta pages at the start; a page header of 16
	// bytes, then magic, version, page size, flags (4 bytes each), the
	// root bucket (16), the free list page, the high water mark and the
	// transaction id (8 each).
	const noFreelist = ^uint64(0)
	pageSize := int(binary.LittleEndian.Uint32(b[16+8:]))
	newest, newestTx := uint64(0), uint64(0)
	for _, off := range []int{0, pageSize} {
		freelist := binary.LittleEndian.Uint64(b[off+48:])
		if tx := binary.LittleEndian.Uint64(b[off+64:]); tx >= newestTx {
			newest, newestTx = freelist, tx
		}
	}
	if newest == noFreelist {
		t.Fatalf("the store file has no free list (transaction %d): every open walks every page to rebuild it", newestTx)
	}
}
