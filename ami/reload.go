package ami

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ApplyActions are the manager actions apply uses, with the write class
// Asterisk 22 requires for each: Reload reloads a module, ModuleLoad loads
// one that declined to load at start.
var ApplyActions = []struct{ Action, Class string }{
	{"Reload", "system (or config)"},
	{"ModuleLoad", "system"},
}

// Permitted asks Asterisk which actions the user may send (ListCommands
// lists only those, lower-cased); nil when Asterisk cannot tell (an old
// version, a scripted server). The error is one of the connection.
func Permitted(ctx context.Context, c interface {
	Send(ctx context.Context, a Action) (*Response, error)
}) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.Send(ctx, Action{Message: NewAction("ListCommands")})
	var ae *ActionError
	if errors.As(err, &ae) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, h := range resp.Headers {
		if strings.Contains(h.Value, "(Priv:") {
			out[strings.ToLower(h.Key)] = true
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// mayReload refuses an apply before it writes anything when Asterisk
// cannot be reached or the manager user may not reload modules.
func (a *Applier) mayReload(ctx context.Context) error {
	if a.ami == nil {
		return fmt.Errorf("%w: the applier has no manager connection", ErrNotConnected)
	}
	perm, err := Permitted(ctx, a.ami)
	if err != nil {
		return fmt.Errorf("ami: apply: %w; nothing was written", err)
	}
	a.perm = perm
	if perm != nil && !perm["reload"] {
		return fmt.Errorf("%w: the manager user (ami.user) may not reload modules: give it write = system in its section of manager.conf, then run 'manager reload' in Asterisk; nothing was written", ErrPermission)
	}
	return nil
}

// reload reloads the module and judges the reload by Asterisk's answer
// and the log lines it wrote meanwhile.
func (a *Applier) reload(ctx context.Context, res *ApplyResult, files []string) error {
	var offset int64 = -1
	if a.cfg.LogFile != "" {
		if fi, err := os.Stat(a.cfg.LogFile); err == nil {
			offset = fi.Size()
		}
	}
	answer, cause, note, err := a.reloadModule(ctx, res.Module)
	if err != nil {
		return fmt.Errorf("ami: reload %s: %w (the files are written; the previous ones are in backup %s)", res.Module, err, res.Backup)
	}
	res.Answer, res.Note = answer, note
	logged := false
	if offset >= 0 {
		if text, err := a.tail(ctx, offset); err != nil {
			res.Note = join(res.Note, "reading the log: "+err.Error())
		} else {
			lines := ClassifyReload(ParseLog(text), res.Module, files)
			res.Problems, res.Notices, res.Other = lines.Problems, lines.Notices, lines.Other
			logged = true
		}
	}
	switch {
	case cause != "":
		res.Status, res.Cause = ApplyFailed, cause
	case len(res.Problems) > 0:
		res.Status, res.Cause = ApplyFailed, CauseConfig
		res.Note = join(res.Note, fmt.Sprintf("Asterisk answered %q but logged %d problem(s) while reloading: the entries named were dropped", res.Answer, len(res.Problems)))
	case !logged:
		res.Status = ApplyUnverified
		res.Note = join(res.Note, fmt.Sprintf("Asterisk answered %q, but the log file %q cannot be read, so warnings cannot be checked: set ami.log_file to the file logger.conf writes notices and warnings to", res.Answer, a.cfg.LogFile))
	default:
		res.Status = ApplyOK
	}
	return nil
}

// reloadModule sends Reload, and ModuleLoad when the module declined to
// load at start (Asterisk 22 answers "Module not initialized": its
// configuration was broken then, e.g. it named an #include that did not
// exist yet). It returns Asterisk's answer and, for a refusal, the cause
// and what to do.
func (a *Applier) reloadModule(ctx context.Context, module string) (answer, cause, note string, err error) {
	rctx, cancel := context.WithTimeout(ctx, a.cfg.ReloadTimeout)
	defer cancel()
	resp, err := a.ami.Send(rctx, Action{Message: NewAction("Reload", "Module", module)})
	var ae *ActionError
	if errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "not initialized") {
		if a.perm != nil && !a.perm["moduleload"] {
			return ae.Message, CausePermission, fmt.Sprintf("%s declined to load when Asterisk started, and the manager user (ami.user) may not load modules: give it write = system in manager.conf, or run 'module load %s' in Asterisk", module, module), nil
		}
		note = fmt.Sprintf("%s had declined to load when Asterisk started (its configuration did not load then); loaded it now that the files are in place", module)
		resp, err = a.ami.Send(rctx, Action{Message: NewAction("ModuleLoad", "Module", module, "LoadType", "load")})
	}
	switch {
	case errors.As(err, &ae):
		msg := strings.ToLower(ae.Message)
		switch {
		case strings.Contains(msg, "permission denied"):
			return ae.Message, CausePermission, join(note, "the manager user (ami.user) may not reload modules: give it write = system in its section of manager.conf, then run 'manager reload' in Asterisk"), nil
		case strings.Contains(msg, "no such module"):
			return ae.Message, CauseNotLoaded, join(note, fmt.Sprintf("Asterisk does not run %s (it is not installed, or modules.conf says noload): the files are in place; load it with 'module load %s' in Asterisk", module, module)), nil
		}
		return ae.Message, CauseConfig, join(note, fmt.Sprintf("Asterisk reported that %s failed to load its configuration (see the lines it logged)", module)), nil
	case err != nil:
		return "", "", "", err
	}
	return resp.Get("Message"), "", note, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// ReloadModule reloads a module that no file of an apply belongs to
// (res_crypto.so after new keys) and judges the reload as Apply does, by
// Asterisk's answer and what it wrote to logFile ("": UNVERIFIED).
func ReloadModule(ctx context.Context, c interface {
	Send(ctx context.Context, a Action) (*Response, error)
}, module, logFile string, settle time.Duration) (*ApplyResult, error) {
	if !moduleRE.MatchString(module) {
		return nil, fmt.Errorf("%w: module %q: give a module file name such as res_crypto.so", ErrInvalid, module)
	}
	d := DefaultApplyConfig()
	if settle > 0 {
		d.Settle = settle
	}
	a := &Applier{cfg: ApplyConfig{LogFile: logFile, Settle: d.Settle, ReloadTimeout: d.ReloadTimeout}, ami: c}
	if err := a.mayReload(ctx); err != nil {
		return nil, err
	}
	res := &ApplyResult{Module: module}
	return res, a.reload(ctx, res, nil)
}
