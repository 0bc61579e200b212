package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Store is what the service needs of the store. With Raft, writes go
// through the cluster's log; reads are always local.
type Store interface {
	View(fn func(*store.Snapshot) error) error
	Write(ctx context.Context, author string, muts []store.Mutation) (store.WriteResult, error)
	Revert(ctx context.Context, author string, id store.Dot) (store.WriteResult, *store.Change, error)
}

var _ Store = (*store.Store)(nil)

// Service is every operation on the enterprise data that the CLI and the
// HTTP API offer, over one store. It validates, converts between pbx
// records and store mutations, and never prints.
type Service struct {
	st     Store
	deps   Deps
	dns    DNSServer    // the running DNS server, when the agent has one (zone.go)
	health HealthStatus // its health view (zone.go)
	index  extIndex     // searches over extensions (index.go)
}

// NewService returns a service over st.
func NewService(st Store) *Service { return &Service{st: roleStore{st}} }

// API is the set of operations the CLI uses; the Service implements it
// over a local store and the Client over an agent's HTTP API.
type API interface {
	List(ctx context.Context, table string, q Query) (*Page, error)
	Get(ctx context.Context, table, key string) (*RecordView, error)
	Put(ctx context.Context, table string, f pbx.Fields, opts PutOptions) (*WriteReply, error)
	Delete(ctx context.Context, table, key string, ifMatch string) (*WriteReply, error)
	Batch(ctx context.Context, req BatchRequest) (*BatchReply, error)
	Import(ctx context.Context, req ImportRequest, r io.Reader) (*ImportReply, error)
	Export(ctx context.Context, table string) ([]pbx.Fields, error)
	History(ctx context.Context, table, key string) ([]HistoryItem, error)
	Revert(ctx context.Context, id string) (*WriteReply, error)
}

var _ API = (*Service)(nil)

// Query selects and orders records of a table (guide §4.0.2: filter by
// site, cluster, group; search; sort by any column; page).
type Query struct {
	Group   string `json:"group,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Site    string `json:"site,omitempty"`
	Search  string `json:"search,omitempty"`
	Sort    string `json:"sort,omitempty"`
	Desc    bool   `json:"desc,omitempty"`
	Offset  int    `json:"offset,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// Page is one page of a listing.
type Page struct {
	Total int          `json:"total"`
	Rows  []pbx.Fields `json:"rows"`
}

// AppendJSON appends p as encoding/json writes it, each row written once
// into b (encoding/json would scan and copy each row's MarshalJSON again).
func (p *Page) AppendJSON(b []byte) []byte {
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(p.Total), 10)
	if p.Rows == nil {
		return append(b, `,"rows":null}`...)
	}
	b = append(b, `,"rows":[`...)
	for i, r := range p.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.AppendJSON(b)
	}
	return append(b, "]}"...)
}

// RecordView is a record with its versions, as the API shows it.
type RecordView struct {
	Table    string        `json:"table"`
	Key      string        `json:"key"`
	Fields   pbx.Fields    `json:"fields,omitempty"`
	Version  string        `json:"version"`
	Deleted  bool          `json:"deleted,omitempty"`
	Conflict bool          `json:"conflict,omitempty"`
	Versions []VersionView `json:"versions"`
}

// VersionView is one live version of a record.
type VersionView struct {
	Version string     `json:"version"`
	Cluster string     `json:"cluster"`
	Time    time.Time  `json:"time"`
	Author  string     `json:"author"`
	Deleted bool       `json:"deleted,omitempty"`
	Fields  pbx.Fields `json:"fields,omitempty"`
}

// PutOptions says how a record is written.
type PutOptions struct {
	Must    store.Must `json:"must,omitempty"`
	IfMatch string     `json:"if_match,omitempty"`
	// Merge sets only the given fields over the current record (ext set);
	// otherwise the given fields replace the record.
	Merge bool `json:"merge,omitempty"`
	// ResolveConflict supersedes every live version.
	ResolveConflict bool `json:"resolve_conflict,omitempty"`
	// Take, for a merge into a record in conflict, names the cluster
	// whose side the fields are set over; the write resolves the conflict.
	Take string `json:"take,omitempty"`
}

