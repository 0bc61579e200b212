package agent

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/viper"
)

// Config is the agent's configuration: one YAML file, PBXTOPO_* environment
// variables and flags, merged by viper. Every key is documented in the
// docs/configuration.md and in deploy/pbxtopo.yaml.
type Config struct {
	Node     string   `mapstructure:"node"`
	Cluster  string   `mapstructure:"cluster"`
	Site     string   `mapstructure:"site"`
	Role     string   `mapstructure:"role"` // voice or witness
	DataDir  string   `mapstructure:"data_dir"`
	HTTPAddr string   `mapstructure:"http_addr"`
	ReplAddr string   `mapstructure:"repl_addr"`
	SerfAddr string   `mapstructure:"serf_addr"`
	RaftAddr string   `mapstructure:"raft_addr"`
	DNSAddr  string   `mapstructure:"dns_addr"`
	Join     []string `mapstructure:"join"`
	Tokens   string   `mapstructure:"tokens"`

	Replication ReplicationConfig `mapstructure:"replication"`

	// Store is the local store's limits (disk and retention).
	Store StoreConfig `mapstructure:"store"`

	// DNS is the DNS SRV server's settings (package srv documents each).
	DNS srv.Config `mapstructure:"dns"`

	TLS TLSConfig `mapstructure:"tls"`

	// HTTP are the API's plain-HTTP settings: Insecure allows plain HTTP
	// on an address other than loopback (tokens and secrets then cross
	// the network in clear; for a lab, never for production).
	HTTP HTTPConfig `mapstructure:"http"`

	// HTTPTLS serves the API over TLS; with ClientCA it also requires a
	// client certificate signed by that CA.
	HTTPTLS HTTPTLSConfig `mapstructure:"http_tls"`

	Gossip GossipConfig `mapstructure:"gossip"`

	Raft RaftConfig `mapstructure:"raft"`

	// The optional parts (components.go): each runs when its first key
	// is set.
	AMI   AMIConfig   `mapstructure:"ami"`   // ami.user
	Dundi DUNDiConfig `mapstructure:"dundi"` // dundi.eid (the peer), dundi.dir (publishing)
	MySQL MySQLConfig `mapstructure:"mysql"` // mysql.dsn

	// Secrets is the key that seals secrets at rest (package secrets):
	// a key file, or the key itself (PBXTOPO_SECRETS_KEY; not in a file).
	Secrets SecretsConfig `mapstructure:"secrets"`

	Log LogConfig `mapstructure:"log"`

	// MemoryLimitMB is the Go runtime's soft memory limit (memory.go).
	MemoryLimitMB int `mapstructure:"memory_limit_mb"`
}

// ReplicationConfig is the replication.* keys: the topology the configuration seeds and the replicator's timing (package replicator documents each).
type ReplicationConfig struct {
	Mode             string        `mapstructure:"mode"`
	Order            []string      `mapstructure:"order"`
	Primary          string        `mapstructure:"primary"`
	SiteTables       []string      `mapstructure:"site_tables"`
	PullWait         time.Duration `mapstructure:"pull_wait"`
	AntiEntropy      time.Duration `mapstructure:"anti_entropy"`
	Watermark        time.Duration `mapstructure:"watermark"`
	HistoryRetention time.Duration `mapstructure:"history_retention"`
	StatusInterval   time.Duration `mapstructure:"status_interval"`
}

// StoreConfig is the store.* keys: the local store's limits (disk and retention).
type StoreConfig struct {
	MaxLogEntries int           `mapstructure:"max_log_entries"` // cap of the change log
	MinFreeMB     int           `mapstructure:"min_free_mb"`     // below this the store turns read-only
	DiskProbe     time.Duration `mapstructure:"disk_probe"`      // how often free space is checked
}

// TLSConfig is the tls.* keys: the enterprise CA and this node's certificate and key (replication, Raft and membership use mutual TLS).
type TLSConfig struct {
	CA   string `mapstructure:"ca"`
	Cert string `mapstructure:"cert"`
	Key  string `mapstructure:"key"`
}

// HTTPConfig is the http.* keys: the API's plain-HTTP settings.
type HTTPConfig struct {
	Insecure bool `mapstructure:"insecure"`
	// Shed: max_inflight and queue_wait (httpapi/shed.go).
	Shed httpapi.ShedConfig `mapstructure:",squash"`
}

// HTTPTLSConfig is the http_tls.* keys: the API over TLS.
type HTTPTLSConfig struct {
	Cert     string `mapstructure:"cert"`
	Key      string `mapstructure:"key"`
	ClientCA string `mapstructure:"client_ca"`
}

