package netns

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestRealAgentsInNamespaces runs the harness as `make chaos-net` does,
// shorter: two real agent processes, one network namespace each, writes
// through the API while faults hit them (iptables partitions, kill -9,
// SIGSTOP, netem where the kernel has it); then every acknowledged write
// must be at every cluster and 'repl verify' must say all the same.
func TestRealAgentsInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("real agent processes in network namespaces: not in -short")
	}
	if err := Available(); err != nil {
		t.Skipf("chaos/netns %v; run the tests as root with iproute2 and iptables installed (.ci/run does)", err)
	}
	probe := fmt.Sprintf("ptc-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("this machine does not let root make network namespaces (ip netns add: %v: %s); run on a host or a privileged container", err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()

	bin := filepath.Join(t.TempDir(), "pbxtopo")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/pbxtopo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	id := 200 + os.Getpid()%50
	cmd := exec.Command(bin, "chaos", "net", "--clusters", "2", "--mode", "ring", "--duration", "10s", "--seed", "1",
		"--id", fmt.Sprint(id), "--dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("chaos net: %v", err)
	}
	m := regexp.MustCompile(`acknowledged (\d+), .* lost (\d+), converged (true|false)`).FindSubmatch(out)
	if m == nil || string(m[1]) == "0" || string(m[2]) != "0" || string(m[3]) != "true" {
		t.Fatalf("want acknowledged writes, none lost, and convergence; got %q", m)
	}
}
