package service

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// ImportRequest describes an import.
type ImportRequest struct {
	Table  string `json:"table"`
	Source string `json:"source"` // the file name: its extension picks CSV or JSON
	DryRun bool   `json:"dry_run,omitempty"`
	// Progress, when set, is called as the import advances.
	Progress func(Progress) `json:"-"`
}

// Progress reports how far an import is.
type Progress struct {
	Phase string // "read", "check", "write", "done"
	Bytes int64  // input bytes read so far
	Rows  int    // rows read or checked so far
}

// ImportReply tells what an import did.
type ImportReply struct {
	Table         string `json:"table"`
	Records       int    `json:"records"`
	Changed       int    `json:"changed"`
	Unchanged     int    `json:"unchanged"`
	StatusIgnored int    `json:"status_ignored,omitempty"`
	DryRun        bool   `json:"dry_run,omitempty"`
	FirstVersion  string `json:"first_version,omitempty"`
}

// Import reads a CSV or JSON file of one table and writes every record in
// one transaction: all or nothing. Every bad line is reported with its line
// number; then nothing is written. Status columns of the extensions table
// (registration, agent state...) are accepted and ignored: the agent
// collects status from Asterisk.
func (s *Service) Import(ctx context.Context, req ImportRequest, r io.Reader) (*ImportReply, error) {
	t, err := table(req.Table)
	if err != nil {
		return nil, err
	}
	if err := CheckWrite(ctx, t.Name); err != nil { // before reading a large file
		return nil, err
	}
	progress := req.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	cr := &countingReader{r: r}
	reply := &ImportReply{Table: t.Name, DryRun: req.DryRun}
	var recs [][]byte
	err = s.st.View(func(sn *store.Snapshot) error {
		p := pbx.NewPreparer(t, req.Source, newMemoCatalog(sn.Catalog()))
		statusFields := t.StatusFields()
		rows := 0
		err := pbx.ReadFile(cr, req.Source, t, func(row pbx.Row) error {
			config := row.Fields
			if hasAny(config, statusFields) { // rare: most files hold configuration only
				var status pbx.Fields
				config, status = t.SplitStatus(row.Fields)
				if len(status) > 0 {
					reply.StatusIgnored++
				}
			}
			p.Add(pbx.Row{Line: row.Line, Fields: config})
			if rows++; rows%1000 == 0 {
				progress(Progress{Phase: "read", Bytes: cr.n.Load(), Rows: rows})
			}
			return nil
		})
		if err != nil {
			return err
		}
		progress(Progress{Phase: "check", Bytes: cr.n.Load(), Rows: rows})
		recs, err = p.Finish()
		return err
	})
	if err != nil {
		return nil, UserError(err)
	}
	reply.Records = len(recs)
	if req.DryRun || len(recs) == 0 {
		progress(Progress{Phase: "done", Bytes: cr.n.Load(), Rows: len(recs)})
		return reply, nil
	}
	muts := make([]store.Mutation, len(recs))
	for i, b := range recs {
		key, err := recordKey(t, b)
		if err != nil {
			return nil, UserError(err)
		}
		muts[i] = store.Mutation{Table: t.Name, Key: key, Value: b}
	}
	progress(Progress{Phase: "write", Bytes: cr.n.Load(), Rows: len(recs)})
	res, err := s.st.Write(ctx, Author(ctx), muts)
	if err != nil {
		return nil, UserError(err)
	}
	reply.Changed = res.Changed
	reply.Unchanged = len(recs) - res.Changed
	for _, d := range res.Dots {
		if !d.IsZero() {
			reply.FirstVersion = d.String()
			break
		}
	}
	progress(Progress{Phase: "done", Bytes: cr.n.Load(), Rows: len(recs)})
	return reply, nil
}

// hasAny reports whether f has any of the names, empty or not.
func hasAny(f pbx.Fields, names []string) bool {
	for _, n := range names {
		if _, ok := f[n]; ok {
			return true
		}
	}
	return false
}

// recordKey returns the key of a record in binary form.
func recordKey(t *pbx.Table, b []byte) (string, error) {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		v, ok := pbx.LookupField(b, k)
		if !ok {
			return "", fmt.Errorf("%s record without %s", t.Noun, k)
		}
		parts[i] = v
	}
	return strings.Join(parts, "/"), nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// memoCatalog remembers lookups: an import of a million extensions asks
// for the same few clusters and access lists again and again (table → key
// → fields, nil for a record that is not there).
type memoCatalog struct {
	base pbx.Lister
	memo map[string]map[string]pbx.Fields
}

func newMemoCatalog(base pbx.Lister) *memoCatalog {
	return &memoCatalog{base: base, memo: map[string]map[string]pbx.Fields{}}
}

func (m *memoCatalog) Get(table, key string) (pbx.Fields, bool) {
	if f, ok := m.memo[table][key]; ok {
		return f, f != nil
	}
	f, ok := m.base.Get(table, key)
	if !ok {
		f = nil
	}
	if m.memo[table] == nil {
		m.memo[table] = map[string]pbx.Fields{}
	}
	m.memo[table][key] = f
	return f, ok
}

func (m *memoCatalog) Keys(table string) []string { return m.base.Keys(table) }

// BatchRequest asks for a range of extensions made from a template.
type BatchRequest struct {
	Template string `json:"template"`
	Cluster  string `json:"cluster"`
	From     string `json:"from"`
	To       string `json:"to"`
	DryRun   bool   `json:"dry_run,omitempty"`
}

// BatchReply is the validation result (guide §3.0.5: VALID or INVALID with
// every reason) and, when applied, what was created.
type BatchReply struct {
	Valid    bool         `json:"valid"`
	DryRun   bool         `json:"dry_run,omitempty"`
	Problems []string     `json:"problems,omitempty"`
	Notes    []string     `json:"notes,omitempty"`
	Records  []pbx.Fields `json:"records,omitempty"`
	Created  int          `json:"created"`
}

// Batch validates a batch and, unless it is a dry run or invalid, creates
// every extension in one transaction.
func (s *Service) Batch(ctx context.Context, req BatchRequest) (*BatchReply, error) {
	var plan *pbx.BatchPlan
	err := s.st.View(func(sn *store.Snapshot) error {
		var err error
		plan, err = pbx.PlanBatch(pbx.BatchRequest{Template: req.Template, Cluster: req.Cluster, From: req.From, To: req.To}, sn.Catalog())
		if err != nil {
			return &Error{Code: 400, Msg: err.Error()}
		}
		return nil
	})
	if err != nil {
		return nil, UserError(err)
	}
	reply := &BatchReply{Valid: plan.Valid(), DryRun: req.DryRun, Problems: plan.Problems, Notes: plan.Notes, Records: plan.Records}
	if !plan.Valid() || req.DryRun {
		return reply, nil
	}
	muts := make([]store.Mutation, len(plan.Records))
	for i, f := range plan.Records {
		muts[i] = store.Mutation{Table: pbx.Extensions.Name, Key: pbx.Extensions.KeyOf(f), Value: f.AppendBinary(nil), Must: store.MustNotExist}
	}
	res, err := s.st.Write(ctx, Author(ctx), muts)
	if err != nil {
		return nil, UserError(fmt.Errorf("batch: %w (validate again: the enterprise changed since)", err))
	}
	reply.Created = res.Changed
	return reply, nil
}
