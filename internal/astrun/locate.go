package astrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/pbxtopo/pbxtopo/internal/modroot"
)

// EnvVar names the Asterisk the tests use: a directory holding an
// unpacked Asterisk tree (sbin/asterisk, lib/asterisk/modules) or an
// asterisk-*.tar.xz built like ../shared/asterisk's, or that tarball.
const EnvVar = "PBXTOPO_ASTERISK"

// sharedTarball is where the project keeps its Asterisk, relative to the
// module root.
const sharedTarball = "../shared/asterisk/asterisk-22.8.0-amd64.tar.xz"

// RuntimePackages are the Debian packages the shared Asterisk needs at run
// time (.ci/run installs them).
const RuntimePackages = "libedit2 libbsd0 libjansson4 libxml2 libxslt1.1 libicu72 libsqlite3-0 libssl3 libuuid1 libltdl7 unixodbc libodbc2 libodbcinst2 odbc-mariadb libmariadb3"

var (
	treeOnce sync.Once
	treeDir  string
	treeErr  error
)

// Tree returns the directory of the Asterisk tree the tests run (the one
// holding sbin/asterisk), unpacking the tarball into a cache directory the
// first time, or an error that says what is missing and how to point the
// tests at an Asterisk.
func Tree() (string, error) {
	treeOnce.Do(func() { treeDir, treeErr = locate() })
	return treeDir, treeErr
}

func locate() (string, error) {
	src := os.Getenv(EnvVar)
	if src == "" {
		root, err := modroot.Dir()
		if err != nil {
			// Outside the source tree there is no default to fall back on.
			return "", fmt.Errorf("%s is not set (an Asterisk tree or its tarball), and the default beside the source tree cannot be found: %w", EnvVar, err)
		}
		src = filepath.Join(root, sharedTarball)
		if _, err := os.Stat(src); err != nil {
			return "", fmt.Errorf("no %s and %s is not set", src, EnvVar)
		}
	}
	tree, err := resolve(src)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	// A tree whose libraries are missing fails here, not in every test.
	cmd := exec.Command(filepath.Join(tree, "sbin", "asterisk"), "-V")
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(tree, "lib"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s/sbin/asterisk -V: %v: %s(its run-time libraries: apt-get install %s)", tree, err, out, RuntimePackages)
	}
	return tree, nil
}

// resolve turns what EnvVar or the default names into a tree.
func resolve(src string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", errors.New("no such file or directory")
	}
	if !fi.IsDir() {
		return unpack(src)
	}
	for _, d := range []string{src, filepath.Join(src, "asterisk")} {
		if isTree(d) {
			return filepath.Abs(d)
		}
	}
	balls, _ := filepath.Glob(filepath.Join(src, "asterisk-*.tar.xz"))
	if len(balls) == 0 {
		return "", fmt.Errorf("%s holds neither an Asterisk tree (sbin/asterisk and lib/asterisk/modules) nor asterisk-*.tar.xz", src)
	}
	return unpack(balls[len(balls)-1])
}

func isTree(d string) bool {
	_, e1 := os.Stat(filepath.Join(d, "sbin", "asterisk"))
	_, e2 := os.Stat(filepath.Join(d, "lib", "asterisk", "modules"))
	return e1 == nil && e2 == nil
}

// unpack extracts a tarball once into the cache (PBXTOPO_ASTERISK_CACHE,
// else the user's cache directory), under a lock so that test binaries
// running in parallel unpack it once, and returns the tree.
func unpack(tarball string) (string, error) {
	fi, err := os.Stat(tarball)
	if err != nil {
		return "", err
	}
	cache := os.Getenv("PBXTOPO_ASTERISK_CACHE")
	if cache == "" {
		if cache, err = os.UserCacheDir(); err != nil {
			cache = os.TempDir()
		}
		cache = filepath.Join(cache, "pbxtopo")
	}
	name := strings.TrimSuffix(filepath.Base(tarball), ".tar.xz")
	dir := filepath.Join(cache, fmt.Sprintf("%s-%d-%d", name, fi.Size(), fi.ModTime().Unix()))
	tree := filepath.Join(dir, "asterisk")
	if isTree(tree) {
		return tree, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isTree(tree) { // another process unpacked it while we waited
		return tree, nil
	}
	tmp, err := os.MkdirTemp(cache, ".unpack-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("tar", "-C", tmp, "-xJf", tarball).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %v: %s(tar needs xz: apt-get install xz-utils)", tarball, err, out)
	}
	if !isTree(filepath.Join(tmp, "asterisk")) {
		return "", fmt.Errorf("%s does not hold asterisk/sbin/asterisk", tarball)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return tree, nil
}
