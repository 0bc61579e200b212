package asterisktest

import (
	"context"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/astrun"
)

// Options shape an instance (astrun.Options documents each).
type Options = astrun.Options

// Instance is one running Asterisk of a test.
type Instance struct {
	*astrun.Instance
	t testing.TB
}

// Require returns the Asterisk tree, or skips the test with what is
// missing and how to point the tests at an Asterisk.
func Require(t testing.TB) string {
	t.Helper()
	tree, err := astrun.Tree()
	if err != nil {
		t.Skipf("Asterisk is missing: %v. Point the tests at one with %s=DIR (an unpacked Asterisk tree, or a directory holding asterisk-22.8.0-amd64.tar.xz); .ci/run uses ../shared/asterisk", err, astrun.EnvVar)
	}
	return tree
}

// Start runs a new Asterisk until the test ends. After a failed test it
// logs the end of the instance's messages log.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	Require(t)
	a, err := astrun.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	i := &Instance{Instance: a, t: t}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Asterisk (EID %s, AMI %d) messages log:\n%s", i.EID, i.AMIPort, i.Tail("log/messages"))
		}
		i.Stop()
	})
	return i
}

// MustCLI is CLI that fails the test on an error.
func (i *Instance) MustCLI(command string) string {
	i.t.Helper()
	out, err := i.CLI(command)
	if err != nil {
		i.t.Fatalf("asterisk -rx %q: %v: %s", command, err, out)
	}
	return out
}

// WaitCLI runs command until its output satisfies ok, and fails the test
// after timeout with the last output.
func (i *Instance) WaitCLI(command string, timeout time.Duration, ok func(out string) bool) string {
	i.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := i.CLI(command)
		if err == nil && ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			i.t.Fatalf("asterisk -rx %q: not as expected after %v: %v\n%s", command, timeout, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Append adds text to the end of a configuration file of the running
// instance (reload the module to load it).
func (i *Instance) Append(t testing.TB, name, text string) {
	t.Helper()
	if err := i.Instance.Append(name, text); err != nil {
		t.Fatal(err)
	}
}

// Loopback returns an address of 127.0.0.0/8 where UDP port is free
// (astrun.Loopback).
func Loopback(t testing.TB, port int) string {
	t.Helper()
	addr, err := astrun.Loopback(port)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
