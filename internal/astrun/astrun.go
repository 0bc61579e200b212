package astrun

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/testnet"
)

// instanceScript writes one instance's configuration (a copy of
// ../shared/asterisk/instance.sh; its README documents the environment).
//
//go:embed instance.sh
var instanceScript []byte

// Options shape an instance; zero values take the defaults.
type Options struct {
	// EID is dundi.conf's entityid [02:00:00:00:00:0a].
	EID string
	// AMIUser and AMISecret are the manager.conf user [pbxtopo,
	// pbxtopo-secret]; it may read and write system, call, agent, user,
	// config, command, reporting and originate.
	AMIUser, AMISecret string
	// Files replaces or adds configuration files (base name → content)
	// after instance.sh wrote its own, before Asterisk starts.
	Files map[string]string
	// Append adds text to the end of configuration files.
	Append map[string]string
	// Keys are files for the key directory (name.key, name.pub), there
	// before Asterisk starts.
	Keys map[string][]byte
	// Env is more environment for instance.sh and Asterisk, e.g.
	// ODBC_DSN=asterisk and the other ODBC_* variables for realtime
	// (ODBCSYSINI is then set for Asterisk).
	Env []string
	// Bind is the address every port binds [127.0.0.1]; Loopback finds
	// another one where a fixed port is free.
	Bind string
	// DUNDiPort fixes the DUNDi port (generated configuration names one
	// port for every cluster); 0 takes a free one.
	DUNDiPort int
	// Boot bounds the start [30s].
	Boot time.Duration
}

// Instance is one running Asterisk.
type Instance struct {
	Tree string // the Asterisk tree (sbin/asterisk)
	Root string // the instance's directory
	Etc  string // its configuration directory (astetcdir)
	Keys string // its key directory (astkeydir/keys)
	Logs string // its log directory: messages (notice and worse), full

	Bind                                 string
	SIPPort, IAXPort, DUNDiPort, AMIPort int
	AMIUser, AMISecret, EID              string

	env  []string
	cmd  *exec.Cmd
	exit chan struct{}
}

// Pid is the Asterisk process's id.
func (i *Instance) Pid() int { return i.cmd.Process.Pid }

// AMIAddr is the manager interface's host:port.
func (i *Instance) AMIAddr() string { return net.JoinHostPort(i.Bind, strconv.Itoa(i.AMIPort)) }

// DUNDiAddr is the DUNDi UDP host:port.
func (i *Instance) DUNDiAddr() string {
	return net.JoinHostPort(i.Bind, strconv.Itoa(i.DUNDiPort))
}

// Messages is the log file with notices, warnings and errors.
func (i *Instance) Messages() string { return filepath.Join(i.Logs, "messages") }

// Start writes a new instance and runs Asterisk until Stop. On an error
// nothing is left running and its directory is removed.
func Start(ctx context.Context, o Options) (*Instance, error) {
	tree, err := Tree()
	if err != nil {
		return nil, err
	}
	if o.EID == "" {
		o.EID = "02:00:00:00:00:0a"
	}
	if o.AMIUser == "" {
		o.AMIUser, o.AMISecret = "pbxtopo", "pbxtopo-secret"
	}
	if o.Boot == 0 {
		o.Boot = 30 * time.Second
	}
	if o.Bind == "" {
		o.Bind = "127.0.0.1"
	}
	// In /tmp: the control socket's path must stay under 108 bytes.
	root, err := os.MkdirTemp("", "ast-")
	if err != nil {
		return nil, err
	}
	i := &Instance{Tree: tree, Root: root, Etc: filepath.Join(root, "etc"), Keys: filepath.Join(root, "keys"),
		Logs: filepath.Join(root, "log"), Bind: o.Bind, AMIUser: o.AMIUser, AMISecret: o.AMISecret, EID: o.EID,
		exit: make(chan struct{}), DUNDiPort: o.DUNDiPort}
	if err := i.write(o); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	if err := i.start(ctx, o.Boot); err != nil {
		i.Stop()
		return nil, err
	}
	return i, nil
}

