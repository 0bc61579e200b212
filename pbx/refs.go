package pbx

import (
	"fmt"
	"sort"
	"strings"
)

// Catalog looks up records by table and key: the store, or the store plus
// the records of an import that are not written yet.
type Catalog interface {
	Get(table, key string) (Fields, bool)
}

// MapCatalog is a Catalog held in memory, table → key → fields.
type MapCatalog map[string]map[string]Fields

// Get implements Catalog.
func (m MapCatalog) Get(table, key string) (Fields, bool) {
	f, ok := m[table][key]
	return f, ok
}

// Put adds or replaces a record.
func (m MapCatalog) Put(t *Table, f Fields) {
	if m[t.Name] == nil {
		m[t.Name] = map[string]Fields{}
	}
	m[t.Name][t.KeyOf(f)] = f
}

// Layered looks in Top first, then in Base: the records being imported over
// those already stored.
type Layered struct{ Top, Base Catalog }

// Get implements Catalog.
func (l Layered) Get(table, key string) (Fields, bool) {
	if f, ok := l.Top.Get(table, key); ok {
		return f, true
	}
	return l.Base.Get(table, key)
}

// Resolve checks what a normalized record refers to (its cluster, site,
// access lists, failover clusters) and fills the site from the cluster when
// it is empty. It returns the completed record or a *ValidationError.
func (t *Table) Resolve(f Fields, c Catalog) (Fields, error) {
	return t.resolve(f, c, false)
}

// resolve is Resolve; inPlace lets it complete f itself instead of a copy
// (a record of its caller's own, as in an import).
func (t *Table) resolve(f Fields, c Catalog, inPlace bool) (Fields, error) {
	var problems []Problem
	out := f
	if t.hasField("cluster") && f["cluster"] != "" && t != Clusters {
		cl, ok := c.Get(Clusters.Name, f["cluster"])
		switch {
		case !ok:
			problems = append(problems, Problem{"cluster", fmt.Sprintf("cluster %q is not defined; add it first (pbxtopo import --table clusters FILE)", f["cluster"])})
		case f["site"] == "":
			if !inPlace {
				out = f.Clone()
			}
			out["site"] = cl["site"]
		case f["site"] != cl["site"]:
			problems = append(problems, Problem{"site", fmt.Sprintf("site %q does not match cluster %s, which is at site %q", f["site"], f["cluster"], cl["site"])})
		}
	}
	if t == Clusters {
		if _, ok := c.Get(Sites.Name, f["site"]); !ok && f["site"] != "" {
			problems = append(problems, Problem{"site", fmt.Sprintf("site %q is not defined; add it first (pbxtopo import --table sites FILE)", f["site"])})
		}
		for _, fo := range splitList(f["failover"]) {
			if fo == f["name"] {
				problems = append(problems, Problem{"failover", "failover lists the cluster itself; list only the clusters phones move to"})
			} else if _, ok := c.Get(Clusters.Name, fo); !ok {
				problems = append(problems, Problem{"failover", fmt.Sprintf("failover cluster %q is not defined", fo)})
			}
		}
	}
	if g := f["astgroup"]; t == Extensions && g != "" {
		if _, ok := c.Get(Groups.Name, g); !ok {
			msg := fmt.Sprintf("group %q is not defined", g)
			if l, ok := c.(Lister); ok {
				if near := Nearest(g, l.Keys(Groups.Name)); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				} else if names := sortedKeys(l, Groups.Name); len(names) > 0 {
					msg += "; the groups are " + strings.Join(names, ", ")
				}
			}
			problems = append(problems, Problem{"astgroup", msg + "; add it first (pbxtopo import --table groups FILE)"})
		}
	}
	if t.hasField("acl") {
		for _, a := range splitList(f["acl"]) {
			if _, ok := c.Get(ACLs.Name, a); !ok {
				problems = append(problems, Problem{"acl", fmt.Sprintf("acl %q is not defined; add it first (pbxtopo import --table acls FILE)", a)})
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Table: t, Key: t.KeyOf(f), Number: f[numberField(t)], Problems: problems}
	}
	return out, nil
}

func (t *Table) hasField(name string) bool {
	_, ok := t.index[name]
	return ok
}

