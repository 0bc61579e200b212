package store

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The durability tests run this test binary again as a child process that
// writes and prints an "ack" line after each acknowledged write.
const childEnv = "PBXTOPO_STORE_CHILD"

// TestDurabilityChild is the child's body; it does nothing in a normal run.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of a durability test")
	}
	writers := 1
	fmt.Sscan(os.Getenv(childEnv+"_WRITERS"), &writers)
	count := 1 << 30
	fmt.Sscan(os.Getenv(childEnv+"_COUNT"), &count)
	cfg := DefaultConfig(path)
	cfg.Replica = "tpa1"
	s, err := Open(cfg)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < count; i++ {
				// Every third write is a transaction of three records.
				n := 1
				if i%3 == 2 {
					n = 3
				}
				var keys []string
				var muts []Mutation
				value := fmt.Sprintf("w%d-%d", w, i)
				for j := 0; j < n; j++ {
					k := fmt.Sprintf("w%d/%d/%d", w, i, j)
					keys = append(keys, k)
					muts = append(muts, Mutation{Table: "extensions", Key: k, Value: val("v", value)})
				}
				if _, err := s.Write(bg, "child", muts); err != nil {
					fmt.Println("error", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s %s\n", strings.Join(keys, ","), value)
				out.Flush() // one write(2) per ack, after the fsync
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	s.Close()
	os.Exit(0)
}

func childCmd(t *testing.T, path string, writers, count int, wrap ...string) *exec.Cmd {
	args := append(wrap, os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+path,
		fmt.Sprintf("%s_WRITERS=%d", childEnv, writers), fmt.Sprintf("%s_COUNT=%d", childEnv, count))
	cmd.Stderr = os.Stderr
	return cmd
}

// TestCrashKeepsAcknowledgedWrites kills a writing child with SIGKILL at a
// random moment (several seeds) and checks that the reopened store holds
// every acknowledged write with its value, whole transactions only, and is
// consistent.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, seed := range []int64{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewSource(seed))
			path := filepath.Join(t.TempDir(), "store.db")
			cmd := childCmd(t, path, 8, 1<<30)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acks := make(chan string, 1<<16)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					acks <- sc.Text()
				}
				close(acks)
			}()
			// Kill after a random number of acknowledgements, so the kill
			// lands at a different point of a commit each time.
			target := 200 + rnd.Intn(1500)
			var lines []string
			for line := range acks {
				lines = append(lines, line)
				if len(lines) == target {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
			cmd.Wait()
			if len(lines) < target {
				t.Fatalf("child stopped after %d acks: %v", len(lines), lines[len(lines)-1:])
			}
			cfg := DefaultConfig(path)
			s, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(); err != nil {
				t.Fatalf("store inconsistent after SIGKILL: %v", err)
			}
			checkAcks(t, s, lines)
			checkWholeTransactions(t, s)
		})
	}
}

func checkAcks(t *testing.T, s *Store, lines []string) {
	t.Helper()
	for _, line := range lines {
		var keys, value string
		if _, err := fmt.Sscanf(line, "ack %s %s", &keys, &value); err != nil {
			t.Fatalf("child said %q", line)
		}
		for _, k := range strings.Split(keys, ",") {
			f, ok, err := s.Get("extensions", k)
			if err != nil || !ok || f["v"] != value {
				t.Fatalf("acknowledged write %s=%s lost after SIGKILL (got %v %v %v)", k, value, f, ok, err)
			}
		}
	}
}

// checkWholeTransactions: a three-record write is there entirely or not at all.
func checkWholeTransactions(t *testing.T, s *Store) {
	t.Helper()
	present := map[string]int{}
	s.View(func(sn *Snapshot) error {
		return sn.Scan("extensions", "", func(k string, _ []byte) error {
			present[k[:strings.LastIndexByte(k, '/')]]++
			return nil
		})
	})
	for prefix, n := range present {
		var w, i int
		fmt.Sscanf(prefix, "w%d/%d", &w, &i)
		want := 1
		if i%3 == 2 {
			want = 3
		}
		if n != want {
			t.Fatalf("transaction %s is half there: %d of %d records", prefix, n, want)
		}
	}
}

// TestAcknowledgeAfterFsync traces the child's system calls and checks that
// every acknowledgement is preceded by an fdatasync that completed after
// the previous one: a store that skipped or deferred the flush fails here,
// which SIGKILL alone cannot show (the page cache survives it).
func TestAcknowledgeAfterFsync(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed (apt-get install strace); .ci/run installs it")
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.txt")
	cmd := childCmd(t, filepath.Join(dir, "store.db"), 1, 60, strace, "-f", "-qq", "-e", "trace=fdatasync,fsync,write", "-o", trace)
	cmd.Stdout = nil
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	syncDone := regexp.MustCompile(`(fdatasync|fsync)\(\d+\)\s+= 0|<\.\.\. f(data)?sync resumed>.*= 0`)
	ackWrite := regexp.MustCompile(`write\(1, "ack `)
	syncs, lastAckSyncs, acks := 0, 0, 0
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case syncDone.MatchString(line):
			syncs++
		case ackWrite.MatchString(line):
			acks++
			if syncs == lastAckSyncs {
				t.Fatalf("ack %d was written with no fdatasync since ack %d:\n%s", acks, acks-1, line)
			}
			lastAckSyncs = syncs
		}
	}
	if acks != 60 {
		t.Fatalf("traced %d acks, want 60 (trace format changed?)", acks)
	}
	t.Logf("%d acknowledged writes, %d fdatasync calls", acks, syncs)
}
