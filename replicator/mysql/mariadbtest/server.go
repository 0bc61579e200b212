package mariadbtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// ErrMissing is returned when mariadbd or mariadb-install-db is not installed.
var ErrMissing = errors.New("mariadbd is not installed (apt-get install mariadb-server)")

// Options tune a server.
type Options struct {
	ServerID int
	// Args are extra mariadbd options, e.g. "--binlog-format=STATEMENT".
	Args []string
}

// Server is one running mariadbd.
type Server struct {
	Dir      string
	Port     int
	ServerID int
	args     []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrMissing
}

// Available reports whether the server binaries are installed.
func Available() error {
	if _, err := binary("mariadbd"); err != nil {
		return err
	}
	_, err := binary("mariadb-install-db")
	return err
}

// Start initializes a data dir under dir and starts mariadbd on it.
func Start(dir string, opts Options) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	install, _ := binary("mariadb-install-db")
	data := filepath.Join(dir, "data")
	// A temp dir of its own: servers sharing /tmp (other processes, other
	// PID namespaces) can name their temporary tables alike, and the
	// bootstrap then fails with "Unknown table 'mysql.tmp_user_sys'".
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	out, err := exec.Command(install, "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--user=root",
		"--innodb-flush-method=nosync", "--tmpdir="+filepath.Join(dir, "tmp")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v: %s", err, out)
	}
	if opts.ServerID == 0 {
		opts.ServerID = 1
	}
	s := &Server{Dir: dir, ServerID: opts.ServerID, args: opts.Args}
	var lastErr error
	for range 5 {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		if lastErr = s.Restart(); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's TCP address.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// DSN returns the bridge DSN for a database on this server (user root).
func (s *Server) DSN(db string) string { return "root@tcp(" + s.Addr() + ")/" + db }

// Restart starts the server again on the same data dir and port (after
// Stop or Kill).
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("mariadbtest: server is running")
	}
	bin, err := binary("mariadbd")
	if err != nil {
		return err
	}
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(s.Dir, "data"),
		"--socket=" + filepath.Join(s.Dir, "sock"), "--pid-file=" + filepath.Join(s.Dir, "pid"), "--tmpdir=" + filepath.Join(s.Dir, "tmp"),
		"--port=" + strconv.Itoa(s.Port), "--bind-address=127.0.0.1", "--user=root",
		"--log-bin=" + filepath.Join(s.Dir, "data", "binlog"), "--binlog-format=ROW",
		"--binlog-row-metadata=FULL", "--server-id=" + strconv.Itoa(s.ServerID),
		"--skip-name-resolve", "--innodb-flush-method=nosync", "--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0", "--max-connections=50",
		"--performance-schema=off", "--character-set-server=utf8mb4", "--log-error=" + filepath.Join(s.Dir, "error.log"),
	}
	args = append(args, s.args...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := client.Connect(s.Addr(), "root", "", "")
		if err == nil {
			c.Close()
			s.cmd = cmd
			go func() { <-exited }()
			return nil
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
			return fmt.Errorf("mariadbd exited: %v: %s", werr, tail(log, 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("mariadbd on port %d did not accept connections in 30s: %v", s.Port, err)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Stop shuts the server down cleanly and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server at once, as a crash would.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	p := s.cmd.Process
	p.Signal(sig)
	// Wait for the port to close and the pid to go, so a restart finds
	// both free.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := p.Signal(syscall.Signal(0)); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd = nil
}

// Exec runs statements as root, one after another.
func (s *Server) Exec(db string, stmts ...string) error {
	c, err := s.Conn(db)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, q := range stmts {
		if _, err := c.Execute(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// Conn opens a root connection to db.
func (s *Server) Conn(db string) (*client.Conn, error) {
	c, err := client.Connect(s.Addr(), "root", "", db)
	if err != nil {
		return nil, err
	}
	if err := c.SetCharset("utf8mb4"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// CPU returns the CPU time the server process used so far (user and
// system, from /proc; 0 where there is none), so benchmarks can give the
// server's CPU per row beside their own.
func (s *Server) CPU() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which ends with the last ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
