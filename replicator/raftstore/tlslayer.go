package raftstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/internal/pki"
)

// tlsLayer is the Raft stream layer over mutual TLS: only nodes of this
// cluster (by certificate) may talk Raft with it.
type tlsLayer struct {
	net.Listener
	advertise net.Addr
	cfg       *tls.Config
	cluster   string
}

func newTLSLayer(bind, advertise string, cfg *tls.Config, cluster string) (*tlsLayer, error) {
	if cfg == nil {
		return nil, errors.New("raft needs the node's TLS configuration")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			ln.Close()
			return nil, err
		}
	}
	c := cfg.Clone()
	c.NextProtos = []string{"pbxtopo-raft"}
	check := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no certificate")
		}
		id, err := pki.IdentityOf(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		if id.Cluster != cluster {
			return fmt.Errorf("node %s of cluster %s may not join the Raft group of cluster %s", id.Node, id.Cluster, cluster)
		}
		return nil
	}
	c.VerifyConnection = check
	return &tlsLayer{Listener: tls.NewListener(ln, c), advertise: adv, cfg: c, cluster: cluster}, nil
}

func (l *tlsLayer) Addr() net.Addr { return l.advertise }

func (l *tlsLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(addr), l.cfg)
}
