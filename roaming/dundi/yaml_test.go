package dundi

import (
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// The README's example decodes with viper the way the agent decodes its
// config file (unknown keys are errors, durations and lists from text).
func TestConfigFromYAML(t *testing.T) {
	const doc = `
dundi:
  addr: 127.0.0.1:4520
  eid: 02:00:00:00:99:01
  private_key: testdata/encrypted/keys/dundiA.key
  secret: "V3ryL0ngDundiSecret"
  retrans_timer: 500ms
  entity: {organization: Example Corp, country: US}
  mappings:
    - {context: priv, tech: IAX2, destination: "dundi:${SECRET}@${IPADDR}/${NUMBER}", options: [nopartial]}
  peers:
    - eid: 02:00:00:00:01:01
      host: 192.168.0.216:4520
      model: inbound
      permit: [priv]
      public_key: testdata/encrypted/keys/dundiB.pub
      qualify: 2s
`
	decode := func(doc string) (Config, error) {
		v := viper.New()
		v.SetConfigType("yaml")
		if err := v.ReadConfig(strings.NewReader(doc)); err != nil {
			t.Fatal(err)
		}
		var c Config
		err := v.Sub("dundi").Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
			dc.ErrorUnused = true
			dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","))
		})
		return c, err
	}
	c, err := decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.RetransTimer != 500*time.Millisecond || c.Entity.Organization != "Example Corp" || len(c.Peers) != 1 ||
		c.Peers[0].Permit[0] != "priv" || c.Mappings[0].Options[0] != "nopartial" || c.Peers[0].Qualify != "2s" {
		t.Errorf("decoded %+v", c)
	}
	if _, err := decode(strings.Replace(doc, "permit:", "permits:", 1)); err == nil || !strings.Contains(err.Error(), "permits") {
		t.Errorf("a misspelled key: %v", err)
	}
}
