package httpapi

import (
	"context"
	"io"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// sampleService returns a service over a store seeded with testdata/enterprise.
func sampleService(t testing.TB) (*service.Service, *store.Store) {
	t.Helper()
	st := testutil.Store(t, "tpa1")
	svc := service.NewService(st)
	testutil.SeedEnterprise(t, func(table, source string, r io.Reader) error {
		_, err := svc.Import(context.Background(), service.ImportRequest{Table: table, Source: source}, r)
		return err
	})
	return svc, st
}
