package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// conflicted returns the sample service with tpa1/6105 in conflict
// between a version made here (tpa1) and one made at lon, and lon's
// store.
func conflicted(t *testing.T) (*Service, *store.Store, *store.Store) {
	t.Helper()
	svc, st := sampleService(t)
	lon := testutil.Store(t, "lon")
	testutil.PullAll(t, lon, st)
	ctx := WithAuthor(context.Background(), "alice")
	if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "fullcontact": "from tpa1"}, PutOptions{Merge: true}); err != nil {
		t.Fatal(err)
	}
	lonSvc := NewService(lon)
	if _, err := lonSvc.Put(WithAuthor(context.Background(), "bob"), "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "fullcontact": "from lon", "mailbox": "6105", "vmsecret": "804417"}, PutOptions{Merge: true}); err != nil {
		t.Fatal(err)
	}
	testutil.PullAll(t, st, lon)
	if v, err := svc.Get(ctx, "extensions", "tpa1/6105"); err != nil || !v.Conflict {
		t.Fatalf("no conflict to test with: %+v %v", v, err)
	}
	return svc, st, lon
}

// TestWriteToARecordInConflict: tpa1 and lon set fullcontact to two
// values at once (and lon the mailbox too): fullcontact is in conflict,
// the mailbox merged. ext set of fullcontact is refused with the sides and
// the commands that choose one (it used to supersede the winner only,
// leaving a conflict whose two sides were from one cluster); ext set of
// another field goes through and the conflict stays; --take sets fields
// over that cluster's side and resolves.
func TestWriteToARecordInConflict(t *testing.T) {
	svc, _, _ := conflicted(t)
	ctx := context.Background()
	v, _ := svc.Get(ctx, "extensions", "tpa1/6105")
	if v.Fields["mailbox"] != "6105" {
		t.Fatalf("lon's mailbox did not merge: %v", v.Fields)
	}
	_, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "fullcontact": "x"}, PutOptions{Merge: true})
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != 409 || !errors.Is(err, store.ErrConflict) || !strings.Contains(ae.Msg, "fullcontact differs between") ||
		!(strings.Contains(ae.Msg, "--take tpa1|lon") || strings.Contains(ae.Msg, "--take lon|tpa1")) || !strings.Contains(ae.Msg, "by bob") || !strings.Contains(ae.Msg, "ext set tpa1/6105 --take CLUSTER") {
		t.Fatalf("ext set of a field in conflict: %v", err)
	}
	if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "callerid": `"Ken" <6105>`}, PutOptions{Merge: true}); err != nil {
		t.Fatalf("ext set of another field: %v", err)
	}
	if v, _ := svc.Get(ctx, "extensions", "tpa1/6105"); !v.Conflict || v.Fields["callerid"] != `"Ken" <6105>` {
		t.Fatalf("after setting another field: %+v", v)
	}
	if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "callerid": "x"}, PutOptions{Merge: true, Take: "sfo"}); err == nil || !strings.Contains(err.Error(), "the sides are from") {
		t.Fatalf("--take of a cluster with no side: %v", err)
	}
	if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "language": "de"}, PutOptions{Merge: true, Take: "lon"}); err != nil {
		t.Fatal(err)
	}
	v, err = svc.Get(ctx, "extensions", "tpa1/6105")
	if err != nil || v.Conflict || v.Fields["fullcontact"] != "from lon" || v.Fields["language"] != "de" || v.Fields["callerid"] != `"Ken" <6105>` {
		t.Fatalf("after --take lon: %+v %v", v, err)
	}
}

// TestConflictsByEitherKey: a conflict is found by TABLE/KEY and by an
// extension's own key, resolves one field at a time, and a resolution
// that did not see every side is refused rather than superseding the side
// it never showed.
func TestConflictsByEitherKey(t *testing.T) {
	svc, st, lon := conflicted(t)
	ctx := context.Background()
	for _, ref := range []string{"extensions/tpa1/6105", "tpa1/6105"} {
		if cv, err := svc.Conflict(ctx, ref); err != nil || len(cv.Conflicts) != 1 || len(cv.Conflicts[0].Sides) != 2 || cv.Differ[0] != "fullcontact" {
			t.Fatalf("conflicts show %s: %+v %v", ref, cv, err)
		}
	}
	cv, _ := svc.Conflict(ctx, "tpa1/6105")
	// lon, not yet aware of the conflict, changes its side after the
	// admin looked here.
	lonSvc := NewService(lon)
	if _, err := lonSvc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "fullcontact": "from lon, again"}, PutOptions{Merge: true}); err != nil {
		t.Fatal(err)
	}
	testutil.PullAll(t, st, lon)
	ifMatch, _ := store.ParseDots(cv.Version)
	m := store.Mutation{Table: "extensions", Key: "tpa1/6105", Patch: pbx.Fields{"fullcontact": "x"}, Resolve: []string{"fullcontact"}, SupersedeAll: true, IfMatch: ifMatch}
	if _, err := st.Write(ctx, "t", []store.Mutation{m}); !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("a resolution blind to the new side: %v", err)
	}
	if _, err := svc.Resolve(ctx, "tpa1/6105", ResolveRequest{Field: "fullcontact", Value: pbx.Fields{"fullcontact": "Ken Thomas"}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := svc.Get(ctx, "extensions", "tpa1/6105"); v.Conflict || v.Fields["fullcontact"] != "Ken Thomas" {
		t.Fatalf("after resolving the field: %+v", v)
	}
}
