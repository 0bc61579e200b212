// Package modroot finds the pbxtopo source tree a test or benchmark runs
// in, where the shared Asterisk tree and its files are looked up
// (../shared/asterisk next to the checkout).
package modroot

import (
	"errors"
	"os"
	"path/filepath"
)

// Dir is the directory of the go.mod at or above the working directory.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found at or above the working directory")
		}
		dir = parent
	}
}
