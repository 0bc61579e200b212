package service

import (
	"fmt"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// checkNames refuses filters that name no cluster, site or group: a typo
// would list nothing, which reads as "there are none". Names match as
// the filters do, whatever their case.
func (s *Service) checkNames(cluster, site, group string) error {
	if cluster == "" && site == "" && group == "" {
		return nil
	}
	return UserError(s.st.View(func(sn *store.Snapshot) error {
		for _, c := range []struct{ table, what, name string }{
			{pbx.Clusters.Name, "cluster", cluster}, {pbx.Sites.Name, "site", site}, {pbx.Groups.Name, "group", group},
		} {
			if err := knownName(sn, c.table, c.what, c.name); err != nil {
				return err
			}
		}
		return nil
	}))
}

// knownName refuses a name that no record of table has.
func knownName(sn *store.Snapshot, table, what, name string) error {
	if name == "" {
		return nil
	}
	var names []string
	found := false
	sn.Scan(table, "", func(key string, _ []byte) error {
		names = append(names, key)
		found = found || strings.EqualFold(key, name)
		return nil
	})
	if found {
		return nil
	}
	msg := fmt.Sprintf("no %s %s", what, name)
	switch near := pbx.Nearest(name, names); {
	case near != "":
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	case len(names) > 0:
		msg += fmt.Sprintf(": the %ss are %s", what, strings.Join(names, ", "))
	default:
		msg += fmt.Sprintf(": there are none yet (pbxtopo import --table %s FILE)", table)
	}
	return &Error{Code: 404, Msg: msg}
}
