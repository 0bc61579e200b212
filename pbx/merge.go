package pbx

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// WholeRecord is the merge unit of a table merged as a whole record.
const WholeRecord = "*"

// mergeUnits lists, per table, the fields that change together: a change
// that sets one of them sets them all, and a conflict is of the whole
// unit (named by its first field). A table listed with WholeRecord is
// merged as one unit: its rules span the record. Tables the model does
// not know (the replicator's topology, watermarks, revocations) are
// whole-record too.
var mergeUnits = map[string][][]string{
	"extensions": {{"mailbox", "vmsecret"}, {"secret", "md5secret", "authuser"}, {"cluster", "site"}},
	"trunks":     {{"secret", "md5secret", "authuser"}, {"host", "port"}, {"cluster", "site"}},
	"hours":      {{"start_time", "end_time", "start_day", "end_day", "start_date", "end_date", "timezone"}, {"cluster", "site"}},
	"hotdesks":   {{"cluster", "site"}},
	"clusters":   {{WholeRecord}},
	"sites":      {{WholeRecord}},
	"acks":       {{WholeRecord}},
}

var unitOf = func() map[string]map[string]string {
	m := map[string]map[string]string{}
	for table, units := range mergeUnits {
		m[table] = map[string]string{}
		for _, u := range units {
			for _, f := range u {
				m[table][f] = u[0]
			}
		}
	}
	return m
}()

// MergeUnit returns the unit of field-level merge that field belongs to in
// table: the field itself, the first field of its group, or WholeRecord.
func MergeUnit(table, field string) string {
	if _, ok := tables[table]; !ok {
		return WholeRecord
	}
	units := unitOf[table]
	if units[WholeRecord] == WholeRecord {
		return WholeRecord
	}
	if u, ok := units[field]; ok {
		return u
	}
	return field
}

// UnitFields returns the fields of a merge unit (one field, a group, or
// nil for WholeRecord: every field).
func UnitFields(table, unit string) []string {
	if unit == WholeRecord {
		return nil
	}
	for _, u := range mergeUnits[table] {
		if u[0] == unit {
			return u
		}
	}
	return []string{unit}
}

// AppendNames appends a set of field names in the compact form of the
// record codec: a known name is its dictionary number, another its text.
func AppendNames(b []byte, names []string) []byte {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	b = binary.AppendUvarint(b, uint64(len(sorted)))
	for _, k := range sorted {
		b = appendName(b, k)
	}
	return b
}

// DecodeNames parses names made by AppendNames; it returns them and the
// rest of b. Any input gives names or an error, never a panic.
func DecodeNames(b []byte) ([]string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("field names: bad count")
	}
	b = b[k:]
	out := make([]string, 0, n)
	for i := uint64(0); i < n; i++ {
		code, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, nil, fmt.Errorf("field names: truncated")
		}
		b = b[k:]
		if code == 0 {
			l, k := binary.Uvarint(b)
			if k <= 0 || l == 0 || l > uint64(len(b)-k) || l > 256 {
				return nil, nil, fmt.Errorf("field names: bad name")
			}
			out = append(out, string(b[k:k+int(l)]))
			b = b[k+int(l):]
			continue
		}
		out = append(out, dictName(code))
	}
	return out, b, nil
}
