package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

// DUNDiConfig is the dundi.* keys: the DUNDi peer's (package roaming/dundi
// documents each) and the publishing of the cluster's generated DUNDi
// files.
type DUNDiConfig struct {
	dundi.Config `mapstructure:",squash"`
	// Dir is where the agent keeps its cluster's generated DUNDi files:
	// the pbxtopo directory of Asterisk's configuration directory
	// (/etc/asterisk/pbxtopo), which the main files include from. Empty:
	// the agent publishes nothing.
	Dir string `mapstructure:"dir"`
	// Debounce is how long the agent waits after a change of the
	// enterprise for more changes before it publishes [1s].
	Debounce time.Duration `mapstructure:"debounce"`
}

func dundiDefaults() DUNDiConfig {
	return DUNDiConfig{Config: dundi.DefaultConfig(), Debounce: time.Second}
}

// validatePublish checks dundi.dir against the one path the main files
// include the generated files from.
func (c *Config) validatePublish() []string {
	d := c.Dundi.Dir
	if d == "" {
		return nil
	}
	example := filepath.Join(c.AMI.ConfigDir, roaming.IncludeDir)
	switch {
	case !filepath.IsAbs(d) || filepath.Base(filepath.Clean(d)) != roaming.IncludeDir:
		return []string{fmt.Sprintf("dundi.dir %q: Asterisk's main files include the generated files as %s/<file>, so give the %s directory of Asterisk's configuration directory, e.g. %s",
			d, roaming.IncludeDir, roaming.IncludeDir, example)}
	case c.AMI.User != "" && filepath.Dir(filepath.Clean(d)) != filepath.Clean(c.AMI.ConfigDir):
		return []string{fmt.Sprintf("dundi.dir %q is not in ami.config_dir %q, the directory the agent applies Asterisk configuration to: set dundi.dir to %s", d, c.AMI.ConfigDir, example)}
	case c.Dundi.Debounce < 0:
		return []string{fmt.Sprintf("dundi.debounce %v must not be negative", c.Dundi.Debounce)}
	}
	return nil
}

// DUNDiRequests are the applies that put a cluster's generated files in
// place, one per module in reload order (roaming.Placements): each writes
// its file into the pbxtopo directory and makes the main file include it.
func DUNDiRequests(b *roaming.Bundle, force bool) ([]ami.ApplyRequest, error) {
	var reqs []ami.ApplyRequest
	for _, p := range roaming.Placements {
		f := b.File(p.File)
		if f == nil {
			return nil, fmt.Errorf("the generated files of %s lack %s", b.Cluster, p.File)
		}
		reqs = append(reqs, ami.ApplyRequest{Module: p.Module, Force: force,
			Files:    map[string][]byte{p.IncludePath(): []byte(f.Content)},
			Includes: []ami.Include{{Main: p.Main, File: p.IncludePath(), Sections: p.Sections}}})
	}
	return reqs, nil
}

// ApplyDUNDi applies a cluster's generated files module by module, as
// pbxtopo ami apply does, and stops at the first that FAILED: the later
// modules are left alone. It returns every result so far.
func ApplyDUNDi(ctx context.Context, ap *ami.Applier, b *roaming.Bundle, force bool) ([]*ami.ApplyResult, error) {
	reqs, err := DUNDiRequests(b, force)
	if err != nil {
		return nil, err
	}
	var out []*ami.ApplyResult
	for _, req := range reqs {
		res, err := ap.Apply(ctx, req)
		if res != nil {
			out = append(out, res)
		}
		if err != nil {
			return out, err
		}
		if res.Status == ami.ApplyFailed {
			break
		}
	}
	return out, nil
}

// publishOutcome sums up the applies of one publish.
func publishOutcome(results []*ami.ApplyResult) roaming.Outcome {
	o := roaming.Outcome{Result: roaming.PublishUnchanged}
	var notes []string
	for _, r := range results {
		o.Changed = append(o.Changed, r.Written...)
		switch r.Status {
		case ami.ApplyFailed:
			o.Result = roaming.PublishFailed
			note := r.Module + ": " + r.Note
			if len(r.Problems) > 0 {
				note += " (" + r.Problems[0].Message + ")"
			}
			notes = append(notes, note)
		case ami.ApplyUnverified:
			if o.Result != roaming.PublishFailed {
				o.Result = ami.ApplyUnverified
			}
			notes = append(notes, r.Module+": "+r.Note)
		case ami.ApplyOK:
			if o.Result == roaming.PublishUnchanged {
				o.Result = roaming.PublishOK
			}
		}
	}
	o.Detail = strings.Join(notes, "; ")
	return o
}

// amiPublish is the publisher's Apply through the agent's own manager
// connection.
func amiPublish(client *ami.Client, ap *ami.Applier) func(ctx context.Context, b *roaming.Bundle) (roaming.Outcome, error) {
	return func(ctx context.Context, b *roaming.Bundle) (roaming.Outcome, error) {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := client.WaitConnected(wctx)
		cancel()
		if err != nil {
			return roaming.Outcome{}, err
		}
		results, err := ApplyDUNDi(ctx, ap, b, false)
		o := publishOutcome(results)
		if errors.Is(err, ami.ErrInvalid) || errors.Is(err, ami.ErrPermission) {
			o.Result, o.Detail = roaming.PublishFailed, err.Error()
		}
		return o, err
	}
}

// publishedReport is the status report's view of the latest publish.
func (a *Agent) publishedReport() *ami.PublishReport {
	p := a.parts.publisher
	if p == nil {
		return nil
	}
	last := p.Last()
	if last == nil {
		return &ami.PublishReport{What: "DUNDi files", Dir: a.cfg.Dundi.Dir, Result: "PENDING", Detail: "not published yet"}
	}
	return &ami.PublishReport{What: "DUNDi files", Dir: a.cfg.Dundi.Dir, Time: last.Time, Version: last.Version.Summary,
		Result: last.Result, Changed: last.Changed, Detail: last.Detail}
}