// Prepare is Check followed by Resolve: everything a record must pass
// before it is written.
func (t *Table) Prepare(f Fields, c Catalog) (Fields, error) {
	n, err := t.Check(f)
	if err != nil {
		return nil, err
	}
	return t.Resolve(n, c)
}

// List splits a list field value ("a,b,c") into its items.
func List(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return splitList(v)
}

// Preparer checks the rows of one table as they are read and resolves
// them, so rows may refer to each other in any order (a cluster's failover
// list names clusters further down the file): a row is resolved as it is
// added unless it looks up its own table, and then once all are in. It
// keeps each row in its compact binary form, not as a map: an import of a
// million extensions stays small, and each is encoded once.
type Preparer struct {
	t          *Table
	source     string
	base       Catalog
	bad        *InputError
	keys       map[string]int // record key → index in recs
	recs       [][]byte
	lines      []int
	unresolved []int // indexes in recs that Finish resolves
}

// NewPreparer returns a Preparer for rows of t read from source, resolved
// against base (the records already stored).
func NewPreparer(t *Table, source string, base Catalog) *Preparer {
	return &Preparer{t: t, source: source, base: base, bad: &InputError{Source: source}, keys: map[string]int{}}
}

// Add checks one row and keeps it.
func (p *Preparer) Add(r Row) {
	f, err := p.t.Check(r.Fields)
	if err != nil {
		p.bad.add(r.Line, err)
		return
	}
	key := p.t.KeyOf(f)
	if i, dup := p.keys[key]; dup {
		p.bad.add(r.Line, fmt.Errorf("%s %s appears twice (first on line %d)", p.t.Noun, key, p.lines[i]))
		return
	}
	p.keys[key] = len(p.recs)
	p.lines = append(p.lines, r.Line)
	// f is the row's own copy (Check made it): completed in place.
	only := otherTables{base: p.base, own: p.t.Name}
	resolved, err := p.t.resolve(f, &only, true)
	switch {
	case only.asked:
		p.unresolved = append(p.unresolved, len(p.recs))
	case err != nil:
		p.bad.add(r.Line, err)
	default:
		f = resolved
	}
	p.recs = append(p.recs, f.AppendBinary(nil))
}

// otherTables answers lookups of every table but own from base, and notes
// whether own was asked for: the rows of own are not all in yet.
type otherTables struct {
	base  Catalog
	own   string
	asked bool
}

func (o *otherTables) Get(table, key string) (Fields, bool) {
	if table == o.own {
		o.asked = true
		return nil, false
	}
	return o.base.Get(table, key)
}

// Get implements Catalog: the rows of this table first, then the base.
func (p *Preparer) Get(table, key string) (Fields, bool) {
	if table == p.t.Name {
		if i, ok := p.keys[key]; ok {
			f, err := DecodeFields(p.recs[i])
			return f, err == nil
		}
	}
	return p.base.Get(table, key)
}

// Finish resolves the rows that wait for their own table and returns the
// records in binary form, in row order, or an *InputError naming every bad
// line (from Add too).
func (p *Preparer) Finish() ([][]byte, error) {
	for _, i := range p.unresolved {
		f, err := DecodeFields(p.recs[i])
		if err == nil {
			f, err = p.t.resolve(f, p, true)
		}
		if err != nil {
			p.bad.add(p.lines[i], err)
			continue
		}
		// In place, so the old form is garbage at once (and later rows that
		// refer to this one see it resolved).
		p.recs[i] = f.AppendBinary(nil)
	}
	if err := p.bad.orNil(); err != nil {
		sort.SliceStable(p.bad.Lines, func(i, j int) bool { return p.bad.Lines[i].Line < p.bad.Lines[j].Line })
		return nil, err
	}
	out := p.recs
	p.recs, p.keys, p.unresolved = nil, nil, nil
	return out, nil
}

// PrepareRows checks and resolves rows of one table (see Preparer) and
// returns the records as fields.
func PrepareRows(t *Table, source string, rows []Row, base Catalog) ([]Fields, error) {
	p := NewPreparer(t, source, base)
	for _, r := range rows {
		p.Add(r)
	}
	recs, err := p.Finish()
	if err != nil {
		return nil, err
	}
	out := make([]Fields, len(recs))
	for i, b := range recs {
		if out[i], err = DecodeFields(b); err != nil {
			return nil, err
		}
	}
	return out, nil
}