// GossipConfig is the gossip.* keys: Serf membership.
type GossipConfig struct {
	Key string `mapstructure:"key"`
	// Insecure lets the agent gossip in clear when it has no key (a
	// demo or a test bench); otherwise no key is a startup error.
	Insecure      bool          `mapstructure:"insecure"`
	ProbeInterval time.Duration `mapstructure:"probe_interval"`
	SuspicionMult int           `mapstructure:"suspicion_mult"`
	// RestartGrace is how long a node that stopped cleanly still counts
	// as up for DNS and DUNDi: a restart is not a departure.
	RestartGrace time.Duration `mapstructure:"restart_grace"`
}

// RaftConfig is the raft.* keys: consensus inside the cluster.
type RaftConfig struct {
	// Expect is how many voters a new cluster waits for before it
	// bootstraps (1: a node alone bootstraps itself).
	Expect           int           `mapstructure:"expect"`
	HeartbeatTimeout time.Duration `mapstructure:"heartbeat_timeout"`
	// StartTimeout: how long a starting node waits to catch up with
	// its cluster's log before it serves its own copy anyway.
	StartTimeout time.Duration `mapstructure:"start_timeout"`
	// SnapshotThreshold and TrailingLogs: how many log entries make
	// a snapshot, and how many stay for slow followers after one.
	SnapshotThreshold uint64 `mapstructure:"snapshot_threshold"`
	TrailingLogs      uint64 `mapstructure:"trailing_logs"`
}

// SecretsConfig is the secrets.* keys: the key that seals secrets at rest.
type SecretsConfig struct {
	KeyFile string `mapstructure:"key_file"`
	Key     string `mapstructure:"key"`
}

// LogConfig is the log.* keys.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Defaults sets every default on v.
func Defaults(v *viper.Viper) {
	v.SetDefault("role", "voice")
	v.SetDefault("http_addr", "127.0.0.1:7480")
	setDefaults(v, "http", httpapi.DefaultShedConfig())
	v.SetDefault("repl_addr", "127.0.0.1:7481")
	v.SetDefault("serf_addr", "127.0.0.1:7946")
	v.SetDefault("raft_addr", "127.0.0.1:7482")
	v.SetDefault("dns_addr", "127.0.0.1:8600")
	rep := replicator.DefaultConfig("", "") // the replicator's defaults are the only ones
	v.SetDefault("replication.mode", string(rep.Default.Mode))
	v.SetDefault("replication.pull_wait", rep.PullWait)
	v.SetDefault("replication.anti_entropy", rep.AntiEntropy)
	v.SetDefault("replication.watermark", rep.Watermark)
	v.SetDefault("replication.history_retention", rep.HistoryRetention)
	v.SetDefault("replication.status_interval", rep.StatusInterval)
	sd := store.DefaultConfig("")
	v.SetDefault("store.max_log_entries", sd.MaxLogEntries)
	v.SetDefault("store.min_free_mb", sd.MinFreeBytes>>20)
	v.SetDefault("store.disk_probe", sd.DiskProbe)
	setDefaults(v, "dns", srv.DefaultConfig())
	setDefaults(v, "ami", DefaultAMIConfig())
	setDefaults(v, "dundi", dundiDefaults())
	setDefaults(v, "mysql", mysqlDefaults())
	v.SetDefault("gossip.probe_interval", time.Second)
	v.SetDefault("gossip.suspicion_mult", 3)
	v.SetDefault("gossip.restart_grace", 30*time.Second)
	v.SetDefault("raft.expect", 1)
	v.SetDefault("raft.heartbeat_timeout", 600*time.Millisecond)
	rd := raftstore.DefaultConfig("", "", "")
	v.SetDefault("raft.start_timeout", rd.StartTimeout)
	v.SetDefault("raft.snapshot_threshold", rd.SnapshotThreshold)
	v.SetDefault("raft.trailing_logs", rd.TrailingLogs)
	v.SetDefault("memory_limit_mb", DefaultMemoryLimitMB)
	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "text")
}

// ConfigKeys returns every valid key, dotted ("replication.mode").
func ConfigKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == ",squash" { // an embedded struct's keys are its parent's
				walk(f.Type, prefix)
				continue
			}
			if tag == "-" || tag == "" {
				continue
			}
			name := prefix + tag
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, name+".")
				continue
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(keys)
	return keys
}

