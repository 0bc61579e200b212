package ami

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ApplyConfig configures an Applier.
type ApplyConfig struct {
	// Dir is where Asterisk reads its configuration (ami.config_dir,
	// /etc/asterisk).
	Dir string
	// BackupDir keeps the previous versions, one directory per apply
	// (default Dir/.pbxtopo-backup).
	BackupDir string
	// Keep is the number of backups kept.
	Keep int
	// LogFile is the Asterisk log file that receives WARNING and NOTICE
	// lines (ami.log_file); "" skips the check and reports UNVERIFIED.
	LogFile string
	// Settle is how long to wait for log lines after Asterisk answered
	// the reload: a reload logs within milliseconds, but Asterisk's
	// logger thread writes asynchronously.
	Settle time.Duration
	// ReloadTimeout bounds the Reload action.
	ReloadTimeout time.Duration
	// BackoutOnFailure restores the previous files (and reloads again)
	// when the reload failed, so a broken file never stays loaded.
	BackoutOnFailure bool
}

// DefaultApplyConfig returns the defaults for Asterisk's usual paths.
func DefaultApplyConfig() ApplyConfig {
	return ApplyConfig{Dir: "/etc/asterisk", Keep: 10, LogFile: "/var/log/asterisk/messages",
		Settle: 750 * time.Millisecond, ReloadTimeout: 30 * time.Second, BackoutOnFailure: true}
}

// Applier writes generated configuration and makes Asterisk load it.
type Applier struct {
	cfg ApplyConfig
	ami interface {
		Send(ctx context.Context, a Action) (*Response, error)
	}
	log *slog.Logger
	now func() time.Time
	// perm is what the manager user may do, as the apply in progress
	// learned it (nil: unknown).
	perm map[string]bool
}

