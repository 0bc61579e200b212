package bench

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestTreeCPUCountsChildren: a shell that forks a busy child uses CPU
// through the child; the tree's count grows.
func TestTreeCPUCountsChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sh -c 'while :; do :; done' & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range children(cmd.Process.Pid) {
			syscall.Kill(c, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := treeCPU(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if d >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tree used %v of CPU in 10 s of a busy loop", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if self, err := selfCPU(); err != nil || self <= 0 {
		t.Fatalf("self: %v %v", self, err)
	}
}
