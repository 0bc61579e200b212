package dundi

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/docfiles"
)

// Every config key is documented in README.md or docs/ (its table is in
// docs/configuration.md).
func TestConfigKeysDocumented(t *testing.T) {
	files, err := docfiles.Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme := docfiles.Text(files)
	walk := func(ty reflect.Type, prefix string) {
		for i := 0; i < ty.NumField(); i++ {
			f := ty.Field(i)
			key := f.Tag.Get("mapstructure")
			if key == "" {
				t.Errorf("%s.%s has no mapstructure tag", prefix, f.Name)
				continue
			}
			full := prefix + "." + key
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type.Name() == "EntityInfo":
				if !strings.Contains(readme, "`"+full+".{") {
					t.Errorf("README.md and docs/ lack %s.{...}", full)
				}
				for j := 0; j < f.Type.NumField(); j++ {
					if sub := f.Type.Field(j).Tag.Get("mapstructure"); !strings.Contains(readme, sub) {
						t.Errorf("README.md and docs/ lack %s.%s", full, sub)
					}
				}
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				if !strings.Contains(readme, "`"+full+"[]`") {
					t.Errorf("README.md and docs/ lack `%s[]`", full)
				}
				el := f.Type.Elem()
				for j := 0; j < el.NumField(); j++ {
					if sub := el.Field(j).Tag.Get("mapstructure"); !strings.Contains(readme, "`"+sub+"`") {
						t.Errorf("README.md and docs/ lack %s[].%s", full, sub)
					}
				}
			default:
				if !strings.Contains(readme, "`"+full+"`") {
					t.Errorf("README.md and docs/ lack `%s`", full)
				}
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "dundi")
}