// lock takes the backup directory's lock, so that two applies (two
// operators, the agent and a CLI) never interleave their writes.
func (a *Applier) lock() (func(), error) {
	if err := os.MkdirAll(a.cfg.BackupDir, 0o750); err != nil {
		return nil, fmt.Errorf("ami: apply: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(a.cfg.BackupDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("ami: apply: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: another apply or back-out is running on %s: wait for it and try again", ErrInvalid, a.cfg.Dir)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// NewApplier returns an applier that reloads through ami (a *Client or a
// *Conn).
func NewApplier(cfg ApplyConfig, ami interface {
	Send(ctx context.Context, a Action) (*Response, error)
}, log *slog.Logger) (*Applier, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: the config directory is empty: set ami.config_dir (e.g. /etc/asterisk)", ErrInvalid)
	}
	if fi, err := os.Stat(cfg.Dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: config directory %s does not exist: set ami.config_dir to Asterisk's astetcdir", ErrInvalid, cfg.Dir)
	}
	if cfg.BackupDir == "" {
		cfg.BackupDir = filepath.Join(cfg.Dir, ".pbxtopo-backup")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 10
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 750 * time.Millisecond
	}
	if cfg.ReloadTimeout <= 0 {
		cfg.ReloadTimeout = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applier{cfg: cfg, ami: ami, log: log, now: time.Now}, nil
}

// Apply outcomes.
const (
	ApplyOK         = "OK"
	ApplyFailed     = "FAILED"
	ApplyUnchanged  = "UNCHANGED"  // every file already had this content; nothing reloaded
	ApplyUnverified = "UNVERIFIED" // reloaded, but the log file could not be read
)

// ApplyRequest is one set of files for one module.
type ApplyRequest struct {
	Module string `json:"module"` // "pbx_dundi.so"
	// Files maps a file name relative to the config directory (a base
	// name, or one subdirectory and a base name: "pbxtopo/dundi-pbxtopo.conf")
	// to its content.
	Files map[string][]byte `json:"files"`
	// Includes are main files that must include some of the Files.
	Includes []Include `json:"includes,omitempty"`
	Force    bool      `json:"force,omitempty"`
}

// ApplyResult says what an apply or a back-out did.
type ApplyResult struct {
	Status    string       `json:"status"`
	Module    string       `json:"module"`
	Written   []string     `json:"written,omitempty"`
	Unchanged []string     `json:"unchanged,omitempty"`
	Backup    string       `json:"backup,omitempty"` // the backup holding the previous versions
	Answer    string       `json:"answer,omitempty"` // Asterisk's answer to the reload
	Cause     string       `json:"cause,omitempty"`  // why it FAILED: a Cause* constant
	Problems  []LogLine    `json:"problems,omitempty"`
	Notices   []LogLine    `json:"notices,omitempty"`         // the module's notices that drop nothing
	Other     []LogLine    `json:"other_log_lines,omitempty"` // warnings of other modules meanwhile
	Note      string       `json:"note,omitempty"`
	Backout   *ApplyResult `json:"backout,omitempty"` // the automatic back-out after a failure
}

// Why an apply FAILED.
const (
	// CauseConfig: Asterisk dropped entries of the files or could not
	// load them (Problems has its log lines).
	CauseConfig = "config"
	// CausePermission: the manager user may not reload modules.
	CausePermission = "permission"
	// CauseNotLoaded: Asterisk does not run the module at all.
	CauseNotLoaded = "not_loaded"
)

var (
	moduleRE = regexp.MustCompile(`^[A-Za-z0-9_]+(\.so)?$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	fileRE   = regexp.MustCompile(`^([A-Za-z0-9_][A-Za-z0-9_.+-]*/)?[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
)

// validFile: a name relative to the config directory, at most one
// directory deep, that cannot leave it.
func validFile(name string) bool { return fileRE.MatchString(name) && !strings.Contains(name, "..") }

func (r ApplyRequest) validate() error {
	if !moduleRE.MatchString(r.Module) {
		return fmt.Errorf("%w: module %q: give a module file name such as pbx_dundi.so", ErrInvalid, r.Module)
	}
	if len(r.Files) == 0 {
		return fmt.Errorf("%w: no files to apply", ErrInvalid)
	}
	for name := range r.Files {
		if !validFile(name) {
			return fmt.Errorf("%w: file name %q: give a file name such as dundi.conf or pbxtopo/dundi-pbxtopo.conf, relative to the config directory", ErrInvalid, name)
		}
	}
	for _, inc := range r.Includes {
		if _, ok := r.Files[inc.File]; !ok || !validFile(inc.Main) || r.Files[inc.Main] != nil {
			return fmt.Errorf("%w: include of %q in %q: the file must be one of the files applied, and the main file not", ErrInvalid, inc.File, inc.Main)
		}
	}
	return nil
}

// manifest records what a backup holds, to undo an apply exactly.
type manifest struct {
	Module  string          `json:"module"`
	Time    time.Time       `json:"time"`
	Existed map[string]bool `json:"existed"` // false: the apply created the file
}

// Apply writes the files that changed (each atomically: a temporary file,
// fsync, rename), then adds the includes the main files lack, keeps the
// previous versions in a new backup, reloads the module, and reads
// Asterisk's answer and log. A file whose content differs only in its
// leading comment lines (the header, which names the store version) is
// unchanged. A reload that logged warnings about the module or its files
// is FAILED, though Asterisk answered that it reloaded; with
// BackoutOnFailure the previous files are put back and reloaded. Nothing
// is written when a file name or the module is invalid, when a main file
// cannot take an include, or when the manager user may not reload.
func (a *Applier) Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	unlock, err := a.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := a.mayReload(ctx); err != nil {
		return nil, err
	}
	res := &ApplyResult{Module: req.Module}
	files := map[string][]byte{}
	var names []string
	for n, c := range req.Files {
		files[n] = c
		names = append(names, n)
	}
	sort.Strings(names)
	var changed []string
	for _, n := range names {
		old, err := os.ReadFile(filepath.Join(a.cfg.Dir, n))
		if err == nil && bytes.Equal(configBody(old), configBody(files[n])) {
			res.Unchanged = append(res.Unchanged, n)
			continue
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ami: apply: read %s: %w", n, err)
		}
		changed = append(changed, n)
	}
	// The main files after the files they include: Asterisk never reads
	// an include of a file that is not there yet.
	for _, inc := range req.Includes {
		main, err := a.includeIn(inc, files[inc.Main])
		if err != nil {
			return nil, err
		}
		if main != nil {
			if files[inc.Main] == nil {
				changed = append(changed, inc.Main)
				names = append(names, inc.Main)
			}
			files[inc.Main] = main
		}
	}
	if len(changed) == 0 && !req.Force {
		res.Status = ApplyUnchanged
		return res, nil
	}
	if len(changed) > 0 {
		id, err := a.backup(req.Module, changed)
		if err != nil {
			return nil, err
		}
		res.Backup = id
		for _, n := range changed {
			if err := writeAtomic(filepath.Join(a.cfg.Dir, n), files[n]); err != nil {
				return nil, fmt.Errorf("ami: apply: %w (the previous files are in backup %s: pbxtopo ami backout)", err, id)
			}
			res.Written = append(res.Written, n)
		}
		a.log.Info("wrote Asterisk configuration", "files", changed, "backup", id)
	}
	if err := a.reload(ctx, res, names); err != nil {
		// Asterisk was not asked: put the previous files back, so that
		// the next apply finds them changed and reloads.
		if res.Backup != "" {
			if _, _, rerr := a.restore(res.Backup); rerr != nil {
				return res, fmt.Errorf("%w; putting the previous files back failed too: %v (pbxtopo ami backout)", err, rerr)
			}
		}
		return res, err
	}
	if res.Status == ApplyFailed && res.Cause != CauseNotLoaded && a.cfg.BackoutOnFailure && res.Backup != "" {
		bo, err := a.backout(ctx, res.Backup) // under this apply's lock
		if err != nil {
			res.Note += "; the automatic back-out failed: " + err.Error()
		}
		res.Backout = bo
	}
	return res, nil
}

// configBody is a file without its leading comment lines: the generated
// files' header names the store version they come from, which moves with
// every change of the enterprise, most of which do not touch the file.
func configBody(b []byte) []byte {
	for len(b) > 0 && b[0] == ';' {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

// tail returns what the log file gained after offset, waiting until it has
// been quiet for Settle (at most 4 Settles). A log rotated meanwhile is
// read from its start.
func (a *Applier) tail(ctx context.Context, offset int64) (string, error) {
	var buf bytes.Buffer
	start := time.Now()
	last := start
	for {
		f, err := os.Open(a.cfg.LogFile)
		if err != nil {
			return "", err
		}
		fi, err := f.Stat()
		if err == nil && fi.Size() < offset {
			offset = 0 // rotated
		}
		if err == nil && fi.Size() > offset {
			f.Seek(offset, io.SeekStart)
			n, _ := io.Copy(&buf, io.LimitReader(f, 4<<20))
			offset += n
			last = time.Now()
		}
		f.Close()
		now := time.Now()
		if now.Sub(last) >= a.cfg.Settle || now.Sub(start) >= 4*a.cfg.Settle {
			return buf.String(), nil
		}
		select {
		case <-ctx.Done():
			return buf.String(), ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// backup copies the current versions of names into a new backup and
// returns its id.
func (a *Applier) backup(module string, names []string) (string, error) {
	now := a.now().UTC()
	id := now.Format("20060102T150405.000000000Z")
	dir := filepath.Join(a.cfg.BackupDir, id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("ami: backup: %w", err)
	}
	m := manifest{Module: module, Time: now, Existed: map[string]bool{}}
	for _, n := range names {
		old, err := os.ReadFile(filepath.Join(a.cfg.Dir, n))
		if errors.Is(err, os.ErrNotExist) {
			m.Existed[n] = false
			continue
		}
		if err != nil {
			return "", fmt.Errorf("ami: backup %s: %w", n, err)
		}
		m.Existed[n] = true
		if err := writeAtomic(filepath.Join(dir, n), old); err != nil {
			return "", fmt.Errorf("ami: backup: %w", err)
		}
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := writeAtomic(filepath.Join(dir, "manifest.json"), mb); err != nil {
		return "", fmt.Errorf("ami: backup: %w", err)
	}
	a.prune()
	return id, nil
}

// Backups returns the backup ids, newest first.
func (a *Applier) Backups() ([]string, error) {
	ents, err := os.ReadDir(a.cfg.BackupDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(a.cfg.BackupDir, e.Name(), "manifest.json")); err == nil {
				ids = append(ids, e.Name())
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	return ids, nil
}

func (a *Applier) prune() {
	ids, err := a.Backups()
	if err != nil {
		return
	}
	for _, id := range ids[min(len(ids), a.cfg.Keep):] {
		os.RemoveAll(filepath.Join(a.cfg.BackupDir, id))
	}
}

// Backout puts back the files of a backup ("" = the newest), removes the
// ones that apply created, and reloads the module the backup was for.
func (a *Applier) Backout(ctx context.Context, id string) (*ApplyResult, error) {
	unlock, err := a.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return a.backout(ctx, id)
}

func (a *Applier) backout(ctx context.Context, id string) (*ApplyResult, error) {
	if id == "" {
		ids, err := a.Backups()
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("%w: no backup in %s: nothing to back out", ErrInvalid, a.cfg.BackupDir)
		}
		id = ids[0]
	}
	if !nameRE.MatchString(id) {
		return nil, fmt.Errorf("%w: backup %q: use an id from pbxtopo ami backups", ErrInvalid, id)
	}
	m, written, err := a.restore(id)
	if err != nil {
		return nil, err
	}
	res := &ApplyResult{Module: m.Module, Backup: id, Written: written}
	a.log.Warn("backed out Asterisk configuration", "backup", id, "files", res.Written)
	names := make([]string, 0, len(m.Existed))
	for n := range m.Existed {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := a.reload(ctx, res, names); err != nil {
		return res, err
	}
	return res, nil
}

// restore puts back the files of a backup and removes the ones the apply
// created; it returns the backup's manifest and what it did to each file.
func (a *Applier) restore(id string) (m manifest, written []string, err error) {
	dir := filepath.Join(a.cfg.BackupDir, id)
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return m, nil, fmt.Errorf("%w: backup %q not found in %s: use an id from pbxtopo ami backups", ErrInvalid, id, a.cfg.BackupDir)
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return m, nil, fmt.Errorf("ami: backup %s: manifest: %w", id, err)
	}
	names := make([]string, 0, len(m.Existed))
	for n := range m.Existed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !validFile(n) {
			return m, nil, fmt.Errorf("ami: backup %s: its manifest names %q, not a file of the config directory", id, n)
		}
		target := filepath.Join(a.cfg.Dir, n)
		if !m.Existed[n] {
			if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
				return m, nil, fmt.Errorf("ami: backout: %w", err)
			}
			written = append(written, n+" (removed)")
			continue
		}
		old, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return m, nil, fmt.Errorf("ami: backout: %w", err)
		}
		if err := writeAtomic(target, old); err != nil {
			return m, nil, fmt.Errorf("ami: backout: %w", err)
		}
		written = append(written, n)
	}
	return m, written, nil
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, fsynced, renamed over path, and the directory fsynced, so a
// crash leaves the old file or the new one, never half of one. The mode
// of an existing file is kept.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o640)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".pbxtopo-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
