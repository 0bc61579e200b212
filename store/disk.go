package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// resumeMargin is how much more space than when writes stopped a store
// needs before it resumes them.
const resumeMargin = 4 << 20

// diskFree returns the bytes free for this process on the store's disk.
func (s *Store) diskFree() (int64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(s.cfg.Path), &fs); err != nil {
		return 0, err
	}
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}

// probeDisk checks the free space and flips the store into or out of its
// disk-full read-only mode. A failed commit with ENOSPC flips it in too
// (noteWriteError); only a probe that finds MinFreeBytes free flips it out.
func (s *Store) probeDisk() {
	free, err := s.diskFree()
	if err != nil {
		return
	}
	if s.diskFull.Load() {
		// Hysteresis: resume only with clearly more space than when
		// writes stopped, so the mode does not flap.
		s.setDiskFull(free < s.resumeAt.Load(), free)
		return
	}
	s.setDiskFull(free < s.cfg.MinFreeBytes, free)
}

func (s *Store) setDiskFull(full bool, free int64) {
	if full {
		s.resumeAt.Store(max(2*s.cfg.MinFreeBytes, free+resumeMargin))
	}
	was := s.diskFull.Swap(full)
	switch {
	case full && !was:
		s.log.Error("store: the disk is full: writes are refused until space is freed", "path", s.cfg.Path, "free_bytes", free, "min_free_bytes", s.cfg.MinFreeBytes)
	case !full && was:
		s.log.Info("store: disk space is back: writes resume", "path", s.cfg.Path, "free_bytes", free)
	}
}

// noteWriteError flips the store read-only when a commit failed because
// the disk is full.
func (s *Store) noteWriteError(err error) {
	if errors.Is(err, syscall.ENOSPC) {
		free, _ := s.diskFree()
		s.setDiskFull(true, free)
	}
}

// DiskFull reports whether the store is in its disk-full read-only mode.
func (s *Store) DiskFull() bool { return s.diskFull.Load() }

// Writable returns nil, or the error that says why a write is refused now
// (the disk is full, and what to do). Raft checks it before proposing, so
// a full disk refuses writes instead of stopping the node's log.
func (s *Store) Writable() error {
	if s.cfg.ReadOnly {
		return fmt.Errorf("%w: %s was opened for reading only", ErrReadOnly, s.cfg.Path)
	}
	if s.diskFull.Load() {
		return fmt.Errorf("%w: %w: the disk holding %s is full or below store.min_free_mb (%d MiB): writes are refused until space is freed (remove old backups or logs, or run 'pbxtopo store compact' with the agent stopped); they resume by themselves within %s of space coming back",
			ErrReadOnly, ErrDiskFull, filepath.Dir(s.cfg.Path), (s.cfg.MinFreeBytes+1<<20-1)>>20, s.cfg.DiskProbe)
	}
	return nil
}

// every calls fn every d until the store closes or fn returns false.
func (s *Store) every(d time.Duration, fn func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			if !fn() {
				return
			}
		}
	}
}
