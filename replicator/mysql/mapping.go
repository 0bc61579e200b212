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
	Field string // the pbx field; "" with Const or Out only
	// In maps MySQL values to pbx values on the way in, Out pbx values to
	// MySQL values on the way out. Values missing from a map pass
	// unchanged.
	In, Out map[string]string
	// Const is written on the way out and ignored on the way in ("$number"
	// stands for the record's number, e.g. a PJSIP endpoint's aors).
	Const string
	// Compute, when set, gives the value written on the way out ("" for
	// NULL) from the record's fields; without Field the column is not
	// read. Read, when set, turns a MySQL value into the field's value on
	// the way in (after In).
	Compute func(f pbx.Fields, number string) string
	Read    func(v string) string
	// Default is written on the way out when the field is empty, and read
	// back as empty ("$number" as for Const).
	Default string
	// MailboxContext and MailboxNumber mark a voicemail row's context and
	// box number: together they are the record's mailbox field
	// (NUMBER@CONTEXT, or NUMBER in context default).
	MailboxContext, MailboxNumber bool
	// Keep: deleting the row leaves the field as it is (voicemail's
	// fullname is the extension's name, which outlives its mailbox).
	Keep bool
}

// outOnly reports whether the column is written but never read.
func (c Column) outOnly() bool { return c.Const != "" || (c.Compute != nil && c.Field == "") }

// TableMap maps one MySQL table to records of one pbx table. Several
// MySQL tables may map to the same records, each owning some fields
// (ps_endpoints, ps_auths, ps_aors and voicemail all feed extensions).
type TableMap struct {
	Name  string     // MySQL table
	Store *pbx.Table // the pbx table its rows feed
	// ClusterColumn holds each row's cluster; "" means the table holds
	// only this cluster's records (Asterisk's own realtime tables).
	ClusterColumn string
	// NumberColumn holds the record's number (the key field besides the
	// cluster, e.g. regexten). Unused with ByMailbox.
	NumberColumn string
	Columns      []Column
	// Primary: a row holds the record; inserting it creates the record and
	// deleting it deletes the record. Other tables only add fields, and
	// deleting their row clears those fields.
	Primary bool
	// PresentIf: for a non-primary table, the row exists exactly when one
	// of these fields is set (none = whenever the record exists).
	PresentIf []string
	// Protocols: only records whose protocol is one of these have a row
	// (none = every record); a row that creates a record sets the first.
	Protocols []string
	// ByMailbox: a row is a voicemail box, keyed by its context and
	// mailbox columns, and belongs to the extension of this cluster whose
	// mailbox field names that box.
	ByMailbox bool

	owned, mapped []string       // computed once by check; the hot path reads them
	ownedIndex    map[string]int // owned field → its index in owned, also by check
}

// Mapping is a named set of table maps.
type Mapping struct {
	Name   string
	Doc    string
	Tables []*TableMap
}

// clusterKey reports whether the store table's key is CLUSTER/NUMBER.
func (t *TableMap) clusterKey() bool {
	return len(t.Store.Key) == 2 && t.Store.Key[0] == "cluster"
}

