package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openT(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func entry(idx uint64) *raft.Log {
	e := &raft.Log{Index: idx, Term: idx/10 + 1, Type: raft.LogCommand,
		Data: []byte(fmt.Sprintf("entry-%d-%s", idx, strings.Repeat("x", int(idx%7)*10)))}
	if idx%3 == 0 {
		e.Extensions = []byte{byte(idx), 1, 2}
	}
	if idx%2 == 0 {
		e.AppendedAt = time.Unix(1700000000, int64(idx))
	}
	return e
}

func entries(from, to uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, entry(i))
	}
	return out
}

func store(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	if err := l.StoreLogs(entries(from, to)); err != nil {
		t.Fatal(err)
	}
}

func sameEntry(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && bytes.Equal(a.Data, b.Data) &&
		bytes.Equal(a.Extensions, b.Extensions) && a.AppendedAt.Equal(b.AppendedAt)
}

// checkRange checks the log holds exactly entries first..last as entry() makes them.
func checkRange(t *testing.T, l *Log, first, last uint64) {
	t.Helper()
	f, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	if f != first || la != last {
		t.Fatalf("log holds %d-%d, want %d-%d", f, la, first, last)
	}
	var got raft.Log
	if first > 1 {
		if err := l.GetLog(first-1, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("entry %d before the first: %v", first-1, err)
		}
	}
	if err := l.GetLog(last+1, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("entry %d after the last: %v", last+1, err)
	}
	for i := first; i <= last && last != 0; i++ {
		if err := l.GetLog(i, &got); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if !sameEntry(&got, entry(i)) {
			t.Fatalf("entry %d: got %+v want %+v", i, got, entry(i))
		}
	}
}

func TestStoreReopen(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 300})
	checkRange(t, l, 0, 0)
	store(t, l, 1, 1)
	store(t, l, 2, 10)
	if err := l.StoreLog(entry(11)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(12); i <= 40; i += 5 {
		store(t, l, i, min(i+4, 40))
	}
	checkRange(t, l, 1, 40)
	// One fsync per append, one more per new segment's directory entry.
	if st := l.Stats(); st.Appends != 9 || st.Fsyncs != st.Appends+uint64(len(l.segs)) || st.Bytes != uint64(l.segs[len(l.segs)-1].size()+sumSizes(l.segs[:len(l.segs)-1])) {
		t.Fatalf("stats %+v with %d segments", st, len(l.segs))
	}
	if len(l.segs) < 3 {
		t.Fatalf("%d segments with a 300-byte segment size", len(l.segs))
	}
	if err := l.StoreLogs(entries(42, 43)); err == nil {
		t.Fatal("an append with a gap was accepted")
	}
	l.Close()
	l = openT(t, dir, Options{SegmentSize: 300})
	checkRange(t, l, 1, 40)
	if len(l.Repairs()) != 0 {
		t.Fatalf("repairs on a clean log: %v", l.Repairs())
	}
}

func sumSizes(segs []*segment) int64 {
	var n int64
	for _, s := range segs {
		n += s.size()
	}
	return n
}

func TestDeleteRange(t *testing.T) {
	for _, seg := range []int64{0, 250} {
		t.Run(fmt.Sprint("segment", seg), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: seg}
			l := openT(t, dir, opts)
			store(t, l, 1, 50)
			if err := l.DeleteRange(1, 17); err != nil { // compaction
				t.Fatal(err)
			}
			checkRange(t, l, 18, 50)
			if err := l.DeleteRange(41, 50); err != nil { // a conflicting suffix
				t.Fatal(err)
			}
			checkRange(t, l, 18, 40)
			if err := l.DeleteRange(20, 30); err == nil {
				t.Fatal("a delete from the middle was accepted")
			}
			store(t, l, 41, 60)
			l.Close()
			l = openT(t, dir, opts)
			checkRange(t, l, 18, 60)
			if err := l.DeleteRange(0, 100); err != nil { // a snapshot installed
				t.Fatal(err)
			}
			checkRange(t, l, 0, 0)
			store(t, l, 5, 9) // below the old first index
			l.Close()
			l = openT(t, dir, opts)
			checkRange(t, l, 5, 9)
		})
	}
}

