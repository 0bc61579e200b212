package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/cobra"
)

// versionString and commitString are set at build time by the Makefile
// (-ldflags "-X main.versionString=... -X main.commitString=..."); a
// plain go build takes the commit from the build's VCS stamp.
var versionString, commitString = "", ""

// buildInfo is what `pbxtopo version` prints: what an operator needs to
// tell two agents apart when they disagree.
type buildInfo struct {
	Version     string `json:"version"`
	Commit      string `json:"commit"`
	Modified    bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go          string `json:"go"`
	Protocol    uint16 `json:"replication_protocol"`
	MinProtocol uint16 `json:"replication_protocol_min"`
	Schema      int    `json:"store_schema"`
}

func version() buildInfo {
	b := buildInfo{Version: versionString, Commit: "unknown", Go: runtime.Version(),
		Protocol: replicator.ProtocolVersion, MinProtocol: replicator.MinProtocolVersion, Schema: store.SchemaVersion}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
	}
	if commitString != "" {
		b.Commit = commitString
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

func (b buildInfo) String() string {
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("pbxtopo %s\ncommit %s\ngo %s\nreplication protocol %d (speaks %d to %d)\nstore schema %d",
		b.Version, commit, b.Go, b.Protocol, b.MinProtocol, b.Protocol, b.Schema)
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version, replication protocol and store schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := version()
			return a.print(result{JSON: b, Table: func(w io.Writer) error {
				_, err := fmt.Fprintln(w, b)
				return err
			}})
		},
	}
}
