package httpapi

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics counts the API's requests by route pattern and status code and
// times them, on a registry the caller owns, and serves that registry on
// /metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxtopo_http_requests_total",
		Help: "HTTP API requests by route pattern and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pbxtopo_http_request_seconds",
		Help: "HTTP API request duration by route pattern.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"})
	reg.MustRegister(m.requests, m.latency)
	return m
}

// handler serves /metrics.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument counts a route's requests and times them.
func (m *Metrics) instrument(pattern string, h http.Handler) http.Handler {
	// The route's latency series and its count of 200s are looked up
	// once, when first needed, rather than per request (a lookup hashes
	// the labels); other codes are rare enough to look up each time.
	var ok atomic.Pointer[prometheus.Counter]
	var latency atomic.Pointer[prometheus.Observer]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		start := time.Now()
		h.ServeHTTP(rec, r)
		if rec.status == 200 {
			lazy(&ok, func() prometheus.Counter { return m.requests.WithLabelValues(pattern, "200") }).Inc()
		} else {
			m.requests.WithLabelValues(pattern, strconv.Itoa(rec.status)).Inc()
		}
		lazy(&latency, func() prometheus.Observer { return m.latency.WithLabelValues(pattern) }).Observe(time.Since(start).Seconds())
	})
}

// lazy returns *p, made by mk the first time (two first requests at once
// make the same series).
func lazy[T any](p *atomic.Pointer[T], mk func() T) T {
	if v := p.Load(); v != nil {
		return *v
	}
	v := mk()
	p.Store(&v)
	return v
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