// TestMatchesInmemStore runs random appends, deletes at both ends and
// reopens against raft's own in-memory store and compares them after each.
func TestMatchesInmemStore(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 400}
	l := openT(t, dir, opts)
	ref := raft.NewInmemStore()
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 400 {
		first, _ := ref.FirstIndex()
		last, _ := ref.LastIndex()
		var err error
		switch op := rng.IntN(10); {
		case op < 6:
			from := last + 1
			if last == 0 {
				from = uint64(rng.IntN(50) + 1)
			}
			batch := entries(from, from+uint64(rng.IntN(8)))
			ref.StoreLogs(batch)
			err = l.StoreLogs(batch)
		case op < 7 && last > 0:
			max := first + uint64(rng.IntN(int(last-first+1)))
			ref.DeleteRange(first, max)
			err = l.DeleteRange(first, max)
		case op < 8 && last > 0:
			min := first + uint64(rng.IntN(int(last-first+1)))
			ref.DeleteRange(min, last)
			err = l.DeleteRange(min, last)
		case op < 9:
			l.Close()
			l, err = Open(dir, opts)
			t.Cleanup(func() { l.Close() })
		default:
			if last > 0 && rng.IntN(4) == 0 {
				ref.DeleteRange(first, last)
				err = l.DeleteRange(first, last)
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		rf, _ := ref.FirstIndex()
		rl, _ := ref.LastIndex()
		checkRange(t, l, rf, rl)
	}
}

// recordOffset returns the file and offset of entry idx.
func recordOffset(t *testing.T, l *Log, idx uint64) (string, int64) {
	t.Helper()
	for _, s := range l.segs {
		if idx >= s.base && idx <= s.last() {
			return s.path, s.offs[idx-s.base]
		}
	}
	t.Fatalf("no entry %d", idx)
	return "", 0
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	cases := []struct {
		name string
		// damage the log whose last batch is entries 21-25; return the
		// last entry that must survive.
		damage func(t *testing.T, l *Log) uint64
	}{
		{"last record cut short", func(t *testing.T, l *Log) uint64 {
			path, off := recordOffset(t, l, 25)
			os.Truncate(path, off+11)
			return 24
		}},
		{"header cut short", func(t *testing.T, l *Log) uint64 {
			path, off := recordOffset(t, l, 25)
			os.Truncate(path, off+3)
			return 24
		}},
		{"zeros after the end", func(t *testing.T, l *Log) uint64 {
			path, _ := recordOffset(t, l, 25)
			appendFile(t, path, make([]byte, 4096))
			return 25
		}},
		{"garbage after the end", func(t *testing.T, l *Log) uint64 {
			path, _ := recordOffset(t, l, 25)
			appendFile(t, path, []byte("\x30\x00\x00\x00garbage that is not a record at all, 48 bytes.."))
			return 25
		}},
		{"the last batch's first record torn, the rest written", func(t *testing.T, l *Log) uint64 {
			path, off := recordOffset(t, l, 21)
			flipByte(t, path, off+20)
			return 20
		}},
		{"a zeroed page in the last batch", func(t *testing.T, l *Log) uint64 {
			path, off := recordOffset(t, l, 23)
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt(make([]byte, 8), off)
			f.Close()
			return 22
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{})
			store(t, l, 1, 10)
			store(t, l, 11, 20)
			store(t, l, 21, 25)
			keep := c.damage(t, l)
			l.Close()
			l = openT(t, dir, Options{})
			checkRange(t, l, 1, keep)
			if keep != 25 && len(l.Repairs()) == 0 {
				t.Fatal("the cut is not reported")
			}
			store(t, l, keep+1, 30)
			l.Close()
			l = openT(t, dir, Options{})
			checkRange(t, l, 1, 30)
			if len(l.Repairs()) != 0 {
				t.Fatalf("repairs after a clean reopen: %v", l.Repairs())
			}
		})
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// A damaged record that an acknowledged later batch follows is not a torn
// write: opening fails and says where, instead of cutting acknowledged
// entries.
func TestCorruptMiddle(t *testing.T) {
	cases := []struct {
		name  string
		seg   int64
		entry uint64
	}{
		{"inside the last segment", 0, 15},
		{"the last record of a batch", 0, 20},
		{"in an earlier segment", 200, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: c.seg}
			l := openT(t, dir, opts)
			store(t, l, 1, 10)
			store(t, l, 11, 20)
			store(t, l, 21, 25)
			path, off := recordOffset(t, l, c.entry)
			l.Close()
			flipByte(t, path, off+frameHeader+30)
			before, _ := os.ReadFile(path)
			_, err := Open(dir, opts)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
			if want := fmt.Sprintf("%s at offset %d", path, off); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("a failed open changed the file")
			}
		})
	}
}

