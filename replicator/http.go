package replicator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/store"
)

// Paths of the replication endpoint (served on repl_addr, mutual TLS).
const (
	pathPull     = "/repl/v1/pull"
	pathSnapshot = "/repl/v1/snapshot"
	pathDigests  = "/repl/v1/digests"
)

// Handler returns the replication endpoint of r. Every request must come
// over TLS with a client certificate of the enterprise CA (the server's
// tls.Config enforces it); the certificate's cluster must be the one the
// request claims, and a replica never serves itself.
func (r *Replicator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathPull, func(w http.ResponseWriter, req *http.Request) {
		id, ok := r.peer(w, req)
		if !ok {
			return
		}
		q, err := DecodePullRequest(http.MaxBytesReader(w, req.Body, int64(r.cfg.MaxMessage)), r.cfg.MaxMessage)
		if err == nil && q.From != id.Cluster {
			err = fmt.Errorf("%w: certificate of cluster %s, request from %q", ErrMessage, id.Cluster, q.From)
		}
		if err == nil {
			q.MaxVersion, err = requestVersion(req)
		}
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		resp, err := r.ServePull(req.Context(), q)
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(EncodePullResponse(resp))
	})
	mux.HandleFunc("POST "+pathSnapshot, func(w http.ResponseWriter, req *http.Request) {
		id, ok := r.peer(w, req)
		if !ok {
			return
		}
		q, err := DecodeSnapshotRequest(http.MaxBytesReader(w, req.Body, 1<<20), 1<<20)
		if err == nil && q.From != id.Cluster {
			err = fmt.Errorf("%w: certificate of cluster %s, request from %q", ErrMessage, id.Cluster, q.From)
		}
		var version uint16
		if err == nil {
			if q.MaxVersion, err = requestVersion(req); err == nil {
				version, err = r.negotiate(q.MaxVersion)
			}
		}
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		p, err := r.ServeSnapshot(req.Context(), q)
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		w.Write(EncodeSnapshotPage(p, version))
	})
	mux.HandleFunc("GET "+pathDigests, func(w http.ResponseWriter, req *http.Request) {
		id, ok := r.peer(w, req)
		if !ok {
			return
		}
		d, err := r.ServeDigests(req.Context())
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		w.Write(EncodeDigests(d))
	})
	r.handleStatus(mux)
	return mux
}

// peer returns the verified identity of the caller, or answers 403.
func (r *Replicator) peer(w http.ResponseWriter, req *http.Request) (pki.Identity, bool) {
	id, err := pki.PeerIdentity(req.TLS)
	if err != nil {
		r.log.Warn("replication request refused", "remote", req.RemoteAddr, "err", err)
		http.Error(w, "a client certificate of this enterprise's CA is required", http.StatusForbidden)
		return id, false
	}
	if err := r.CheckCertificate(req.TLS.PeerCertificates[0]); err != nil {
		r.log.Warn("replication request refused", "peer", id.String(), "remote", req.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return id, false
	}
	return id, true
}

// refuse answers a bad request with a status and a message, and logs it.
func (r *Replicator) refuse(w http.ResponseWriter, req *http.Request, id pki.Identity, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMessage), errors.Is(err, ErrVersion):
		status = http.StatusBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, ErrUnread):
		// The peer went away (its link stopped when the topology or the
		// membership changed, or its connection failed): nothing to answer.
		r.log.Debug("replication request abandoned by the peer", "peer", id.String(), "remote", req.RemoteAddr, "path", req.URL.Path, "err", err)
		return
	}
	r.log.Warn("replication request refused", "peer", id.String(), "remote", req.RemoteAddr, "path", req.URL.Path, "err", err)
	http.Error(w, err.Error(), status)
}

// HTTPTransport is the Transport between agents: HTTP/2 over mutual TLS.
type HTTPTransport struct {
	hc         *http.Client
	maxMessage int
	log        *slog.Logger
	checkCert  atomic.Pointer[func(*x509.Certificate) error] // SetCertificateCheck
}

// SetCertificateCheck adds a check of the server's certificate to every
// handshake (the revocation list: Replicator.CheckCertificate).
func (t *HTTPTransport) SetCertificateCheck(check func(*x509.Certificate) error) {
	t.checkCert.Store(&check)
}

var _ Transport = (*HTTPTransport)(nil)

// NewHTTPTransport returns a transport that presents the node's
// certificate and trusts the enterprise CA only. The server's identity is
// checked to be a pbxtopo node.
func NewHTTPTransport(tlsCfg *tls.Config, maxMessage int, log *slog.Logger) *HTTPTransport {
	t := &HTTPTransport{}
	cfg := tlsCfg.Clone()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("peer presented no certificate")
		}
		if _, err := pki.IdentityOf(cs.PeerCertificates[0]); err != nil {
			return err
		}
		if check := t.checkCert.Load(); check != nil {
			return (*check)(cs.PeerCertificates[0])
		}
		return nil
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	if maxMessage == 0 {
		maxMessage = MaxMessage
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t.hc, t.maxMessage, t.log = &http.Client{Transport: tr}, maxMessage, log
	return t
}

// Close drops idle connections.
func (t *HTTPTransport) Close() { t.hc.CloseIdleConnections() }

func (t *HTTPTransport) post(ctx context.Context, url string, body []byte, timeout time.Duration) (io.ReadCloser, error) {
	return t.postHeader(ctx, url, body, nil, timeout)
}

func (t *HTTPTransport) postHeader(ctx context.Context, url string, body []byte, h http.Header, timeout time.Duration) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	method := "POST"
	var rd io.Reader = bytes.NewReader(body)
	if body == nil {
		method, rd = "GET", nil
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("peer answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// Pull implements Transport.
func (t *HTTPTransport) Pull(ctx context.Context, addr string, req *PullRequest) (*PullResponse, error) {
	var h http.Header
	if req.MaxVersion > MinProtocolVersion {
		h = http.Header{VersionHeader: {strconv.Itoa(int(req.MaxVersion))}}
	}
	body, err := t.postHeader(ctx, "https://"+addr+pathPull, EncodePullRequest(req), h, req.Wait+30*time.Second)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return DecodePullResponse(body, t.maxMessage)
}

// Snapshot implements Transport.
func (t *HTTPTransport) Snapshot(ctx context.Context, addr string, req *SnapshotRequest) (*store.SnapshotPage, error) {
	var h http.Header
	if req.MaxVersion > MinProtocolVersion {
		h = http.Header{VersionHeader: {strconv.Itoa(int(req.MaxVersion))}}
	}
	body, err := t.postHeader(ctx, "https://"+addr+pathSnapshot, EncodeSnapshotRequest(req), h, time.Minute)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return DecodeSnapshotPage(body, t.maxMessage)
}

// Digests implements Transport.
func (t *HTTPTransport) Digests(ctx context.Context, addr string) (*DigestResponse, error) {
	body, err := t.post(ctx, "https://"+addr+pathDigests, nil, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return DecodeDigests(body, t.maxMessage)
}