// write runs instance.sh and adds the options' files.
func (i *Instance) write(o Options) error {
	for _, p := range []*int{&i.SIPPort, &i.IAXPort, &i.DUNDiPort, &i.AMIPort} {
		if *p == 0 {
			addr, err := testnet.Free(o.Bind)
			if err != nil {
				return err
			}
			*p = int(netip.MustParseAddrPort(addr).Port())
		}
	}
	i.env = append(append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(i.Tree, "lib")), o.Env...)
	for _, e := range o.Env {
		if strings.HasPrefix(e, "ODBC_DSN=") {
			i.env = append(i.env, "ODBCSYSINI="+filepath.Join(i.Root, "odbc"))
		}
	}
	script := exec.Command("bash", "-s", "--", i.Tree, i.Root)
	script.Stdin = bytes.NewReader(instanceScript)
	script.Env = append(i.env, "SIP_PORT="+strconv.Itoa(i.SIPPort), "IAX_PORT="+strconv.Itoa(i.IAXPort),
		"DUNDI_PORT="+strconv.Itoa(i.DUNDiPort), "AMI_PORT="+strconv.Itoa(i.AMIPort),
		"AMI_USER="+o.AMIUser, "AMI_SECRET="+o.AMISecret, "EID="+o.EID, "BIND="+o.Bind)
	if out, err := script.CombinedOutput(); err != nil {
		return fmt.Errorf("instance.sh: %v: %s", err, out)
	}
	// RTP ports from instance.sh's SIP+10000 may pass 65535.
	rtp := 10000 + i.SIPPort%20000&^1 // even, or Asterisk warns
	files := map[string]string{"rtp.conf": fmt.Sprintf("[general]\nrtpstart = %d\nrtpend = %d\n", rtp, rtp+100)}
	if os.Getuid() != 0 { // runuser = root would fail
		conf, err := os.ReadFile(filepath.Join(i.Etc, "asterisk.conf"))
		if err != nil {
			return err
		}
		s := strings.Replace(string(conf), "runuser = root\n", "", 1)
		files["asterisk.conf"] = strings.Replace(s, "rungroup = root\n", "", 1)
	}
	for name, content := range o.Files {
		files[name] = content
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(i.Etc, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	for name, more := range o.Append {
		if err := i.Append(name, more); err != nil {
			return err
		}
	}
	for name, content := range o.Keys {
		if err := os.WriteFile(filepath.Join(i.Keys, name), content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (i *Instance) start(ctx context.Context, boot time.Duration) error {
	console, err := os.Create(filepath.Join(i.Root, "console.log"))
	if err != nil {
		return err
	}
	i.cmd = exec.Command(filepath.Join(i.Tree, "sbin", "asterisk"), "-C", i.conf(), "-f", "-n")
	i.cmd.Env, i.cmd.Stdout, i.cmd.Stderr = i.env, console, console
	// Asterisk dies with the process that started it, whatever ends it.
	i.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := i.cmd.Start(); err != nil {
		console.Close()
		close(i.exit)
		return err
	}
	go func() { i.cmd.Wait(); console.Close(); close(i.exit) }()
	deadline := time.Now().Add(boot)
	for {
		select {
		case <-i.exit:
			return fmt.Errorf("the Asterisk process exited while starting: %s", i.Tail("console.log"))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, err := os.Stat(filepath.Join(i.Root, "run", "asterisk.ctl")); err == nil {
			if _, err := i.CLI("core waitfullybooted"); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Asterisk process did not boot in %v: %s", boot, i.Tail("console.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (i *Instance) conf() string { return filepath.Join(i.Etc, "asterisk.conf") }

// CLI runs one command on the instance's console (asterisk -rx) and
// returns what it printed.
func (i *Instance) CLI(command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(i.Tree, "sbin", "asterisk"), "-C", i.conf(), "-rx", command)
	cmd.Env = i.env
	out, err := cmd.CombinedOutput()
	if err == nil && bytes.HasPrefix(out, []byte("Unable to connect to remote asterisk")) {
		err = fmt.Errorf("asterisk -rx %q: %s", command, out)
	}
	return string(out), err
}

// Append adds text to the end of a configuration file (reload the
// module to load it).
func (i *Instance) Append(name, text string) error {
	f, err := os.OpenFile(filepath.Join(i.Etc, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}

// Stop stops Asterisk (core stop now, then SIGKILL after 10 s) and
// removes the instance's directory. Safe to call twice.
func (i *Instance) Stop() {
	select {
	case <-i.exit:
	default:
		i.CLI("core stop now")
		select {
		case <-i.exit:
		case <-time.After(10 * time.Second):
			i.cmd.Process.Kill()
			<-i.exit
		}
	}
	os.RemoveAll(i.Root)
}

// Kill ends Asterisk at once (SIGKILL), as a crash would, and keeps the
// instance's directory for Restart.
func (i *Instance) Kill() {
	select {
	case <-i.exit:
	default:
		i.cmd.Process.Kill()
		<-i.exit
	}
}

// Restart starts Asterisk again on the same directory and ports after
// Kill.
func (i *Instance) Restart(ctx context.Context) error {
	select {
	case <-i.exit:
	default:
		return errors.New("astrun: Asterisk is running")
	}
	i.exit = make(chan struct{})
	os.Remove(filepath.Join(i.Root, "run", "asterisk.ctl"))
	return i.start(ctx, 30*time.Second)
}

// Tail returns the last 40 lines of a file of the instance
// ("log/messages", "console.log").
func (i *Instance) Tail(name string) string {
	b, _ := os.ReadFile(filepath.Join(i.Root, name))
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// Loopback returns an address of 127.0.0.0/8 other than 127.0.0.1 where
// UDP port is free: several instances can then take the same fixed port
// (DUNDi's, which generated configuration names for every cluster).
func Loopback(port int) (string, error) {
	for range 100 {
		b := make([]byte, 3)
		rand.Read(b)
		addr := fmt.Sprintf("127.%d.%d.%d", b[0], b[1], max(b[2], 2))
		pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err == nil {
			pc.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no loopback address with UDP port %d free", port)
}