// WriteReply tells what a write did.
type WriteReply struct {
	Changed  int      `json:"changed"`
	Versions []string `json:"versions,omitempty"`
	Note     string   `json:"note,omitempty"`
	// Warnings name what the write did that its author may not expect,
	// or what it left that the audit will flag, each with the fix.
	Warnings []string `json:"warnings,omitempty"`
}

// HistoryItem is one change of a record.
type HistoryItem struct {
	Change     string    `json:"change"`
	Cluster    string    `json:"cluster"`
	Time       time.Time `json:"time"`
	Applied    time.Time `json:"applied"`
	Author     string    `json:"author"`
	Deleted    bool      `json:"deleted,omitempty"`
	Supersedes []string  `json:"supersedes,omitempty"`
	// Set names the fields the change set (absent: every field).
	Set    []string   `json:"set,omitempty"`
	Fields pbx.Fields `json:"fields,omitempty"`
}

// Error is an error with an HTTP-like code, so that the HTTP layer and the
// CLI can tell the user's mistakes from internal failures.
type Error struct {
	Code int    // 400, 404, 409, 412, 500...
	Msg  string // says what to fix
	Err  error  // the cause, for errors.Is
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// UserError maps store and validation errors to an *Error with the code
// that tells the caller's mistakes from internal failures.
func UserError(err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	var ve *pbx.ValidationError
	var ie *pbx.InputError
	code := 500
	switch {
	case errors.As(err, &ve), errors.As(err, &ie), errors.Is(err, store.ErrInvalid):
		code = 400
	case errors.Is(err, store.ErrNotFound):
		code = 404
	case errors.Is(err, store.ErrExists), errors.Is(err, pbx.ErrNewerFields):
		code = 409
	case errors.Is(err, store.ErrConflict):
		return conflictError(err)
	case errors.Is(err, store.ErrPrecondition):
		code = 412
	case errors.Is(err, store.ErrPruned):
		code = 410
	case errors.Is(err, store.ErrDiskFull), errors.Is(err, store.ErrUnavailable):
		code = 503
	case errors.Is(err, store.ErrReadOnly):
		code = 403
	}
	return &Error{Code: code, Msg: err.Error(), Err: err}
}

func table(name string) (*pbx.Table, error) {
	t, err := pbx.LookupTable(name)
	if err != nil {
		return nil, &Error{Code: 400, Msg: err.Error()}
	}
	return t, nil
}

// checkList checks a listing's query, and says whether the extension
// index answers it.
func (s *Service) checkList(ctx context.Context, tableName string, q Query) (*pbx.Table, bool, error) {
	t, err := table(tableName)
	if err != nil {
		return nil, false, err
	}
	if q.Sort != "" {
		if _, ok := t.Spec(q.Sort); !ok {
			return nil, false, &Error{Code: 400, Msg: fmt.Sprintf("cannot sort by %q: %s", q.Sort, nearestMsg(q.Sort, t))}
		}
	}
	if err := refuseSecretQuery(ctx, t, q); err != nil {
		return nil, false, err
	}
	if err := s.checkNames(q.Cluster, q.Site, q.Group); err != nil {
		return nil, false, err
	}
	_, ok := indexedSorts[q.Sort]
	return t, ok && t == pbx.Extensions, nil
}

// ListJSON returns what List returns as JSON (Page.AppendJSON's bytes),
// each row's secrets written as pbx.Redacted when redact is set (as
// pbx.Table.Redact does). A page the extension index answers is written
// straight from the records' binary form, without decoding them.
func (s *Service) ListJSON(ctx context.Context, tableName string, q Query, redact bool) ([]byte, error) {
	return s.AppendListJSON(ctx, nil, tableName, q, redact)
}

// AppendListJSON is ListJSON appending to dst (the HTTP API's pooled
// buffer: a page is tens of KB, allocated per request otherwise). On an
// error it returns dst as it was.
func (s *Service) AppendListJSON(ctx context.Context, dst []byte, tableName string, q Query, redact bool) ([]byte, error) {
	t, indexed, err := s.checkList(ctx, tableName, q)
	if err != nil {
		return dst, err
	}
	if !indexed {
		page, err := s.scanList(t, q)
		if err != nil {
			return dst, err
		}
		if redact {
			for i := range page.Rows {
				page.Rows[i] = t.Redact(page.Rows[i])
			}
		}
		return page.AppendJSON(dst), nil
	}
	if err := s.index.refresh(s.st); err != nil {
		return dst, UserError(err)
	}
	keys, total := s.index.search(q)
	var secret func(name string) bool
	if redact {
		// A few names compared beat a lookup in the table's spec for
		// each field of each row (8% of the agent's CPU under load).
		names := t.SecretFields()
		secret = func(name string) bool { return slices.Contains(names, name) }
	}
	b := slices.Grow(dst, 64+len(keys)*512)
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"rows":[`...)
	n := 0
	err = s.st.View(func(sn *store.Snapshot) error {
		return sn.Values(t.Name, keys, func(k string, v []byte) error {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			var ok bool
			if b, ok = pbx.AppendJSONFromBinary(b, v, secret); ok {
				return nil
			}
			// A newer agent's field, or a record that does not decode.
			f, err := pbx.DecodeFields(v)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", t.Name, k, err)
			}
			if redact {
				f = t.Redact(f)
			}
			b = f.AppendJSON(b)
			return nil
		})
	})
	if err != nil {
		return dst, UserError(err)
	}
	return append(b, "]}"...), nil
}

// List returns the records of a table that match q.
func (s *Service) List(ctx context.Context, tableName string, q Query) (*Page, error) {
	t, indexed, err := s.checkList(ctx, tableName, q)
	if err != nil {
		return nil, err
	}
	if indexed {
		return s.listIndexed(q)
	}
	return s.scanList(t, q)
}

// scanList answers a checked query the index does not serve by reading
// the table.
func (s *Service) scanList(t *pbx.Table, q Query) (*Page, error) {
	groupField := "group"
	if t == pbx.Extensions {
		groupField = "astgroup"
	}
	search := strings.ToLower(q.Search)
	var rows []pbx.Fields
	err := s.st.View(func(sn *store.Snapshot) error {
		prefix := ""
		if q.Cluster != "" && len(t.Key) > 1 && t.Key[0] == "cluster" {
			prefix = q.Cluster + "/"
		}
		return sn.Scan(t.Name, prefix, func(key string, v []byte) error {
			if !matchField(v, "cluster", q.Cluster) || !matchField(v, "site", q.Site) || !matchField(v, groupField, q.Group) {
				return nil
			}
			if search != "" && !matchSearch(v, t, search) {
				return nil
			}
			f, err := pbx.DecodeFields(v)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", t.Name, key, err)
			}
			rows = append(rows, f)
			return nil
		})
	})
	if err != nil {
		return nil, UserError(err)
	}
	sortRows(rows, t, q.Sort, q.Desc)
	page := &Page{Total: len(rows)}
	lo := min(max(q.Offset, 0), len(rows))
	hi := len(rows)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, len(rows))
	}
	page.Rows = rows[lo:hi]
	if page.Rows == nil {
		page.Rows = []pbx.Fields{}
	}
	return page, nil
}

// listIndexed answers an extension listing from the index, reading only
// the records of the page.
func (s *Service) listIndexed(q Query) (*Page, error) {
	if err := s.index.refresh(s.st); err != nil {
		return nil, UserError(err)
	}
	keys, total := s.index.search(q)
	page := &Page{Total: total, Rows: make([]pbx.Fields, 0, len(keys))}
	err := s.st.View(func(sn *store.Snapshot) error {
		return sn.Values(pbx.Extensions.Name, keys, func(k string, v []byte) error {
			f, err := pbx.DecodeFieldsTogether(v)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", pbx.Extensions.Name, k, err)
			}
			page.Rows = append(page.Rows, f)
			return nil
		})
	})
	if err != nil {
		return nil, UserError(err)
	}
	return page, nil
}

func nearestMsg(name string, t *pbx.Table) string {
	if n := pbx.Nearest(name, t.Columns()); n != "" {
		return fmt.Sprintf("did you mean %q?", n)
	}
	return "use a column of table " + t.Name
}

func matchField(v []byte, field, want string) bool {
	return want == "" || pbx.HasField(v, field, want)
}

// searchFields are the columns a free-text search looks at.
var searchFields = []string{"name", "regexten", "callerid", "fullcontact", "extension", "mailbox", "description"}

func matchSearch(v []byte, t *pbx.Table, search string) bool {
	for _, f := range searchFields {
		if got, ok := pbx.LookupField(v, f); ok && strings.Contains(strings.ToLower(got), search) {
			return true
		}
	}
	return false
}

// sortRows orders rows by a column (numbers numerically), then by key.
func sortRows(rows []pbx.Fields, t *pbx.Table, by string, desc bool) {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = t.KeyOf(r)
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := rows[idx[a]], rows[idx[b]]
		if by != "" && ra[by] != rb[by] {
			return naturalLess(ra[by], rb[by]) != desc
		}
		return naturalLess(keys[idx[a]], keys[idx[b]]) != (desc && by == "")
	})
	sorted := make([]pbx.Fields, len(rows))
	for i, j := range idx {
		sorted[i] = rows[j]
	}
	copy(rows, sorted)
}

// naturalLess compares numbers as numbers and everything else as text,
// case-insensitively, so 5101 < 5540 < 61000 and "alex" < "Bob".
func naturalLess(a, b string) bool {
	na, ea := strconv.ParseFloat(a, 64)
	nb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil && na != nb {
		return na < nb
	}
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

// Get returns one record with its versions.
func (s *Service) Get(ctx context.Context, tableName, key string) (*RecordView, error) {
	t, err := table(tableName)
	if err != nil {
		return nil, err
	}
	if _, err := t.ParseKey(key); err != nil {
		return nil, &Error{Code: 400, Msg: err.Error()}
	}
	var view *RecordView
	err = s.st.View(func(sn *store.Snapshot) error {
		r, err := sn.Get(t.Name, key)
		if err != nil {
			return err
		}
		if r == nil {
			return &Error{Code: 404, Msg: fmt.Sprintf("%s %s does not exist", t.Noun, key), Err: store.ErrNotFound}
		}
		view, err = recordView(r)
		return err
	})
	if err != nil {
		return nil, UserError(err)
	}
	return view, nil
}

func recordView(r *store.Record) (*RecordView, error) {
	f, exists := r.Fields()
	v := &RecordView{Table: r.Table, Key: r.Key, Version: store.FormatDots(r.Dots()), Deleted: !exists, Conflict: r.Conflict(), Fields: f}
	for _, ver := range r.Versions {
		vv := VersionView{Version: ver.Dot.String(), Cluster: ver.Dot.Stream.Cluster(), Time: ver.HLC.Time(), Author: ver.Author, Deleted: ver.Deleted}
		if !ver.Deleted {
			f, err := pbx.DecodeFields(ver.Value)
			if err != nil {
				return nil, fmt.Errorf("%s/%s version %s: %w", r.Table, r.Key, ver.Dot, err)
			}
			vv.Fields = f
		}
		v.Versions = append(v.Versions, vv)
	}
	return v, nil
}

// Put validates a record and writes it. With Merge (ext set, PATCH) only
// the given fields travel: the store sets them over the record current
// inside its write transaction (the leader's Raft FSM in a cluster) and
// validates the result there, so a concurrent change of another field is
// never written back over, and a follower never sends its older copy.
func (s *Service) Put(ctx context.Context, tableName string, f pbx.Fields, opts PutOptions) (*WriteReply, error) {
	t, err := table(tableName)
	if err != nil {
		return nil, err
	}
	var ifMatch []store.Dot
	if opts.IfMatch != "" {
		if ifMatch, err = store.ParseDots(opts.IfMatch); err != nil {
			return nil, &Error{Code: 400, Msg: err.Error()}
		}
	}
	mut := store.Mutation{Table: t.Name, Key: t.KeyOf(f), IfMatch: ifMatch, SupersedeAll: opts.ResolveConflict, Must: opts.Must}
	if opts.Merge {
		if _, err := t.ParseKey(mut.Key); err != nil {
			return nil, &Error{Code: 400, Msg: err.Error()}
		}
		if err := checkPatch(t, f); err != nil {
			return nil, err
		}
		mut.Patch = f
		if opts.Take != "" {
			if mut, err = s.takeSides(t, mut, opts.Take); err != nil {
				return nil, err
			}
		}
		reply, err := s.write(ctx, []store.Mutation{mut})
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Code: 404, Msg: fmt.Sprintf("%s %s does not exist; create it with 'add'", t.Noun, mut.Key), Err: store.ErrNotFound}
		}
		return reply, err
	}
	var warnings []string
	if t == pbx.Extensions && opts.Must == store.MustNotExist {
		if f, warnings, err = newExtension(f); err != nil {
			return nil, err
		}
	}
	err = s.st.View(func(sn *store.Snapshot) error {
		if err := refuseUnknownFields(t, f); err != nil {
			return err
		}
		config, _ := t.SplitStatus(f)
		full, err := t.Prepare(config, sn.Catalog())
		if err != nil {
			return err
		}
		mut.Key, mut.Value = t.KeyOf(full), full.AppendBinary(nil)
		return nil
	})
	if err != nil {
		return nil, UserError(err)
	}
	reply, err := s.write(ctx, []store.Mutation{mut})
	if reply != nil {
		reply.Warnings = warnings
	}
	return reply, err
}

// newExtension completes an extension being created: without a secret it
// gets a random one (an account without a secret lets anyone register as
// it), and what the audit would flag at once is said with its fix.
func newExtension(f pbx.Fields) (pbx.Fields, []string, error) {
	key := pbx.Extensions.KeyOf(f)
	var warnings []string
	if f["secret"] == "" && f["md5secret"] == "" {
		secret, err := pbx.RandomSecret()
		if err != nil {
			return nil, nil, err
		}
		f = f.Clone()
		f["secret"] = secret
		warnings = append(warnings, fmt.Sprintf("no secret given: a random 16-character secret was set (see it with 'pbxtopo ext get %s --show-secrets')", key))
	}
	if f["context"] == "" {
		warnings = append(warnings, fmt.Sprintf("no context: calls from %s land in Asterisk's default context (the audit flags it, SEC-UNKNOWN-CONTEXT); "+
			"set its group's context: pbxtopo ext set %s context=CONTEXT", key, key))
	}
	if f["acl"] == "" && f["permit"] == "" {
		warnings = append(warnings, fmt.Sprintf("no acl or permit: %s may register from any address (the audit flags it, SEC-NO-ACL); "+
			"set one: pbxtopo ext set %s acl=ACL", key, key))
	}
	return f, warnings, nil
}

// checkPatch refuses, before anything travels, fields the table does not
// have; values are checked where the patch is applied.
func checkPatch(t *pbx.Table, f pbx.Fields) error {
	for k := range f {
		if _, ok := t.Spec(k); !ok && !pbx.IsUnknownField(k) {
			return &Error{Code: 400, Msg: fmt.Sprintf("%s %s: unknown field %q (%s)", t.Noun, t.KeyOf(f), k, nearestMsg(k, t))}
		}
	}
	return nil
}

// refuseUnknownFields refuses to re-encode a record that carries fields a
// newer pbxtopo added: this agent would not know where they go.
func refuseUnknownFields(t *pbx.Table, f pbx.Fields) error {
	if u := f.UnknownFields(); len(u) > 0 {
		return &Error{Code: 409, Msg: fmt.Sprintf("%s %s carries fields a newer pbxtopo added (%s); this agent keeps and replicates them but cannot change the record: upgrade this agent, or change it through an upgraded one",
			t.Noun, t.KeyOf(f), strings.Join(u, ", "))}
	}
	return nil
}

func (s *Service) write(ctx context.Context, muts []store.Mutation) (*WriteReply, error) {
	res, err := s.st.Write(ctx, Author(ctx), muts)
	if err != nil {
		return nil, UserError(err)
	}
	reply := &WriteReply{Changed: res.Changed}
	for _, d := range res.Dots {
		if !d.IsZero() {
			reply.Versions = append(reply.Versions, d.String())
		}
	}
	if res.Changed == 0 {
		reply.Note = "nothing changed: the record already holds these values"
	}
	return reply, nil
}

// Delete removes a record (a tombstone replicates the deletion).
func (s *Service) Delete(ctx context.Context, tableName, key, ifMatch string) (*WriteReply, error) {
	t, err := table(tableName)
	if err != nil {
		return nil, err
	}
	if _, err := t.ParseKey(key); err != nil {
		return nil, &Error{Code: 400, Msg: err.Error()}
	}
	m := store.Mutation{Table: t.Name, Key: key, Must: store.MustExist}
	if ifMatch != "" {
		if m.IfMatch, err = store.ParseDots(ifMatch); err != nil {
			return nil, &Error{Code: 400, Msg: err.Error()}
		}
	}
	reply, err := s.write(ctx, []store.Mutation{m})
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: 404, Msg: fmt.Sprintf("%s %s does not exist", t.Noun, key), Err: store.ErrNotFound}
	}
	return reply, err
}

// Export returns every live record of a table, ordered by key.
func (s *Service) Export(ctx context.Context, tableName string) ([]pbx.Fields, error) {
	p, err := s.List(ctx, tableName, Query{})
	if err != nil {
		return nil, err
	}
	return p.Rows, nil
}

// History returns the retained changes of a record, oldest first.
func (s *Service) History(ctx context.Context, tableName, key string) ([]HistoryItem, error) {
	t, err := table(tableName)
	if err != nil {
		return nil, err
	}
	var out []HistoryItem
	err = s.st.View(func(sn *store.Snapshot) error {
		entries, err := sn.History(t.Name, key)
		if err != nil {
			return err
		}
		for _, e := range entries {
			c := e.Change
			item := HistoryItem{Change: c.Dot.String(), Cluster: c.Dot.Stream.Cluster(), Time: c.HLC.Time(),
				Applied: e.Applied, Author: c.Author, Deleted: c.Deleted, Set: c.Set}
			for _, d := range c.Context {
				item.Supersedes = append(item.Supersedes, d.String())
			}
			if !c.Deleted {
				if item.Fields, err = pbx.DecodeFields(c.Value); err != nil {
					return err
				}
			}
			out = append(out, item)
		}
		return nil
	})
	if err != nil {
		return nil, UserError(err)
	}
	if len(out) == 0 {
		return nil, &Error{Code: 404, Msg: fmt.Sprintf("no history for %s %s (it never existed, or its history is older than the retention)", t.Noun, key), Err: store.ErrNotFound}
	}
	return out, nil
}

// Revert backs out one change (see store.Revert).
func (s *Service) Revert(ctx context.Context, id string) (*WriteReply, error) {
	d, err := store.ParseDot(id)
	if err != nil {
		return nil, &Error{Code: 400, Msg: err.Error()}
	}
	res, c, err := s.st.Revert(ctx, Author(ctx), d)
	if err != nil {
		return nil, UserError(err)
	}
	reply := &WriteReply{Changed: res.Changed}
	for _, d := range res.Dots {
		if !d.IsZero() {
			reply.Versions = append(reply.Versions, d.String())
		}
	}
	reply.Note = fmt.Sprintf("reverted %s on %s/%s", id, c.Table, c.Key)
	if res.Changed == 0 {
		reply.Note += ": the record already holds the earlier value"
	}
	return reply, nil
}

type authorKey struct{}

// WithAuthor returns a context that attributes writes to who.
func WithAuthor(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, authorKey{}, who)
}

// Author returns who a context's writes are attributed to.
func Author(ctx context.Context) string {
	if a, ok := ctx.Value(authorKey{}).(string); ok && a != "" {
		return a
	}
	return "local"
}
