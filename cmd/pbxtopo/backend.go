package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// storeFile is where an agent's data dir keeps its store.
func storeFile(dataDir string) string { return filepath.Join(dataDir, "store.db") }

// backend opens what the command talks to: a running agent, or the store
// of --data-dir. write says whether the command changes data. The returned
// func releases it.
func (a *app) backend(write bool) (service.API, func(), error) {
	dir := a.v.GetString("data-dir")
	if addr := a.v.GetString("addr"); addr != "" && dir == "" {
		tlsCfg, err := a.clientTLS()
		if err != nil {
			return nil, nil, userError{err}
		}
		c, err := httpapi.NewClientTLS(addr, a.v.GetString("token"), tlsCfg)
		if err != nil {
			return nil, nil, userError{err}
		}
		if a.v.GetBool("fresh") {
			c = c.Fresh()
		}
		return c, func() {}, nil
	}
	if dir == "" {
		return nil, nil, usageErrorf("no agent to talk to: give --addr (a running agent) or --data-dir (a store, offline)")
	}
	st, err := a.openStore(dir, write)
	if err != nil {
		return nil, nil, err
	}
	return service.NewService(st), func() { st.Close() }, nil
}

// openStore opens an offline store. DESIGN.md §11: offline tools may write
// only to a store no agent has run on yet (seeding before the first
// start); otherwise they read.
func (a *app) openStore(dir string, write bool) (*store.Store, error) {
	path := storeFile(dir)
	cfg := store.DefaultConfig(path)
	cfg.Replica = a.v.GetString("replica")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if !write {
			return nil, usageErrorf("no store in %s: import data first (pbxtopo import --data-dir %s --replica CLUSTER FILE)", dir, dir)
		}
		if cfg.Replica == "" {
			return nil, usageErrorf("%s holds no store yet: say which cluster it belongs to with --replica CLUSTER", dir)
		}
	}
	cfg.ReadOnly = !write
	if err := a.storeSealer(&cfg); err != nil {
		return nil, err
	}
	st, err := store.Open(cfg)
	if err != nil {
		return nil, userError{err}
	}
	if write && st.AgentHasRun() {
		st.Close()
		return nil, usageErrorf("an agent has run on %s, so it owns the store's writes: change data through it (pbxtopo --addr ADDR ...); --data-dir may only read", dir)
	}
	return st, nil
}

func notTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return true
	}
	fi, err := file.Stat()
	return err != nil || fi.Mode()&os.ModeCharDevice == 0
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// backendAs opens the backend (backend) as one of its features: the local
// service and the HTTP client implement them all.
func backendAs[T any](a *app, write bool) (T, func(), error) {
	var zero T
	api, done, err := a.backend(write)
	if err != nil {
		return zero, nil, err
	}
	f, ok := api.(T)
	if !ok {
		done()
		return zero, nil, fmt.Errorf("internal: backend %T lacks %T", api, zero)
	}
	return f, done, nil
}

// clientTLS is the TLS configuration for an https:// agent: --ca to trust,
// --cert and --key to present when the agent requires client certificates.
func (a *app) clientTLS() (*tls.Config, error) {
	ca, cert, key := a.v.GetString("ca"), a.v.GetString("cert"), a.v.GetString("key")
	if ca == "" && cert == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", ca)
		}
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