// splitKey returns the cluster and number of a record key, as ParseKey
// would, without a map for the usual CLUSTER/NUMBER key.
func (t *TableMap) splitKey(key string) (cluster, number string, err error) {
	if t.clusterKey() {
		c, n, _ := strings.Cut(key, "/")
		if c != "" && n != "" && !strings.Contains(n, "/") {
			return c, n, nil
		}
	}
	kf, err := t.Store.ParseKey(key)
	if err != nil {
		return "", "", err
	}
	return kf["cluster"], kf[t.numberField()], nil
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

// KeyColumns are the columns that identify a row: the key the bridge's
// writes select rows by.
func (t *TableMap) KeyColumns() []string {
	switch {
	case t.ByMailbox:
		return []string{t.column(func(c Column) bool { return c.MailboxContext }), t.column(func(c Column) bool { return c.MailboxNumber })}
	case t.ClusterColumn != "":
		return []string{t.ClusterColumn, t.NumberColumn}
	}
	return []string{t.NumberColumn}
}

func (t *TableMap) column(is func(Column) bool) string {
	for _, c := range t.Columns {
		if is(c) {
			return c.Name
		}
	}
	return ""
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
		case c.MailboxContext || c.MailboxNumber:
			seen["mailbox"] = true
		case c.Field != "" && !c.outOnly():
			seen[c.Field] = true
		}
	}
	if len(t.Protocols) > 0 && t.Primary {
		seen["protocol"] = true
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
		if !has(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// owns reports whether the table sets pbx field f.
func (t *TableMap) owns(f string) bool {
	_, ok := t.ownedIndexes()[f]
	return ok
}

func (t *TableMap) ownedIndexes() map[string]int {
	if t.ownedIndex != nil {
		return t.ownedIndex
	}
	return indexOf(t.Owned())
}

func indexOf(list []string) map[string]int {
	m := make(map[string]int, len(list))
	for i, s := range list {
		m[s] = i
	}
	return m
}

func (t *TableMap) check() error {
	t.owned, t.mapped, t.ownedIndex = nil, nil, nil
	defer func() {
		t.owned, t.mapped = t.computeOwned(), t.MappedColumns()
		t.ownedIndex = indexOf(t.owned)
	}()
	if t.Store == nil || t.numberField() == "" || (t.NumberColumn == "" && !t.ByMailbox) {
		return fmt.Errorf("mapping of %s: no store table or number column", t.Name)
	}
	if t.ByMailbox && (t.Primary || t.ClusterColumn != "" || len(t.KeyColumns()[0]) == 0 || len(t.KeyColumns()[1]) == 0) {
		return fmt.Errorf("mapping of %s: a mailbox table needs a context and a number column and is not primary", t.Name)
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if seen[c.Name] || c.Name == t.NumberColumn || c.Name == t.ClusterColumn {
			return fmt.Errorf("mapping of %s: column %s mapped twice", t.Name, c.Name)
		}
		seen[c.Name] = true
		if c.Field == "" && !c.outOnly() && !c.MailboxContext && !c.MailboxNumber {
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
func rowKey(t *TableMap, row Row) string {
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

// boxOf returns the voicemail box a mailbox field names: "6109@sales",
// "6109" in context default.
func boxOf(mailbox string) string {
	n, ctx, _ := strings.Cut(strings.TrimSpace(mailbox), "@")
	if ctx == "" {
		ctx = "default"
	}
	return n + "@" + ctx
}

// rowBox returns the box a voicemail row holds.
func (t *TableMap) rowBox(row Row) (string, error) {
	k := t.KeyColumns()
	ctx, n := strings.TrimSpace(str(row[k[0]])), strings.TrimSpace(str(row[k[1]]))
	if n == "" {
		return "", fmt.Errorf("%s: column %s is empty: %w a row without a mailbox", rowKey(t, row), k[1], ErrUnmappable)
	}
	if ctx == "" {
		ctx = "default"
	}
	return n + "@" + ctx, nil
}

// Finder finds the records of rows whose table does not name them: the
// extension of a voicemail box, and the extension of a number this
// cluster serves for another one (a standby row). A nil func finds none.
type Finder struct {
	Box    func(box string) string // NUMBER@CONTEXT → record key, "" if none
	Number func(n string) string   // a number → another cluster's record key, "" for this cluster's
}

// RecordKey returns the store key of a row, or an error naming the row.
func (t *TableMap) RecordKey(row Row, cluster string, find Finder) (string, error) {
	if t.ByMailbox {
		box, err := t.rowBox(row)
		if err != nil {
			return "", err
		}
		if find.Box == nil {
			return "", fmt.Errorf("%s: no extension lookup", rowKey(t, row))
		}
		if key := find.Box(box); key != "" {
			return key, nil
		}
		return "", &parkError{column: t.KeyColumns()[1],
			err: fmt.Errorf("%s: no extension of cluster %s has mailbox %s: %w a voicemail box to an extension", rowKey(t, row), cluster, box, ErrUnmappable),
			fix: fmt.Sprintf("set an extension's mailbox to %s (pbxtopo ext set %s/NUMBER mailbox=%s), or delete the row", box, cluster, box)}
	}
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
	if t.ClusterColumn == "" && find.Number != nil {
		if key := find.Number(strings.TrimSpace(*n)); key != "" {
			return key, nil
		}
	}
	return t.Store.KeyOf(pbx.Fields{"cluster": cluster, t.numberField(): strings.TrimSpace(*n)}), nil
}

// protocol returns a record's protocol, its field's default when empty.
func (t *TableMap) protocol(f pbx.Fields) string {
	if p := f["protocol"]; p != "" {
		return p
	}
	if s, ok := t.Store.Spec("protocol"); ok {
		return s.Default
	}
	return ""
}

// ToFields merges a row into base (the record's current fields, or nil)
// and returns the record's new fields: this table's owned fields are
// replaced by the row's values. A column whose value is what base would
// write keeps base's field as it is, so values MySQL stores differently
// (true for yes, 60 for a qualify of yes) never change a record on their
// way back. It does not validate.
func (t *TableMap) ToFields(row Row, key string, base pbx.Fields) (pbx.Fields, error) {
	out := make(pbx.Fields, len(base)+len(row)+2)
	for k, v := range base {
		if !t.owns(k) {
			out[k] = v
		}
	}
	cluster, number, err := t.splitKey(key)
	if err != nil {
		return nil, err
	}
	if t.clusterKey() {
		out["cluster"], out[t.numberField()] = cluster, number
	} else {
		kf, _ := t.Store.ParseKey(key)
		for k, v := range kf {
			out[k] = v
		}
	}
	// The row base would be written as, a column at a time: no map of it.
	image := base != nil && t.Present(base)
	box := ""
	if image {
		box = boxOf(base["mailbox"])
	}
	same := func(c *Column) bool {
		if !image {
			return false
		}
		a, b := t.columnValue(c, base, number, box), row[c.Name]
		return (a == "") == (b == nil) && (a == "" || a == *b)
	}
	var boxNumber, boxContext string
	boxSame := true
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.outOnly() {
			continue
		}
		if c.MailboxNumber || c.MailboxContext {
			boxSame = boxSame && same(c)
			if c.MailboxNumber {
				boxNumber = strings.TrimSpace(str(row[c.Name]))
			} else {
				boxContext = strings.TrimSpace(str(row[c.Name]))
			}
			continue
		}
		if same(c) {
			if v := base[c.Field]; v != "" {
				out[c.Field] = v
			}
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
		if m, ok := c.In[v]; ok {
			v = m
		}
		if c.Read != nil {
			v = c.Read(v)
		}
		if v != "" {
			out[c.Field] = v
		}
	}
	if t.ByMailbox {
		switch {
		case boxSame && base["mailbox"] != "":
			out["mailbox"] = base["mailbox"]
		case boxContext == "" || boxContext == "default":
			out["mailbox"] = boxNumber
		default:
			out["mailbox"] = boxNumber + "@" + boxContext
		}
	}
	if len(t.Protocols) > 0 && t.Primary {
		// A record this table already serves keeps its protocol as it is
		// (empty meaning the default, SIP); a new one gets the first.
		switch {
		case base == nil || !has(t.Protocols, t.protocol(base)):
			out["protocol"] = t.Protocols[0]
		case base["protocol"] != "":
			out["protocol"] = base["protocol"]
		}
	}
	return out, nil
}

// IsImage reports whether row holds, in every column the table reads,
// what the record f would be written as: ToFields then keeps f's own
// fields. It compares column by column, without building either.
func (t *TableMap) IsImage(row Row, key string, f pbx.Fields) bool {
	if !t.Present(f) {
		return false
	}
	_, number, err := t.splitKey(key)
	if err != nil {
		return false
	}
	box := boxOf(f["mailbox"])
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.outOnly() {
			continue
		}
		a, b := t.columnValue(c, f, number, box), row[c.Name]
		if (a == "") != (b == nil) || (a != "" && a != *b) {
			return false
		}
	}
	return true
}

// Present reports whether the record's fields call for a row in this table.
func (t *TableMap) Present(f pbx.Fields) bool {
	if f == nil {
		return false
	}
	if len(t.Protocols) > 0 && !has(t.Protocols, t.protocol(f)) {
		return false
	}
	if len(t.PresentIf) == 0 {
		return true
	}
	for _, p := range t.PresentIf {
		if f[p] != "" {
			return true
		}
	}
	return false
}

// FromFields returns the row values of a record, key columns included:
// column → value; a NULL (an empty field) is left out of the row.
func (t *TableMap) FromFields(key string, f pbx.Fields) (Row, error) {
	cluster, number, err := t.splitKey(key)
	if err != nil {
		return nil, err
	}
	row := make(Row, len(f)+2)
	if !t.ByMailbox {
		row[t.NumberColumn] = strp(number)
	}
	if t.ClusterColumn != "" {
		row[t.ClusterColumn] = strp(cluster)
	}
	box := boxOf(f["mailbox"])
	for i := range t.Columns {
		if v := t.columnValue(&t.Columns[i], f, number, box); v != "" {
			row[t.Columns[i].Name] = strp(v)
		}
	}
	return row, nil
}

// columnValue is what column c of a record's row holds ("" for NULL);
// box is boxOf(f["mailbox"]).
func (t *TableMap) columnValue(c *Column, f pbx.Fields, number, box string) string {
	switch {
	case c.Const != "":
		return substitute(c.Const, number)
	case c.Compute != nil:
		return c.Compute(f, number)
	case c.MailboxContext:
		_, v, _ := strings.Cut(box, "@")
		return v
	case c.MailboxNumber:
		v, _, _ := strings.Cut(box, "@")
		return v
	}
	v := f[c.Field]
	if m, ok := c.Out[v]; ok && v != "" {
		v = m
	}
	if v == "" && c.Default != "" {
		v = substitute(c.Default, number)
	}
	return v
}

func strp(s string) *string { return &s }
