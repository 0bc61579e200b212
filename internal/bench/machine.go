package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Machine is what a figure was measured on, so two runs can be compared.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemoryMB   int    `json:"memory_mb,omitempty"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Go         string `json:"go"`
	Filesystem string `json:"filesystem,omitempty"` // of the scratch directory, where the fsyncs go
	Load       Load   `json:"load_at_start"`
}

// Load is the 1, 5 and 15 minute load averages (/proc/loadavg).
type Load [3]float64

func (l Load) String() string { return strconv.FormatFloat(l[0], 'f', 2, 64) }

// ReadLoad returns the load averages now (zero where /proc is missing).
func ReadLoad() Load {
	var l Load
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	for i, f := range strings.Fields(string(b)) {
		if i == 3 {
			break
		}
		l[i], _ = strconv.ParseFloat(f, 64)
	}
	return l
}

// ThisMachine describes the machine a run measures, with dir the scratch
// directory whose disk the fsync figures depend on.
func ThisMachine(dir string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Go: runtime.Version(), Load: ReadLoad()}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Release[:])
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.Atoi(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")); err == nil {
		m.MemoryMB = kb / 1024
	}
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) == nil {
		m.Filesystem = fsName(int64(fs.Type))
	}
	return m
}

func utsString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// fsName names the common filesystems by their statfs magic.
func fsName(magic int64) string {
	switch magic {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs"
	case 0x794c7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return "0x" + strconv.FormatInt(magic, 16)
}

// CPUTimes are the machine's CPU time counters (/proc/stat's "cpu" line,
// in clock ticks). Steal is time the hypervisor gave this machine's CPUs
// to another guest: a virtual machine's figures are only as good as the
// CPU it was given, and the load average does not show it.
type CPUTimes struct {
	Total, Idle, Steal uint64
}

// ReadCPUTimes returns the counters now (zero where /proc is missing).
func ReadCPUTimes() CPUTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n") // the first line sums every CPU
	return parseCPUTimes(line)
}

// parseCPUTimes reads "cpu user nice system idle iowait irq softirq steal ...".
func parseCPUTimes(line string) CPUTimes {
	var t CPUTimes
	for i, f := range strings.Fields(line) {
		if i == 0 || i > 8 { // the name; guest times are already in user and nice
			continue
		}
		v, _ := strconv.ParseUint(f, 10, 64)
		t.Total += v
		switch i {
		case 4, 5: // idle, iowait
			t.Idle += v
		case 8:
			t.Steal = v
		}
	}
	return t
}

// Shares returns, between t and later, the share of the CPU time that was
// busy here and the share stolen by the hypervisor (0..1 each).
func (t CPUTimes) Shares(later CPUTimes) (busy, stolen float64) {
	if later.Total <= t.Total {
		return 0, 0
	}
	total := float64(later.Total - t.Total)
	idle, steal := float64(later.Idle-t.Idle), float64(later.Steal-t.Steal)
	return (total - idle - steal) / total, steal / total
}
