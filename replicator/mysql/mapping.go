package mysql

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Column maps one MySQL column to one pbx field.
type Column struct {
	Name  string // the MySQL column
	Field string // the pbx field; "" with Const only
	// Values maps MySQL values to pbx values on the way in; the reverse
	// map is used on the way out. Values missing from it pass unchanged.
	Values map[string]string
	// Const is written on the way out and ignored on the way in ("$number"
	// stands for the record's number, e.g. a PJSIP endpoint's aors).
	Const string
	// Default is written on the way out when the field is empty, and read
	// back as empty ("$number" as for Const).
	Default string
	// MailboxContext marks the voicemail context column: on the way in the
	// pbx mailbox field becomes NUMBER@CONTEXT, on the way out the context
	// is taken from it ("default" when it names none).
	MailboxContext bool
}

// TableMap maps one MySQL table to records of one pbx table. Several
// MySQL tables may map to the same records, each owning some fields
// (sippeers and voicemail both feed extensions).
type TableMap struct {
	Name  string     // MySQL table
	Store *pbx.Table // the pbx table its rows feed
	// ClusterColumn holds each row's cluster; "" means the table holds
	// only this cluster's records (Asterisk's own realtime tables).
	ClusterColumn string
	// NumberColumn holds the record's number (the key field besides the
	// cluster, e.g. regexten).
	NumberColumn string
	Columns      []Column
	// Primary: a row holds the record; inserting it creates the record and
	// deleting it deletes the record. Other tables only add fields, and
	// deleting their row clears those fields.
	Primary bool
	// Presence: for a non-primary table, the row exists exactly when this
	// field is set ("" = whenever the record exists).
	Presence string
	// Set are fields every row of the table implies (protocol=PJSIP).
	Set pbx.Fields

	owned, mapped []string // computed once by check; the hot path reads them
}

// Mapping is a named set of table maps.
type Mapping struct {
	Name   string
	Doc    string
	Tables []*TableMap
}

// numberField is the key field of the store table besides the cluster.
func (t *TableMap) numberField() string {
	for _, k := range t.Store.Key {
		if k != "cluster" {
			return k
		}
	}
	return ""
}

// KeyColumns are the columns that identify a row: the unique key the
// upserts rely on.
func (t *TableMap) KeyColumns() []string {
	if t.ClusterColumn != "" {
		return []string{t.ClusterColumn, t.NumberColumn}
	}
	return []string{t.NumberColumn}
}

// Owned are the pbx fields this table sets, in name order.
func (t *TableMap) Owned() []string {
	if t.owned != nil {
		return t.owned
	}
	return t.computeOwned()
}

