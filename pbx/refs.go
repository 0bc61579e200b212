package pbx

import (
	"fmt"
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
	var problems []Problem
	out := f
	if t.hasField("cluster") && f["cluster"] != "" && t != Clusters {
		cl, ok := c.Get(Clusters.Name, f["cluster"])
		switch {
		case !ok:
			problems = append(problems, Problem{"cluster", fmt.Sprintf("cluster %q is not defined; add it first (pbxtopo import --table clusters FILE)", f["cluster"])})
		case f["site"] == "":
			out = f.Clone()
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

// PrepareRows checks every row of one table and then resolves it against
// the rows themselves and the base catalog, so rows may refer to each other
// in any order (a cluster's failover list names clusters further down the
// file). It returns the prepared records in row order, or an *InputError
// naming every bad line.
func PrepareRows(t *Table, source string, rows []Row, base Catalog) ([]Fields, error) {
	bad := &InputError{Source: source}
	staged := MapCatalog{}
	checked := make([]Fields, len(rows))
	firstLine := map[string]int{}
	for i, r := range rows {
		f, err := t.Check(r.Fields)
		if err != nil {
			bad.add(r.Line, err)
			continue
		}
		key := t.KeyOf(f)
		if prev, dup := firstLine[key]; dup {
			bad.add(r.Line, fmt.Errorf("%s %s appears twice (first on line %d)", t.Noun, key, prev))
			continue
		}
		firstLine[key] = r.Line
		checked[i] = f
		staged.Put(t, f)
	}
	cat := Layered{Top: staged, Base: base}
	out := make([]Fields, 0, len(rows))
	for i, f := range checked {
		if f == nil {
			continue
		}
		full, err := t.Resolve(f, cat)
		if err != nil {
			bad.add(rows[i].Line, err)
			continue
		}
		out = append(out, full)
	}
	if err := bad.orNil(); err != nil {
		return nil, err
	}
	return out, nil
}
