package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

// The optional parts of an agent, each started by its own config key:
// the AMI status collector (ami.user), the DUNDi peer (dundi.eid), the
// DUNDi files publisher (dundi.dir; applied through AMI with ami.user) and
// the MySQL realtime bridge (mysql.dsn).

// AMIConfig is the ami.* keys (package ami documents each).
type AMIConfig struct {
	Addr       string        `mapstructure:"addr"`
	User       string        `mapstructure:"user"`
	Secret     string        `mapstructure:"secret"`
	Refresh    time.Duration `mapstructure:"refresh"`
	Flush      time.Duration `mapstructure:"flush"`
	VIP        string        `mapstructure:"vip"`
	CfwdFamily string        `mapstructure:"cfwd_family"`
	ConfigDir  string        `mapstructure:"config_dir"`
	LogFile    string        `mapstructure:"log_file"`
	BackupDir  string        `mapstructure:"backup_dir"`
}

// MySQLConfig is the mysql.* keys (package replicator/mysql documents each).
type MySQLConfig struct {
	DSN         string        `mapstructure:"dsn"`
	Mapping     string        `mapstructure:"mapping"`
	Tables      []string      `mapstructure:"tables"`
	ServerID    uint32        `mapstructure:"server_id"`
	Name        string        `mapstructure:"name"`
	MarkerTable string        `mapstructure:"marker_table"`
	BatchRows   int           `mapstructure:"batch_rows"`
	MinBackoff  time.Duration `mapstructure:"min_backoff"`
	MaxBackoff  time.Duration `mapstructure:"max_backoff"`
}

// DefaultAMIConfig is the ami.* keys' defaults: the agent's and the ami
// commands' (their flags show them).
func DefaultAMIConfig() AMIConfig {
	d := ami.DefaultConfig("", "")
	return AMIConfig{Addr: "127.0.0.1:5038", Refresh: d.Refresh, Flush: d.Flush, CfwdFamily: d.CallForwardFamily,
		ConfigDir: "/etc/asterisk", LogFile: "/var/log/asterisk/messages"}
}

func mysqlDefaults() MySQLConfig {
	d := mysql.DefaultConfig()
	return MySQLConfig{Mapping: d.Mapping, ServerID: d.ServerID, Name: d.Name, MarkerTable: d.MarkerTable,
		BatchRows: d.BatchRows, MinBackoff: d.MinBackoff, MaxBackoff: d.MaxBackoff}
}

// Collector returns the AMI collector's settings for this node.
func (c *Config) Collector() (ami.Config, ami.ClientConfig, error) {
	return c.AMI.Collector(c.Cluster, c.Node)
}

// Collector returns the settings of the AMI collector of node of cluster:
// the agent's and pbxtopo ami collect's.
func (c AMIConfig) Collector(cluster, node string) (ami.Config, ami.ClientConfig, error) {
	cfg := ami.DefaultConfig(cluster, node)
	cfg.Refresh, cfg.Flush, cfg.VIP, cfg.CallForwardFamily = c.Refresh, c.Flush, c.VIP, c.CfwdFamily
	cc := ami.DefaultClientConfig()
	cc.Addr, cc.User, cc.Secret = c.Addr, c.User, c.Secret
	if err := cfg.Validate(); err != nil {
		return cfg, cc, err
	}
	return cfg, cc, cc.Validate()
}

// Bridge returns the MySQL bridge's settings.
func (c *Config) Bridge() mysql.Config {
	m := mysql.DefaultConfig()
	m.DSN, m.Mapping, m.Tables, m.ServerID, m.Name = c.MySQL.DSN, c.MySQL.Mapping, c.MySQL.Tables, c.MySQL.ServerID, c.MySQL.Name
	m.MarkerTable, m.BatchRows, m.MinBackoff, m.MaxBackoff = c.MySQL.MarkerTable, c.MySQL.BatchRows, c.MySQL.MinBackoff, c.MySQL.MaxBackoff
	return m
}

// Applier returns the settings of applying generated config through AMI:
// the agent's DUNDi publisher's and pbxtopo ami apply's.
func (c AMIConfig) Applier() ami.ApplyConfig {
	ac := ami.DefaultApplyConfig()
	ac.Dir, ac.LogFile, ac.BackupDir = c.ConfigDir, c.LogFile, c.BackupDir
	return ac
}