func (t *TableMap) computeOwned() []string {
	seen := map[string]bool{}
	for _, c := range t.Columns {
		switch {
		case c.MailboxContext:
			seen["mailbox"] = true
		case c.Field != "" && c.Const == "":
			seen[c.Field] = true
		}
	}
	for f := range t.Set {
		seen[f] = true
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// MappedColumns returns every column the bridge reads or writes, key
// columns first.
func (t *TableMap) MappedColumns() []string {
	if t.mapped != nil {
		return t.mapped
	}
	out := t.KeyColumns()
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	return out
}

func (t *TableMap) check() error {
	t.owned, t.mapped = nil, nil
	defer func() { t.owned, t.mapped = t.computeOwned(), t.MappedColumns() }()
	if t.Store == nil || t.numberField() == "" || t.NumberColumn == "" {
		return fmt.Errorf("mapping of %s: no store table or number column", t.Name)
	}
	seen := map[string]bool{}
	for _, c := range t.MappedColumns() {
		if seen[c] {
			return fmt.Errorf("mapping of %s: column %s mapped twice", t.Name, c)
		}
		seen[c] = true
	}
	for _, c := range t.Columns {
		if c.Field == "" && c.Const == "" && !c.MailboxContext {
			return fmt.Errorf("mapping of %s: column %s maps to nothing", t.Name, c.Name)
		}
		if c.Field != "" {
			if _, ok := t.Store.Spec(c.Field); !ok {
				return fmt.Errorf("mapping of %s: column %s names unknown field %q", t.Name, c.Name, c.Field)
			}
		}
	}
	return nil
}

// Select returns the table maps named (all when names is empty).
func (m *Mapping) Select(names []string) ([]*TableMap, error) {
	if len(names) == 0 {
		return m.Tables, nil
	}
	var out []*TableMap
	for _, n := range names {
		var found *TableMap
		for _, t := range m.Tables {
			if strings.EqualFold(t.Name, n) {
				found = t
			}
		}
		if found == nil {
			return nil, fmt.Errorf("%w: mysql.tables names %q, which mapping %s does not have (it has %s)", ErrConfig, n, m.Name, strings.Join(m.tableNames(), ", "))
		}
		out = append(out, found)
	}
	return out, nil
}

func (m *Mapping) tableNames() []string {
	out := make([]string, len(m.Tables))
	for i, t := range m.Tables {
		out[i] = t.Name
	}
	return out
}

// LookupMapping returns a shipped mapping by name.
func LookupMapping(name string) (*Mapping, error) {
	for _, m := range Mappings() {
		if m.Name == name {
			return m, nil
		}
	}
	names := []string{}
	for _, m := range Mappings() {
		names = append(names, m.Name)
	}
	return nil, fmt.Errorf("%w: mysql.mapping %q: use one of %s", ErrConfig, name, strings.Join(names, ", "))
}

// substitute replaces "$number" with the record's number.
func substitute(v, number string) string { return strings.ReplaceAll(v, "$number", number) }

// rowKey names a row in messages: "sippeers row name=6109".
func rowKey(t *TableMap, row map[string]*string) string {
	parts := []string{}
	for _, c := range t.KeyColumns() {
		v := "NULL"
		if p := row[c]; p != nil {
			v = *p
		}
		parts = append(parts, c+"="+v)
	}
	return t.Name + " row " + strings.Join(parts, ",")
}

// Row is one MySQL row: column → value, nil for NULL.
type Row map[string]*string

// RecordKey returns the store key of a row, or an error naming the row.
func (t *TableMap) RecordKey(row Row, cluster string) (string, error) {
	if t.ClusterColumn != "" {
		p := row[t.ClusterColumn]
		if p == nil || strings.TrimSpace(*p) == "" {
			return "", fmt.Errorf("%s: column %s is empty: %w a row without a cluster", rowKey(t, row), t.ClusterColumn, ErrUnmappable)
		}
		cluster = strings.TrimSpace(*p)
	}
	n := row[t.NumberColumn]
	if n == nil || strings.TrimSpace(*n) == "" {
		return "", fmt.Errorf("%s: column %s is empty: %w a row without a number", rowKey(t, row), t.NumberColumn, ErrUnmappable)
	}
	return t.Store.KeyOf(pbx.Fields{"cluster": cluster, t.numberField(): strings.TrimSpace(*n)}), nil
}

// ToFields merges a row into base (the record's current fields, or nil)
// and returns the record's new fields: this table's owned fields are
// replaced by the row's values. It does not validate.
func (t *TableMap) ToFields(row Row, key string, base pbx.Fields) (pbx.Fields, error) {
	out := pbx.Fields{}
	for k, v := range base {
		out[k] = v
	}
	for _, f := range t.Owned() {
		delete(out, f)
	}
	kf, err := t.Store.ParseKey(key)
	if err != nil {
		return nil, err
	}
	for k, v := range kf {
		out[k] = v
	}
	number := kf[t.numberField()]
	for _, c := range t.Columns {
		if c.Const != "" {
			continue
		}
		p := row[c.Name]
		if p == nil {
			continue
		}
		v := *p
		if c.Default != "" && v == substitute(c.Default, number) {
			continue
		}
		if m, ok := c.Values[v]; ok {
			v = m
		}
		if c.MailboxContext {
			if v != "" && v != "default" {
				out["mailbox"] = number + "@" + v
			} else {
				out["mailbox"] = number
			}
			continue
		}
		if v != "" {
			out[c.Field] = v
		}
	}
	for k, v := range t.Set {
		out[k] = v
	}
	return out, nil
}

// Present reports whether the record's fields call for a row in this table.
func (t *TableMap) Present(f pbx.Fields) bool {
	if f == nil {
		return false
	}
	return t.Presence == "" || f[t.Presence] != ""
}

// FromFields returns the row values of a record, key columns included:
// column → value, nil for NULL (an empty field).
func (t *TableMap) FromFields(key string, f pbx.Fields) (Row, error) {
	kf, err := t.Store.ParseKey(key)
	if err != nil {
		return nil, err
	}
	number := kf[t.numberField()]
	row := Row{t.NumberColumn: strp(number)}
	if t.ClusterColumn != "" {
		row[t.ClusterColumn] = strp(kf["cluster"])
	}
	for _, c := range t.Columns {
		var v string
		switch {
		case c.Const != "":
			v = substitute(c.Const, number)
		case c.MailboxContext:
			v = "default"
			if _, ctx, ok := strings.Cut(f["mailbox"], "@"); ok && ctx != "" {
				v = ctx
			}
		default:
			v = f[c.Field]
			for mv, pv := range c.Values {
				if pv == v && v != "" {
					v = mv
					break
				}
			}
			if v == "" && c.Default != "" {
				v = substitute(c.Default, number)
			}
		}
		if v == "" {
			row[c.Name] = nil
		} else {
			row[c.Name] = strp(v)
		}
	}
	return row, nil
}

func strp(s string) *string { return &s }
