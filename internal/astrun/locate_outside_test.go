package astrun

import (
	"strings"
	"testing"
)

// Outside the source tree, with no PBXTOPO_ASTERISK, the error names the
// variable to set (it used to say only "go.mod not found").
func TestLocateOutsideTheSourceTreeNamesTheVariable(t *testing.T) {
	t.Setenv(EnvVar, "")
	t.Chdir(t.TempDir())
	_, err := locate()
	if err == nil || !strings.Contains(err.Error(), EnvVar+" is not set") {
		t.Fatalf("err = %v, want it to name %s", err, EnvVar)
	}
}