func TestGetLogChecksum(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	store(t, l, 1, 5)
	path, off := recordOffset(t, l, 3)
	flipByte(t, path, off+frameHeader+35)
	var e raft.Log
	if err := l.GetLog(3, &e); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a damaged entry: %v", err)
	}
}

func TestStable(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	if _, err := l.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing key: %v (raft needs the text \"not found\")", err)
	}
	if _, err := l.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing number: %v", err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("node-b")); err != nil {
		t.Fatal(err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 8); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openT(t, dir, Options{})
	if v, err := l.GetUint64([]byte("CurrentTerm")); err != nil || v != 8 {
		t.Fatalf("term %d, %v", v, err)
	}
	if v, err := l.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-b" {
		t.Fatalf("vote %q, %v", v, err)
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".tmp") {
			t.Fatalf("temporary file left: %s", de.Name())
		}
	}
	// A damaged stable file is an error, not an empty vote.
	l.Close()
	flipByte(t, filepath.Join(dir, stableFile), 6)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a damaged stable file: %v", err)
	}
}

// Replication reads entries while the leader appends and compacts.
func TestConcurrentReads(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 1000})
	store(t, l, 1, 10)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var e raft.Log
			for {
				select {
				case <-stop:
					return
				default:
				}
				first, _ := l.FirstIndex()
				last, _ := l.LastIndex()
				for i := first; i <= last; i++ {
					if err := l.GetLog(i, &e); err != nil && !errors.Is(err, raft.ErrLogNotFound) {
						t.Error(err)
						return
					}
					if e.Index == i && !sameEntry(&e, entry(i)) {
						t.Errorf("entry %d differs", i)
						return
					}
				}
			}
		}()
	}
	for i := uint64(11); i < 400; i += 5 {
		store(t, l, i, i+4)
		if i%50 == 1 {
			if err := l.DeleteRange(1, i-20); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

func FuzzDecodeRecord(f *testing.F) {
	for _, e := range []*raft.Log{entry(1), entry(6), {Index: 9, Type: raft.LogBarrier}} {
		f.Add(appendRecord(nil, e, e.Index))
	}
	f.Add([]byte{})
	f.Add([]byte{0x25, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode(t, b)
		// Random bytes rarely pass the checksum: also frame them as a
		// payload with a right one, to reach the payload's parsing.
		rec := binary.LittleEndian.AppendUint32(nil, uint32(len(b)))
		rec = binary.LittleEndian.AppendUint32(rec, crc32.Update(crc32.Checksum(rec, castagnoli), castagnoli, b))
		fuzzDecode(t, append(rec, b...))
	})
}

func fuzzDecode(t *testing.T, b []byte) {
	var l raft.Log
	n, err := decodeRecord(b, &l)
	if err != nil {
		return
	}
	h, err := checkRecord(b)
	if err != nil || h.index != l.Index {
		t.Fatalf("decoded a record checkRecord refuses: %v", err)
	}
	if again := appendRecord(nil, &l, h.batch); !bytes.Equal(again, b[:n]) {
		t.Fatalf("re-encoding differs:\n%x\n%x", again, b[:n])
	}
}
