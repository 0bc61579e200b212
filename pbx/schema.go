package pbx

import (
	"fmt"
	"sort"
	"strings"
)

// Kind says how a field's value is checked.
type Kind int

const (
	Text       Kind = iota // any printable text
	Ident                  // a name: letters, digits, '_', '-', '.'
	Label                  // a cluster or site name: a DNS label (a-z, 0-9, '-')
	IdentList              // names separated by commas
	DialString             // an extension number: digits, '*', '#', '+'
	Integer                // a decimal integer
	YesNo                  // yes or no
	Enum                   // one of FieldSpec.Enum
	IP                     // an IPv4 or IPv6 address
	IPList                 // addresses separated by commas
	Host                   // a host name or address, or "dynamic"
	Port                   // 1..65535
	Networks               // networks separated by commas (or '&', ';', spaces)
	CallerID               // "Name <number>", a bare name or a bare number
	Mailbox                // box[@context], several separated by commas
	CallGroups             // numbers 0..63, lists and ranges ("1,3-5")
	Codecs                 // codec names separated by commas or '&'
	MAC                    // a MAC address
	Time                   // HH:MM or HH:MM:SS
	Weekday                // mon..sun or *
	DayMonth               // MM/DD or *
	Qualify                // yes, no or a number of milliseconds
	TimeZone               // an IANA time zone name (America/New_York)
)

// FieldSpec describes one column of a table.
type FieldSpec struct {
	Name     string   // column name, lower case (the guide's field name)
	SQL      string   // the guide's MySQL type, for documentation and the bridge
	Max      int      // maximum length in characters; 0 means unlimited (text)
	Kind     Kind     // how the value is checked
	Enum     []string // allowed values for Enum (compared case-insensitively)
	Required bool     // must be non-empty
	Secret   bool     // never printed to the read role, in logs or in findings
	Status   bool     // observed from Asterisk, not configured: lives in the status table
	Default  string   // what an empty value means
	Note     string   // the guide's note
}

// Table describes one table of the model.
type Table struct {
	Name   string      // "extensions"
	Noun   string      // "extension", used in messages
	Key    []string    // the fields that form the record key, joined with '/'
	Fields []FieldSpec // in column order

	index map[string]int
}

// Spec returns the spec of the named field.
func (t *Table) Spec(name string) (FieldSpec, bool) {
	i, ok := t.index[name]
	if !ok {
		return FieldSpec{}, false
	}
	return t.Fields[i], true
}

// Columns returns the column names in order.
func (t *Table) Columns() []string {
	cols := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = f.Name
	}
	return cols
}

// ConfigColumns returns the columns that are configuration, not status.
func (t *Table) ConfigColumns() []string {
	var cols []string
	for _, f := range t.Fields {
		if !f.Status {
			cols = append(cols, f.Name)
		}
	}
	return cols
}

// StatusFields returns the columns that are status (observed from
// Asterisk, not configuration).
func (t *Table) StatusFields() []string {
	var cols []string
	for _, f := range t.Fields {
		if f.Status {
			cols = append(cols, f.Name)
		}
	}
	return cols
}

// SecretFields returns the names of the table's secret fields, those
// Redact hides.
func (t *Table) SecretFields() []string {
	var names []string
	for _, f := range t.Fields {
		if f.Secret {
			names = append(names, f.Name)
		}
	}
	return names
}

// Key returns the record key of f: its key fields joined with '/'.
func (t *Table) KeyOf(f Fields) string {
	if len(t.Key) == 1 {
		return f[t.Key[0]]
	}
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = f[k]
	}
	return strings.Join(parts, "/")
}

// ParseKey splits a record key into its key fields. It returns an error
// naming the expected form when the key has the wrong number of parts.
func (t *Table) ParseKey(key string) (Fields, error) {
	parts := strings.Split(key, "/")
	if len(parts) != len(t.Key) || key == "" {
		return nil, fmt.Errorf("%s key %q: want %s", t.Noun, key, strings.ToUpper(strings.Join(t.Key, "/")))
	}
	f := Fields{}
	for i, k := range t.Key {
		if parts[i] == "" {
			return nil, fmt.Errorf("%s key %q: %s is empty", t.Noun, key, k)
		}
		f[k] = parts[i]
	}
	return f, nil
}

// SplitStatus separates f into its configuration and status fields. The
// store keeps only configuration in a record; status is observed from
// Asterisk and lives apart.
func (t *Table) SplitStatus(f Fields) (config, status Fields) {
	config = Fields{}
	for k, v := range f {
		if s, ok := t.Spec(k); ok && s.Status {
			if v != "" {
				if status == nil {
					status = Fields{}
				}
				status[k] = v
			}
			continue
		}
		config[k] = v
	}
	return config, status
}

// Redact returns a copy of f with every secret field that has a value
// replaced by "********", for readers that may not see secrets.
func (t *Table) Redact(f Fields) Fields {
	c := f.Clone()
	for _, s := range t.Fields {
		if s.Secret && c[s.Name] != "" {
			c[s.Name] = Redacted
		}
	}
	return c
}

// Redacted stands in for a secret that the reader may not see.
const Redacted = "********"

var tables = map[string]*Table{}

// Tables returns every table of the model, by name.
func Tables() []*Table {
	out := make([]*Table, 0, len(tables))
	for _, t := range tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TableNames returns the names of the tables an admin imports and exports,
// in the order an enterprise is best imported (referenced tables first).
func TableNames() []string {
	return []string{"sites", "clusters", "acls", "groups", "trunks", "hours", "extensions", "hotdesks"}
}

// LookupTable returns the named table, or an error that lists the valid names.
func LookupTable(name string) (*Table, error) {
	if t, ok := tables[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown table %q: use one of %s", name, strings.Join(TableNames(), ", "))
}

func register(t *Table) *Table {
	t.index = make(map[string]int, len(t.Fields))
	for i, f := range t.Fields {
		if _, dup := t.index[f.Name]; dup {
			panic("pbx: duplicate field " + t.Name + "." + f.Name)
		}
		t.index[f.Name] = i
	}
	for _, k := range t.Key {
		if _, ok := t.index[k]; !ok {
			panic("pbx: key field " + k + " missing from " + t.Name)
		}
	}
	tables[t.Name] = t
	return t
}
