package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// ConflictView shows a record in conflict: per field (or group of fields
// that change together) the sides that set it to different values, or,
// for a record-level conflict, the record deleted on one side and changed
// on the other.
type ConflictView struct {
	Ref     string `json:"ref"`
	Table   string `json:"table"`
	Key     string `json:"key"`
	Version string `json:"version"` // the record's version: its live dots
	// Conflicts lists what is in conflict, a record-level one first.
	Conflicts []FieldConflictView `json:"conflicts"`
	// Differ names the fields in conflict ("(deleted on one side)" for a
	// record-level conflict).
	Differ []string `json:"fields_differ"`
	// Fields is the record as it shows meanwhile: the winner of each
	// conflict, every other field merged.
	Fields pbx.Fields `json:"fields,omitempty"`
}

// FieldConflictView is one unit in conflict.
type FieldConflictView struct {
	// Fields are the unit's fields; empty for the whole record.
	Fields []string `json:"fields,omitempty"`
	// Record is set for a record-level conflict, with why.
	Record bool       `json:"record,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Sides  []SideView `json:"sides"` // the winner first
}

// SideView is one side of a conflict.
type SideView struct {
	Cluster string     `json:"cluster"`
	Version string     `json:"version"`
	Time    time.Time  `json:"time"`
	Author  string     `json:"author"`
	Deleted bool       `json:"deleted,omitempty"`
	Fields  pbx.Fields `json:"fields,omitempty"` // the unit's values on this side
}

func conflictView(r *store.Record) ConflictView {
	f, _ := r.Fields()
	cv := ConflictView{Ref: r.Table + "/" + r.Key, Table: r.Table, Key: r.Key, Version: store.FormatDots(r.Dots()), Fields: f}
	record, reason := r.RecordConflict()
	for _, c := range r.Conflicts() {
		fc := FieldConflictView{Fields: c.Fields}
		if c.Unit == pbx.WholeRecord {
			fc.Record, fc.Reason = record, reason
		}
		for _, s := range c.Sides {
			fc.Sides = append(fc.Sides, SideView{Cluster: s.Dot.Stream.Cluster(), Version: s.Dot.String(), Time: s.HLC.Time(),
				Author: s.Author, Deleted: s.Deleted, Fields: s.Fields})
		}
		switch {
		case fc.Record && slices.ContainsFunc(fc.Sides, func(s SideView) bool { return s.Deleted }):
			cv.Differ = append(cv.Differ, "(deleted on one side)")
		case c.Unit == pbx.WholeRecord:
			cv.Differ = append(cv.Differ, differingFields(fc.Sides)...)
		default:
			cv.Differ = append(cv.Differ, c.Fields...)
		}
		cv.Conflicts = append(cv.Conflicts, fc)
	}
	sort.Strings(cv.Differ)
	cv.Differ = slices.Compact(cv.Differ)
	return cv
}

// differingFields names the fields whose values differ between sides.
func differingFields(sides []SideView) []string {
	var out []string
	names := map[string]bool{}
	for _, s := range sides {
		for k := range s.Fields {
			names[k] = true
		}
	}
	for k := range names {
		for _, s := range sides[1:] {
			if s.Fields[k] != sides[0].Fields[k] {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// Conflicts lists every record in conflict.
func (s *Service) Conflicts(ctx context.Context) ([]ConflictView, error) {
	out := []ConflictView{}
	err := s.st.View(func(sn *store.Snapshot) error {
		return sn.Conflicts(func(r *store.Record) error {
			out = append(out, conflictView(r))
			return nil
		})
	})
	return out, UserError(err)
}

// splitRef splits a conflict's reference, TABLE/KEY. A reference that
// does not start with a table is an extension's key (tpa1/6105), so the
// key list and history name a conflict the same way.
func splitRef(ref string) (string, string, error) {
	t, k, ok := strings.Cut(ref, "/")
	if !ok || k == "" {
		return "", "", &Error{Code: 400, Msg: fmt.Sprintf("%q: want TABLE/KEY, e.g. extensions/sfo/5020 (or CLUSTER/EXT for an extension)", ref)}
	}
	if _, err := pbx.LookupTable(t); err != nil && !replicator.IsReplicatorTable(t) {
		return pbx.Extensions.Name, ref, nil
	}
	return t, k, nil
}

// Conflict shows one conflict.
func (s *Service) Conflict(ctx context.Context, ref string) (*ConflictView, error) {
	table, key, err := splitRef(ref)
	if err != nil {
		return nil, err
	}
	var cv *ConflictView
	err = s.st.View(func(sn *store.Snapshot) error {
		r, err := sn.Get(table, key)
		if err != nil {
			return err
		}
		if r == nil || !r.Conflict() {
			return &Error{Code: 404, Msg: fmt.Sprintf("%s is not in conflict (see 'pbxtopo conflicts list')", ref), Err: store.ErrNotFound}
		}
		v := conflictView(r)
		cv = &v
		return nil
	})
	return cv, UserError(err)
}

// ResolveRequest picks, for the conflicts of a record (or one field of
// it), the side made at cluster Take, or gives a new value.
type ResolveRequest struct {
	Take  string     `json:"take,omitempty"`
	Value pbx.Fields `json:"value,omitempty"`
	// Field, when set, resolves only the conflict of that field (and the
	// fields that change with it); the record's other conflicts stay.
	Field string `json:"field,omitempty"`
}

// Resolve writes the chosen values over exactly the sides shown: a side
// that arrived meanwhile fails the write (show the conflict again)
// instead of being superseded unseen. The record is resolved once none
// of its conflicts is left.
func (s *Service) Resolve(ctx context.Context, ref string, req ResolveRequest) (*WriteReply, error) {
	if (req.Take == "") == (req.Value == nil) {
		return nil, &Error{Code: 400, Msg: "give either --take CLUSTER (keep that cluster's side) or --value (a new value)"}
	}
	table, key, err := splitRef(ref)
	if err != nil {
		return nil, err
	}
	var m store.Mutation
	err = s.st.View(func(sn *store.Snapshot) error {
		r, err := sn.Get(table, key)
		if err != nil {
			return err
		}
		if r == nil || !r.Conflict() {
			return &Error{Code: 404, Msg: fmt.Sprintf("%s is not in conflict (see 'pbxtopo conflicts list')", ref), Err: store.ErrNotFound}
		}
		m, err = resolution(r, req)
		return err
	})
	if err != nil {
		return nil, UserError(err)
	}
	return s.write(ctx, []store.Mutation{m})
}

// resolution is the write that resolves r's conflicts (or one) as req
// says.
func resolution(r *store.Record, req ResolveRequest) (store.Mutation, error) {
	ref := r.Table + "/" + r.Key
	m := store.Mutation{Table: r.Table, Key: r.Key, IfMatch: r.Dots()}
	conflicts := r.Conflicts()
	if req.Field != "" {
		unit := pbx.MergeUnit(r.Table, req.Field)
		i := slices.IndexFunc(conflicts, func(c store.FieldConflict) bool { return c.Unit == unit })
		if i < 0 {
			return m, &Error{Code: 400, Msg: fmt.Sprintf("%s: field %s is not in conflict; the fields in conflict: %s", ref, req.Field, strings.Join(conflictFields(conflicts), ", "))}
		}
		conflicts = conflicts[i : i+1]
	}
	if record, _ := r.RecordConflict(); record && (req.Field == "" || conflicts[0].Unit == pbx.WholeRecord) {
		// The whole record: the side taken, deleted or not, or the value.
		m.SupersedeAll = true
		if req.Value != nil {
			m.Value = req.Value.AppendBinary(nil)
			return m, nil
		}
		side, err := sideOf(conflicts[0], req.Take, ref)
		if err != nil {
			return m, err
		}
		if !side.Deleted {
			f, _ := r.Fields()
			m.Value = mergeUnit(f, side.Fields, nil).AppendBinary(nil)
		}
		return m, nil
	}
	patch := pbx.Fields{}
	shown, _ := r.Fields()
	for _, c := range conflicts {
		values := mergeUnit(shown, req.Value, nil) // fields of the unit the value leaves out keep what shows
		if req.Take != "" {
			side, err := sideOf(c, req.Take, ref)
			if err != nil {
				return m, err
			}
			values = side.Fields
		}
		fields := c.Fields
		if fields == nil { // a whole-record table
			fields = differingSides(c)
		}
		for _, f := range fields {
			patch[f] = values[f]
		}
		m.Resolve = append(m.Resolve, c.Unit)
	}
	m.Patch = patch
	return m, nil
}

// sideOf returns the side of c made at cluster take.
func sideOf(c store.FieldConflict, take, ref string) (store.Side, error) {
	var clusters []string
	for _, s := range c.Sides {
		if s.Dot.Stream.Cluster() == take {
			return s, nil // sides are in winner order: the first counts
		}
		clusters = append(clusters, s.Dot.Stream.Cluster())
	}
	return store.Side{}, &Error{Code: 400, Msg: fmt.Sprintf("no side of %s was made at %s; the sides are from %s", ref, take, strings.Join(clusters, ", "))}
}

// differingSides names every field any side of a whole-record conflict
// holds.
func differingSides(c store.FieldConflict) []string {
	var out []string
	for _, s := range c.Sides {
		for k := range s.Fields {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// mergeUnit returns f with the fields of values set (a nil fields list:
// all of values' fields).
func mergeUnit(f, values pbx.Fields, fields []string) pbx.Fields {
	out := f.Clone()
	if fields == nil {
		for k, v := range values {
			out[k] = v
		}
		return out
	}
	for _, k := range fields {
		out[k] = values[k]
	}
	return out
}

func conflictFields(cs []store.FieldConflict) []string {
	var out []string
	for _, c := range cs {
		if c.Unit == pbx.WholeRecord {
			out = append(out, "the whole record")
		} else {
			out = append(out, strings.Join(c.Fields, "+"))
		}
	}
	return out
}

// takeSides makes a patch of a record in conflict (ext set --take
// CLUSTER) take that cluster's side of every conflict, plus the patch's
// own fields, and resolve them.
func (s *Service) takeSides(t *pbx.Table, m store.Mutation, take string) (store.Mutation, error) {
	err := s.st.View(func(sn *store.Snapshot) error {
		r, err := sn.Get(t.Name, m.Key)
		if err != nil {
			return err
		}
		if r == nil || !r.Conflict() {
			return &Error{Code: 409, Msg: fmt.Sprintf("%s %s is not in conflict: write it without --take", t.Noun, m.Key)}
		}
		res, err := resolution(r, ResolveRequest{Take: take})
		if err != nil {
			return err
		}
		if res.Patch == nil {
			return &Error{Code: 409, Msg: fmt.Sprintf("%s %s was deleted on one side and changed on the other: resolve it with 'pbxtopo conflicts resolve %s/%s --take CLUSTER' first", t.Noun, m.Key, t.Name, m.Key)}
		}
		for k, v := range m.Patch {
			res.Patch[k] = v
		}
		m.Patch, m.Resolve, m.IfMatch = res.Patch, res.Resolve, res.IfMatch
		return nil
	})
	return m, UserError(err)
}

// conflictError turns the store's refusal of a write to a field (or a
// record) in conflict into the choices an operator has.
func conflictError(err error) error {
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		return &Error{Code: 409, Msg: err.Error(), Err: err}
	}
	noun := ce.Table
	if t, err := pbx.LookupTable(ce.Table); err == nil {
		noun = t.Noun
	}
	var parts, clusters []string
	for _, c := range ce.Conflicts {
		what := "the record"
		if c.Unit != pbx.WholeRecord {
			what = strings.Join(c.Fields, "+")
		}
		var sides []string
		for _, sd := range c.Sides {
			side := fmt.Sprintf("%s (%s by %s", sd.Dot.Stream.Cluster(), sd.Dot, sd.Author)
			if sd.Deleted {
				side += ", deleted"
			}
			sides = append(sides, side+")")
			if !slices.Contains(clusters, sd.Dot.Stream.Cluster()) {
				clusters = append(clusters, sd.Dot.Stream.Cluster())
			}
		}
		parts = append(parts, fmt.Sprintf("%s differs between %s", what, strings.Join(sides, " and ")))
	}
	msg := fmt.Sprintf("%s %s is in conflict: %s; choose a side with 'pbxtopo conflicts resolve %s/%s --take %s' (or --value FILE, or --field F for one field)",
		noun, ce.Key, strings.Join(parts, "; "), ce.Table, ce.Key, strings.Join(clusters, "|"))
	if ce.Table == pbx.Extensions.Name {
		msg += fmt.Sprintf(", or set fields over one side with 'pbxtopo ext set %s --take CLUSTER FIELD=VALUE...'", ce.Key)
	}
	return &Error{Code: 409, Msg: msg, Err: err}
}
