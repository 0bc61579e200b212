package service

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// BenchmarkIndexSize builds the extension index over n extensions shaped
// as the scale suite's (PBXTOPO_INDEX_BENCH_N, default 200,000) and
// reports its size (index-MB, what its slices hold), with the time a
// rebuild takes.
func BenchmarkIndexSize(b *testing.B) {
	n := 200_000
	if s := os.Getenv("PBXTOPO_INDEX_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	st := testutil.Store(b, "c00")
	groups := []string{"USSales", "UKSales", "EUSales", "IT", "HR", "Accounts", "TechSupport", "Development", "Training", "hotdesk"}
	for lo := 0; lo < n; lo += 5000 {
		var muts []store.Mutation
		for i := lo; i < min(lo+5000, n); i++ {
			num := fmt.Sprint(100000 + i)
			c := fmt.Sprintf("c%02d", i%10)
			f := pbx.Fields{"cluster": c, "regexten": num, "astgroup": groups[i%len(groups)], "name": "User " + num,
				"callerid": "User " + num + " <" + num + ">", "mailbox": num, "secret": "s3cr" + num, "type": "friend", "host": "dynamic"}
			muts = append(muts, store.Mutation{Table: "extensions", Key: c + "/" + num, Value: f.AppendBinary(nil)})
		}
		if _, err := st.Write(context.Background(), "bench", muts); err != nil {
			b.Fatal(err)
		}
	}
	var x extIndex
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := x.rebuild(st); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(x.base.size())/1e6, "index-MB")
	b.ReportMetric(float64(x.base.n), "rows")
}
