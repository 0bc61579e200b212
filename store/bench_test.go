package store

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// BenchmarkRawFsync is the anchor: one 4 KiB write and fsync on the disk
// of the temp dir.
func BenchmarkRawFsync(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "fsync")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < b.N; i++ {
		f.WriteAt(buf, int64(i%256)*4096)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWrites(b *testing.B, writers int) {
	s := newTestStore(b, "tpa1")
	v := val("cluster", "tpa1", "name", "George Lopez", "callerid", "George Lopez <6109>", "mailbox", "6109")
	var n atomic.Int64
	b.SetParallelism(writers) // RunParallel starts writers × GOMAXPROCS goroutines
	before := s.Stats()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Write(bg, "bench", []Mutation{{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", i), Value: v}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	reportCommits(b, s, before)
}

// reportCommits reports how many writes shared a commit and how many
// pages a commit wrote (and fsynced) since before.
func reportCommits(b *testing.B, s *Store, before Stats) {
	after := s.Stats()
	commits := float64(after.Commits - before.Commits)
	b.ReportMetric(float64(b.N)/commits, "writes/commit")
	b.ReportMetric(float64(after.PagesWritten-before.PagesWritten)/commits, "pages/commit")
}

// BenchmarkDurableWrite: fsynced writes, alone and with many writers
// sharing commits.
func BenchmarkDurableWrite(b *testing.B) {
	b.Run("writers=1", func(b *testing.B) {
		s := newTestStore(b, "tpa1")
		v := val("cluster", "tpa1", "name", "George Lopez")
		before := s.Stats()
		for i := 0; i < b.N; i++ {
			if _, err := s.Write(bg, "bench", []Mutation{{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", i), Value: v}}); err != nil {
				b.Fatal(err)
			}
		}
		reportCommits(b, s, before)
	})
	b.Run("writers=32", func(b *testing.B) { benchWrites(b, 16) }) // 16 × GOMAXPROCS(2)
}

// BenchmarkFieldMergeCost measures what field-level merge costs on disk
// for 100,000 extensions edited ten times each, one field at a time, with
// no concurrency, once the tombstone collection has run: bytes per stored
// record and per logged change, next to the same records and changes in
// the previous release's format (format 1: no graph, no Set).
func BenchmarkFieldMergeCost(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 2_000
	}
	for i := 0; i < b.N; i++ {
		s := newTestStore(b, "tpa1")
		if _, err := s.Write(bg, "bench", []Mutation{{Table: "clusters", Key: "tpa1", Value: val("name", "tpa1", "site", "tpa", "voice_vip", "192.0.2.1")},
			{Table: "acls", Key: "internal_phones", Value: val("name", "internal_phones", "networks", "10.0.0.0/8")}}); err != nil {
			b.Fatal(err)
		}
		key := func(k int) string { return fmt.Sprintf("tpa1/%d", 100000+k) }
		const batch = 1000
		for lo := 0; lo < n; lo += batch {
			var muts []Mutation
			for k := lo; k < min(lo+batch, n); k++ {
				muts = append(muts, Mutation{Table: "extensions", Key: key(k), Value: val("cluster", "tpa1", "site", "tpa", "regexten", key(k)[5:],
					"name", "George Lopez", "callerid", `"George Lopez" <6109>`, "mailbox", key(k)[5:], "vmsecret", "804417", "secret", "kQ3v9Lm2Zp7xW4rT",
					"context", "internal", "callgroup", "1", "pickupgroup", "1", "language", "en", "acl", "internal_phones", "allow", "ulaw,alaw")})
			}
			if _, err := s.Write(bg, "bench", muts); err != nil {
				b.Fatal(err)
			}
		}
		edits := []string{"fullcontact", "accountcode", "fromuser", "callgroup", "pickupgroup", "language", "context", "name", "callerid", "fromdomain"}
		values := []string{"George L", "sales", "george", "2", "2", "es", "sales", "G. Lopez", `"G. Lopez" <6109>`, "example.net"}
		for e := range edits {
			for lo := 0; lo < n; lo += batch {
				var muts []Mutation
				for k := lo; k < min(lo+batch, n); k++ {
					muts = append(muts, Mutation{Table: "extensions", Key: key(k), Patch: pbx.Fields{edits[e]: values[e]}})
				}
				if _, err := s.Write(bg, "bench", muts); err != nil {
					b.Fatal(err)
				}
			}
		}
		sum := s.Summary()
		if _, err := s.PurgeTombstones(bg, sum, sum); err != nil {
			b.Fatal(err)
		}
		var recNow, recBefore, chNow, chBefore, changes int
		s.View(func(sn *Snapshot) error {
			tb, _ := tableBucket(sn.tx, "extensions", false)
			tb.ForEach(func(k, v []byte) error {
				r, err := DecodeRecord("extensions", string(k), v)
				if err != nil {
					return err
				}
				recNow += len(v)
				recBefore += len(AppendRecordV1(nil, r))
				return nil
			})
			return sn.tx.Bucket(bLog).ForEach(func(_, v []byte) error {
				_, c, err := decodeLogEntry(v)
				if err != nil || c.Table != "extensions" || c.Set == nil {
					return err
				}
				changes++
				chNow += len(v)
				old := *c
				old.Set = nil
				chBefore += len(appendLogEntry(nil, 0, &old)) - len(appendLogEntry(nil, 0, c)) + len(v)
				return nil
			})
		})
		b.ReportMetric(float64(recNow)/float64(n), "B/record")
		b.ReportMetric(float64(recBefore)/float64(n), "B/record-format1")
		b.ReportMetric(float64(chNow)/float64(changes), "B/change")
		b.ReportMetric(float64(chBefore)/float64(changes), "B/change-format1")
	}
}

// BenchmarkDurableUpdate: 32 writers each changing one field of an
// existing extension, among 20,000: what an edit costs a commit.
func BenchmarkDurableUpdate(b *testing.B) {
	s := newTestStore(b, "tpa1")
	const records = 20_000
	if _, err := s.Write(bg, "bench", []Mutation{{Table: "clusters", Key: "tpa1", Value: val("name", "tpa1", "site", "tpa", "voice_vip", "192.0.2.1")}}); err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < records; lo += 1000 {
		var muts []Mutation
		for k := lo; k < lo+1000; k++ {
			muts = append(muts, Mutation{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", 100000+k),
				Value: val("cluster", "tpa1", "regexten", fmt.Sprint(100000+k), "name", "George Lopez", "callerid", "George Lopez <6109>", "mailbox", "6109")})
		}
		if _, err := s.Write(bg, "bench", muts); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS(2)
	before := s.Stats()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			key := fmt.Sprintf("tpa1/%d", 100000+(i*7919)%records)
			if _, err := s.Write(bg, "bench", []Mutation{{Table: "extensions", Key: key, Patch: pbx.Fields{"name": fmt.Sprint("George ", i)}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	reportCommits(b, s, before)
	b.ReportMetric(float64(s.Stats().PagesWritten-before.PagesWritten)/float64(b.N), "pages/write")
}
