package chaos

import (
	"fmt"
	"time"
)

// Partition cuts the network between groups of replicas (by index): each
// replica talks only to those of its own group. Replicas in no group are
// isolated from everyone.
func (s *Sim) Partition(groups ...[]int) {
	group := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			group[i] = g + 1
		}
	}
	for _, a := range s.indexes() {
		for _, b := range s.indexes() {
			if a != b && (group[a] == 0 || group[a] != group[b]) {
				s.net.blocked[[2]int{a, b}] = true
			}
		}
	}
	s.stats.Faults["partition"]++
	s.notifyMembership()
}

// Isolate cuts one replica off from all others.
func (s *Sim) Isolate(i int) {
	var rest []int
	for _, j := range s.indexes() {
		if j != i {
			rest = append(rest, j)
		}
	}
	s.Partition([]int{i}, rest)
}

// OneWay drops messages from a to b only (b still reaches a).
func (s *Sim) OneWay(a, b int) {
	s.net.blocked[[2]int{a, b}] = true
	s.stats.Faults["one-way"]++
	s.notifyMembership()
}

// Bridge partitions the replicas into two halves that both still reach
// one bridge replica.
func (s *Sim) Bridge(bridge int) {
	var left, right []int
	for _, i := range s.indexes() {
		switch {
		case i == bridge:
		case len(left) <= len(right):
			left = append(left, i)
		default:
			right = append(right, i)
		}
	}
	s.Heal()
	for _, a := range left {
		for _, b := range right {
			s.net.blocked[[2]int{a, b}] = true
			s.net.blocked[[2]int{b, a}] = true
		}
	}
	s.stats.Faults["bridge"]++
	s.notifyMembership()
}

// Heal removes every partition and network fault.
func (s *Sim) Heal() {
	s.net.blocked = map[[2]int]bool{}
	s.net.loss, s.net.dup, s.net.jitter, s.net.extraWait = 0, 0, 0, 0
	s.notifyMembership()
}

// Degrade makes the network lose, duplicate and delay messages (large
// jitter reorders them).
func (s *Sim) Degrade(loss, dup float64, delay, jitter time.Duration) {
	s.net.loss, s.net.dup, s.net.extraWait, s.net.jitter = loss, dup, delay, jitter
	if loss > 0 {
		s.stats.Faults["loss"]++
	}
	if dup > 0 {
		s.stats.Faults["duplicate"]++
	}
	if jitter > 0 {
		s.stats.Faults["reorder"]++
	}
	if delay > 0 {
		s.stats.Faults["delay"]++
	}
}

// Crash stops replica i: its store is closed and every message in flight
// to or from it is lost. Acknowledged writes are on disk (the store
// fsyncs before it acknowledges), so a crash that loses unsynced writes
// loses only writes nobody was told about: the same fault.
func (s *Sim) Crash(i int) {
	n := s.nodes[i]
	if !n.up {
		return
	}
	n.stop()
	s.stats.Faults["crash"]++
	s.notifyMembership()
}

// Restart starts a crashed replica again on its data dir.
func (s *Sim) Restart(i int) error {
	n := s.nodes[i]
	if n.up {
		return nil
	}
	if err := n.start(); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	s.notifyMembership()
	return nil
}

// Pause stops replica i from processing anything, as a long GC pause or a
// SIGSTOP does; Resume lets it go on where it was.
func (s *Sim) Pause(i int) {
	s.nodes[i].paused = true
	s.stats.Faults["pause"]++
	s.notifyMembership()
}

// Resume undoes Pause.
func (s *Sim) Resume(i int) {
	s.nodes[i].paused = false
	s.notifyMembership()
}

// Skew sets replica i's clock offset from simulated time (a jump when it
// changes a lot at once).
func (s *Sim) Skew(i int, d time.Duration) {
	s.nodes[i].skew = d
	s.stats.Faults["skew"]++
}

// RecoverAll heals the network, restarts crashed replicas and resumes
// paused ones: the start of the quiet period.
func (s *Sim) RecoverAll() error {
	s.Heal()
	for _, i := range s.indexes() {
		s.Resume(i)
		if err := s.Restart(i); err != nil {
			return err
		}
	}
	return nil
}
