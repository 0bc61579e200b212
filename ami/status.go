package ami

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// The status space layout (DESIGN.md §10: written only by the node that
// observes it, never versioned, never in conflict):
//
//	ext/<cluster>/<regexten>/<node>   one extension as one node's Asterisk sees it
//	trunk/<cluster>/<trunk>/<node>    one trunk as one node's Asterisk sees it
//	health/<cluster>/<node>           the node's health: AMI, VIP, trunks, role
//
// The node is last so that every node of a cluster owns its own keys (the
// standby server of an HA pair sees every phone unregistered while the
// active one sees it registered: two writers of one key would fight) and
// a prefix scan of "ext/<cluster>/<regexten>/" finds every view of one
// extension; MergeViews picks the one to show.
//
// Values are the binary form of pbx.Fields (pbx.Fields.AppendBinary) with
// the status columns of the guide's extension table and a few more:
//
//	regstatus   registered, unregistered, unreachable, lagged, rejected;
//	            static: a contact set in pjsip.conf (an AOR's contact =),
//	            answering qualify or not qualified
//	regseconds  when the registration expires (unix seconds)
//	ipaddr      the contact's address; port its port; contact the URI
//	lastms      qualify round trip in ms; useragent; regserver (the node)
//	extstatus   Asterisk's extension state number (0 idle, 1 in use, 2 busy,
//	            4 unavailable, 8 ringing, 16 on hold, sums of these);
//	            devicestate its device state name (NOT_INUSE, INUSE...)
//	queue       the queues the extension is a member of, comma-separated;
//	            agentstatus available, paused, oncall, ringing, unavailable;
//	            pausereason the reason given with the pause
//	vmunread, vmold   voicemail counts; cfwdset yes/no, cfwdto the target
//	node, updated     the writer and when it wrote (unix ms)
//
// A replicator ships entries as they are (key and bytes) with the owner's
// status clock (store.StatusSince); the receiver stores them with
// store.MergeStatus under the same keys, newest clock first. Entries of a
// node are replaced whole, so any arrival order converges.
const (
	KindExt    = "ext"
	KindTrunk  = "trunk"
	KindHealth = "health"
)

// ExtKey is the status key of one extension as seen by one node.
func ExtKey(cluster, ext, node string) string {
	return KindExt + "/" + cluster + "/" + ext + "/" + node
}

// TrunkKey is the status key of one trunk as seen by one node.
func TrunkKey(cluster, trunk, node string) string {
	return KindTrunk + "/" + cluster + "/" + trunk + "/" + node
}

// HealthKey is the status key of a node's health.
func HealthKey(cluster, node string) string { return KindHealth + "/" + cluster + "/" + node }

// Key is a parsed status key.
type Key struct {
	Kind, Cluster, Name, Node string // Name is empty for health
}

// ParseKey splits a status key; false when it is not one of the layout.
func ParseKey(k string) (Key, bool) {
	parts := strings.Split(k, "/")
	switch {
	case len(parts) == 4 && (parts[0] == KindExt || parts[0] == KindTrunk):
		return Key{parts[0], parts[1], parts[2], parts[3]}, parts[1] != "" && parts[2] != "" && parts[3] != ""
	case len(parts) == 3 && parts[0] == KindHealth:
		return Key{Kind: KindHealth, Cluster: parts[1], Node: parts[2]}, parts[1] != "" && parts[2] != ""
	}
	return Key{}, false
}

// Encode returns the stored form of a status value.
func Encode(f pbx.Fields) []byte { return f.AppendBinary(nil) }

// Decode parses a stored status value.
func Decode(b []byte) (pbx.Fields, error) {
	f, err := pbx.DecodeFields(b)
	if err != nil {
		return nil, fmt.Errorf("%w: status value: %v", ErrProtocol, err)
	}
	return f, nil
}

// Updated returns when a status value was written.
func Updated(f pbx.Fields) time.Time {
	ms, err := strconv.ParseInt(f["updated"], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// View is one decoded status entry.
type View struct {
	Key    Key
	Fields pbx.Fields
}

// ReadStatus returns the decoded entries of one kind in one cluster (all
// clusters when cluster is ""). Entries that do not decode are skipped.
func ReadStatus(sn *store.Snapshot, kind, cluster string) ([]View, error) {
	prefix := kind + "/"
	if cluster != "" {
		prefix += cluster + "/"
	}
	var out []View
	err := sn.Status(prefix, func(k string, v []byte) error {
		key, ok := ParseKey(k)
		if !ok {
			return nil
		}
		f, err := Decode(v)
		if err != nil {
			return nil
		}
		out = append(out, View{key, f})
		return nil
	})
	return out, err
}

// MergeViews picks, among the views of one extension or trunk by several
// nodes, the one to show: a registered view before others, then the
// newest.
func MergeViews(views []View) View {
	best := views[0]
	for _, v := range views[1:] {
		br, vr := best.Fields["regstatus"] == "registered", v.Fields["regstatus"] == "registered"
		if vr && !br || vr == br && Updated(v.Fields).After(Updated(best.Fields)) {
			best = v
		}
	}
	return best
}

// Extensions returns the merged status of every extension of a cluster
// that any node reported, by extension number.
func Extensions(sn *store.Snapshot, cluster string) (map[string]View, error) {
	views, err := ReadStatus(sn, KindExt, cluster)
	if err != nil {
		return nil, err
	}
	return merge(views), nil
}

func merge(views []View) map[string]View {
	byName := map[string][]View{}
	for _, v := range views {
		id := v.Key.Cluster + "/" + v.Key.Name
		byName[id] = append(byName[id], v)
	}
	out := make(map[string]View, len(byName))
	for id, vs := range byName {
		out[id] = MergeViews(vs)
	}
	return out
}

// SnapshotStatus returns every status entry under prefix as stored: what
// a replicator sends a peer that has nothing yet.
func SnapshotStatus(sn *store.Snapshot, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := sn.Status(prefix, func(k string, v []byte) error {
		out[k] = append([]byte(nil), v...)
		return nil
	})
	return out, err
}