// setDefaults sets a default for every field of a settings struct under
// prefix, from its own defaults.
func setDefaults(v *viper.Viper, prefix string, def any) {
	rv := reflect.ValueOf(def)
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Type().Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == ",squash" {
			setDefaults(v, prefix, rv.Field(i).Interface())
			continue
		}
		if tag == "-" || tag == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			setDefaults(v, prefix+"."+tag, rv.Field(i).Interface())
			continue
		}
		v.SetDefault(prefix+"."+tag, rv.Field(i).Interface())
	}
}

// LoadConfig decodes and checks the configuration in v. Unknown keys are an
// error that names them and the nearest valid key.
func LoadConfig(v *viper.Viper) (Config, error) {
	valid := ConfigKeys()
	var unknown []string
	for _, k := range v.AllKeys() {
		if !slices.Contains(valid, k) {
			if near := pbx.Nearest(k, valid); near != "" {
				unknown = append(unknown, fmt.Sprintf("%q (did you mean %q?)", k, near))
			} else {
				unknown = append(unknown, fmt.Sprintf("%q", k))
			}
		}
	}
	if len(unknown) > 0 {
		return Config{}, fmt.Errorf("unknown config %s %s; the keys are listed in docs/configuration.md and deploy/pbxtopo.yaml", plural(len(unknown), "key", "keys"), strings.Join(unknown, ", "))
	}
	var c Config
	err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if c.Node == "" {
		c.Node = c.Cluster + "-1" // a cluster's first node, unless named
	}
	return c, c.Validate()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Validate checks the configuration and says what to fix; it changes
// nothing (LoadConfig fills in what derives from other keys first).
func (c Config) Validate() error {
	var problems []string
	add := func(f string, args ...any) { problems = append(problems, fmt.Sprintf(f, args...)) }
	if !pbx.IsLabel(c.Cluster) {
		add("cluster %q: give this agent's cluster name (lower-case letters, digits, '-')", c.Cluster)
	}
	if c.Node == "" {
		add("node is empty: give this agent's node name (LoadConfig makes it CLUSTER-1)")
	}
	if c.Site != "" && !pbx.IsLabel(c.Site) {
		add("site %q is not a valid name", c.Site)
	}
	if c.Role != "voice" && c.Role != "witness" {
		add("role %q: use voice (beside Asterisk) or witness (a Raft vote only)", c.Role)
	}
	if c.DataDir == "" {
		add("data_dir is empty: give the directory of this node's store")
	}
	if c.Store.MaxLogEntries < 1000 || c.Store.MinFreeMB < 1 || c.Store.DiskProbe < 10*time.Millisecond {
		add("store: max_log_entries must be at least 1000, min_free_mb at least 1 and disk_probe at least 10ms")
	}
	if c.MemoryLimitMB < 0 || c.MemoryLimitMB > 0 && c.MemoryLimitMB < MinMemoryLimitMB {
		add("memory_limit_mb %d: give at least %d (MB), or 0 for no limit", c.MemoryLimitMB, MinMemoryLimitMB)
	}
	t := c.Topology()
	if err := t.Validate(); err != nil {
		add("%v", err)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.Log.Level)); err != nil {
		add("log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format %q: use text or json", c.Log.Format)
	}
	if (c.HTTPTLS.Cert == "") != (c.HTTPTLS.Key == "") || c.HTTPTLS.ClientCA != "" && c.HTTPTLS.Cert == "" {
		add("http_tls: give both cert and key (and client_ca only with them)")
	}
	if c.HTTPTLS.Cert == "" && !c.HTTP.Insecure && !isLoopback(c.HTTPAddr) {
		add("http_addr %s is not a loopback address and the API would serve plain HTTP, so tokens and secrets would cross the network in clear: "+
			"set http_tls.cert and http_tls.key (a certificate of the enterprise CA: pbxtopo tls cert create --host ...), bind to 127.0.0.1, "+
			"or set http.insecure: true for a lab", c.HTTPAddr)
	}
	dns := c.DNS
	dns.Addr = c.DNSAddr
	if err := dns.Validate(); err != nil {
		add("%v", err)
	}
	if c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "" {
		add("tls.ca, tls.cert and tls.key are required: replication uses mutual TLS (make them with 'pbxtopo tls ca create' and 'pbxtopo tls cert create')")
	}
	problems = append(problems, c.validateParts()...)
	if len(problems) > 0 {
		return fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Topology returns the replication topology the configuration asks for;
// it seeds the replicated topology record.
func (c *Config) Topology() replicator.Topology {
	return replicator.Topology{Mode: replicator.Mode(c.Replication.Mode), Order: c.Replication.Order,
		Primary: c.Replication.Primary, SiteTables: c.Replication.SiteTables}
}
