package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// serverTimes reads the agent's own histogram of the listing route's
// handler time (pbxtopo_http_request_seconds, from /metrics): the wait
// for a shedding slot and the work, without the time before the handler
// (accepting the connection, reading and parsing the request) or after.
// Two readings give the requests between them.
type serverTimes map[float64]float64 // bucket upper bound (s) -> count

const listingRoute = `route="GET /v1/extensions"`

func (c *apiCaller) serverTimes(ctx context.Context) (serverTimes, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	out := serverTimes{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "pbxtopo_http_request_seconds_bucket{") || !strings.Contains(line, listingRoute) {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.LastIndexByte(line, ' ')
		if i < 0 || j < i {
			return nil, fmt.Errorf("/metrics: cannot read %q", line)
		}
		le := line[i+4 : i+4+strings.IndexByte(line[i+4:], '"')]
		bound, err1 := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			bound, err1 = inf, nil
		}
		n, err2 := strconv.ParseFloat(line[j+1:], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/metrics: cannot read %q", line)
		}
		out[bound] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/metrics has no pbxtopo_http_request_seconds for %s", listingRoute)
	}
	return out, nil
}

const inf = 1e308

// since returns the percentile p of the requests between before and
// now, as the bucket bound it falls under ("≤ 64 ms"), and their number.
func (now serverTimes) since(before serverTimes, p float64) (string, int) {
	bounds := make([]float64, 0, len(now))
	for b := range now {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := now[inf] - before[inf]
	if total <= 0 {
		return "none", 0
	}
	for _, b := range bounds {
		if now[b]-before[b] >= total*p/100 {
			if b == inf {
				return fmt.Sprintf("over %v", time.Duration(bounds[len(bounds)-2]*float64(time.Second))), int(total)
			}
			return fmt.Sprintf("≤ %v", time.Duration(b*float64(time.Second))), int(total)
		}
	}
	return "none", int(total)
}
