package bench

import (
	"context"
	"testing"
)

func TestOpsQuick(t *testing.T) {
	rs, err := Ops(context.Background(), Env{Dir: t.TempDir(), Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 || rs[2].Value <= 0 || rs[3].Value <= 0 || rs[4].Value <= 0 {
		t.Fatalf("results %+v", rs)
	}
}