// validateParts checks the optional parts that are turned on.
func (c *Config) validateParts() []string {
	var problems []string
	if c.AMI.User != "" {
		if _, _, err := c.Collector(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if c.MySQL.DSN != "" {
		if err := c.Bridge().Validate(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if c.Dundi.EID != "" {
		if err := c.Dundi.Validate(); err != nil {
			problems = append(problems, "dundi: "+err.Error())
		}
	}
	return append(problems, c.validatePublish()...)
}

// parts are the optional components of a running agent.
type parts struct {
	collector *ami.Collector
	dir       *dundi.StoreDirectory
	dundi     *dundi.Peer
	bridge    *mysql.Bridge
	// publisher keeps the cluster's DUNDi files current in every node's
	// own Asterisk (each node of an HA pair runs its own), through
	// applyAMI when the agent talks AMI.
	publisher *roaming.Publisher
	applyAMI  *ami.Client
}

// buildParts makes the optional components the configuration turns on.
// Status goes through Raft, so every node of the cluster sees every
// node's view of its Asterisk.
func (a *Agent) buildParts() error {
	cfg := a.cfg
	if cfg.AMI.User != "" {
		ac, cc, err := cfg.Collector()
		if err != nil {
			return err
		}
		if a.parts.collector, err = ami.New(ac, cc, ami.Deps{Store: a.rs, Logger: a.log.With("subsystem", "ami")}); err != nil {
			return err
		}
	}
	if cfg.Dundi.EID != "" {
		dc, err := cfg.Dundi.DirectoryConfig()
		if err != nil {
			return fmt.Errorf("dundi: %w", err)
		}
		dc.Logger = a.log.With("subsystem", "dundi")
		if a.parts.dir, err = dundi.NewStoreDirectory(a.st, a.checker, dc); err != nil {
			return fmt.Errorf("dundi: %w", err)
		}
		if a.parts.dundi, err = dundi.New(cfg.Dundi.Config, dundi.Deps{Directory: a.parts.dir, Logger: a.log.With("subsystem", "dundi")}); err != nil {
			return fmt.Errorf("dundi: %w", err)
		}
	}
	if cfg.Dundi.Dir != "" {
		if err := a.buildPublisher(); err != nil {
			return err
		}
	}
	if cfg.MySQL.DSN != "" {
		var err error
		if a.parts.bridge, err = mysql.New(cfg.Bridge(), mysql.Deps{Store: a.rs, Logger: a.log}); err != nil {
			return err
		}
	}
	return nil
}

// buildPublisher makes the DUNDi files publisher, applying through AMI
// with its own manager connection (no events) when ami.user is set.
func (a *Agent) buildPublisher() error {
	cfg := a.cfg
	log := a.log.With("subsystem", "dundi")
	pc := roaming.DefaultPublisherConfig(cfg.Cluster, cfg.Dundi.Dir)
	pc.Debounce = cfg.Dundi.Debounce
	deps := roaming.PublisherDeps{Store: a.st, Logger: a.log}
	if cfg.AMI.User != "" {
		_, cc, err := cfg.Collector()
		if err != nil {
			return err
		}
		cc.Events = "off"
		a.parts.applyAMI = ami.NewClient(cc, ami.ClientHooks{}, log)
		ap, err := ami.NewApplier(cfg.AMI.Applier(), a.parts.applyAMI, log)
		if err != nil {
			return fmt.Errorf("dundi.dir: %w", err)
		}
		deps.Apply = amiPublish(a.parts.applyAMI, ap)
	}
	var err error
	if a.parts.publisher, err = roaming.NewPublisher(pc, deps); err != nil {
		return fmt.Errorf("dundi.dir: %w", err)
	}
	return nil
}

// runParts runs the components every node runs until ctx ends.
func (a *Agent) runParts(ctx context.Context, wg *sync.WaitGroup, errc chan<- error) {
	p := &a.parts
	if p.collector != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.collector.Run(ctx) }()
	}
	if p.applyAMI != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.applyAMI.Run(ctx) }()
	}
	if p.publisher != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.publisher.Run(ctx) }()
	}
	if p.dundi != nil {
		wg.Add(2)
		go func() { defer wg.Done(); p.dir.Run(ctx) }()
		go func() {
			defer wg.Done()
			if err := p.dundi.Run(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("dundi: %w", err)
			}
		}()
	}
}

// leaderParts runs what one node per cluster runs, on the leader.
func (a *Agent) leaderParts(ctx context.Context) {
	if b := a.parts.bridge; b != nil {
		if err := b.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("mysql bridge stopped", "err", err)
		}
	}
}

// closeParts releases what the parts hold after they stopped.
func (a *Agent) closeParts() {
	if a.parts.dundi != nil {
		a.parts.dundi.Close()
	}
}
