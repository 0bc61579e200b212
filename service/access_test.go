package service

import (
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// TestNoSecretIsSearchedOrFiltered: the free-text search and the filters
// look only at fields that are not secret, in every table.
func TestNoSecretIsSearchedOrFiltered(t *testing.T) {
	for _, tb := range pbx.Tables() {
		for _, f := range append(append([]string{}, searchFields...), "cluster", "site", "group", "astgroup") {
			if s, ok := tb.Spec(f); ok && s.Secret {
				t.Errorf("%s.%s is searched or filtered by, but it is a secret", tb.Name, f)
			}
		}
	}
}
