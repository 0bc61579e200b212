package httpapi

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestBackupThroughTheAPI takes a backup through the HTTP API: only the
// admin role may, and the file restores to the same data.
func TestBackupThroughTheAPI(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	for _, c := range []struct {
		role service.Role
		ok   bool
	}{{service.RoleOperator, false}, {service.RoleAdmin, true}} {
		srv := httptest.NewServer(Handler(svc, fixedRole(c.role)))
		cl, _ := NewClient(srv.URL, "")
		var buf bytes.Buffer
		h, err := cl.Backup(ctx, &buf)
		srv.Close()
		if !c.ok {
			if err == nil || !strings.Contains(err.Error(), "admin role") {
				t.Fatalf("backup with the %s role: %v", c.role, err)
			}
			continue
		}
		if err != nil || h.Cluster != "tpa1" {
			t.Fatalf("backup: %+v %v", h, err)
		}
		path := filepath.Join(t.TempDir(), "store.db")
		if _, err := store.RestoreBackup(&buf, path); err != nil {
			t.Fatal(err)
		}
		cfg := store.DefaultConfig(path)
		cfg.ReadOnly = true
		r, err := store.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if !r.Summary().Equal(st.Summary()) {
			t.Fatal("the restored store differs from the one backed up")
		}
	}
}
