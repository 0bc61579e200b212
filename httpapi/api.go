package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// maxBody bounds a JSON request body; imports have their own, larger limit.
const (
	maxBody       = 8 << 20
	maxImportBody = 1 << 30
)

// apiError is the JSON form of every error the API returns.
type apiError struct {
	Error struct {
		Status  int    `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

var codeNames = map[int]string{
	400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type",
	409: "exists", 410: "gone", 412: "changed", 413: "too_large", 429: "rate_limited", 500: "internal", 503: "unavailable",
}

func writeError(w http.ResponseWriter, err error) {
	var ae *service.Error
	if !errors.As(service.UserError(err), &ae) {
		ae = &service.Error{Code: 500, Msg: err.Error()}
	}
	var body apiError
	body.Error.Status = ae.Code
	body.Error.Code = codeNames[ae.Code]
	body.Error.Message = ae.Msg
	writeJSON(w, ae.Code, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if a, ok := v.(jsonAppender); ok {
		w.Write(append(a.AppendJSON(nil), '\n'))
		return
	}
	json.NewEncoder(w).Encode(v) // compact: listings are large, and jq or -o json print them for people
}

// A jsonAppender writes itself as encoding/json would, faster (a listing's
// page: service.Page).
type jsonAppender interface {
	AppendJSON([]byte) []byte
}

// readJSON decodes a request body that must be one JSON object: null, an
// array, a value of the wrong type, an unknown field or anything after
// the object is refused with the reason.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	bad := func(format string, args ...any) error {
		return &service.Error{Code: 400, Msg: "request body: " + fmt.Sprintf(format, args...)}
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return bad("empty; send a JSON object")
		}
		return bad("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("data after the JSON object; send one object")
	}
	if raw[0] != '{' {
		return bad("want a JSON object {...}, got %s", jsonKind(raw[0]))
	}
	inner := json.NewDecoder(bytes.NewReader(raw))
	inner.DisallowUnknownFields()
	if err := inner.Decode(v); err != nil {
		return bad("%v", err)
	}
	return nil
}

// jsonKind names a JSON value by its first byte.
func jsonKind(first byte) string {
	switch first {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// Route is one API route: its pattern, the role it needs, its handler.
type Route struct {
	Pattern string
	Role    service.Role
	Handler http.HandlerFunc
}

// dataRoutes are the routes over the Service: records, import and export,
// batch, history and revert.
func dataRoutes(svc *service.Service) []Route {
	h := &dataHandlers{svc: svc}
	return []Route{
		{"GET /v1/extensions", service.RoleRead, h.list("extensions")},
		{"POST /v1/extensions", service.RoleOperator, h.create("extensions")},
		{"GET /v1/extensions/{key...}", service.RoleRead, h.get("extensions")},
		{"PUT /v1/extensions/{key...}", service.RoleOperator, h.put("extensions", false)},
		{"PATCH /v1/extensions/{key...}", service.RoleOperator, h.put("extensions", true)},
		{"DELETE /v1/extensions/{key...}", service.RoleOperator, h.delete("extensions")},
		{"GET /v1/tables/{table}", service.RoleRead, h.list("")},
		// Writes to tables: operators may change hot desks (and extensions),
		// everything else needs admin (WriteRole, checked per table).
		{"POST /v1/tables/{table}", service.RoleOperator, tableRole(h.create(""))},
		{"GET /v1/tables/{table}/{key...}", service.RoleRead, h.get("")},
		{"PUT /v1/tables/{table}/{key...}", service.RoleOperator, tableRole(h.put("", false))},
		{"PATCH /v1/tables/{table}/{key...}", service.RoleOperator, tableRole(h.put("", true))},
		{"DELETE /v1/tables/{table}/{key...}", service.RoleOperator, tableRole(h.delete(""))},
		{"POST /v1/batch", service.RoleOperator, h.batch},
		{"POST /v1/import", service.RoleOperator, h.importFile},
		{"GET /v1/export", service.RoleAdmin, h.export}, // with secrets
		{"GET /v1/history/{table}/{key...}", service.RoleRead, h.history},
		{"POST /v1/revert/{change}", service.RoleAdmin, h.revert},
	}
}

type dataHandlers struct {
	svc   *service.Service
	pages pagePool // the buffers listings are written into
}

// tableRole refuses writes to tables beyond the caller's role before the
// body is read (the store checks again: access.go).
func tableRole(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := service.CheckWrite(r.Context(), r.PathValue("table")); err != nil {
			writeError(w, err)
			return
		}
		h(w, r)
	}
}

func tableOf(fixed string, r *http.Request) string {
	if fixed != "" {
		return fixed
	}
	return r.PathValue("table")
}

func (h *dataHandlers) list(fixed string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		query := service.Query{Group: q.Get("group"), Cluster: q.Get("cluster"), Site: q.Get("site"),
			Search: q.Get("search"), Sort: q.Get("sort"), Desc: q.Get("desc") == "true"}
		var err error
		if query.Offset, err = intParam(q.Get("offset")); err == nil {
			query.Limit, err = intParam(q.Get("limit"))
		}
		if err != nil {
			writeError(w, err)
			return
		}
		// The page as JSON, secrets redacted below the admin role (as
		// redactRows): the service writes it without decoding the rows,
		// into a buffer kept from an earlier request.
		buf := h.pages.get()
		defer h.pages.put(buf)
		body, err := h.svc.AppendListJSON(r.Context(), (*buf)[:0], tableOf(fixed, r), query, !service.RoleFrom(r.Context()).Allows(service.RoleAdmin))
		if err != nil {
			writeError(w, err)
			return
		}
		body = append(body, '\n')
		*buf = body
		// With its length known, net/http sends the page as it is rather
		// than in chunks.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(200)
		w.Write(body)
	}
}

// pagePool holds buffers for listings.
type pagePool struct{ p sync.Pool }

// maxPooledPage bounds the buffers kept: an unbounded listing of a large
// table is not worth keeping in memory for the next request.
const maxPooledPage = 1 << 20

func (pp *pagePool) get() *[]byte {
	if b, ok := pp.p.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func (pp *pagePool) put(b *[]byte) {
	if cap(*b) <= maxPooledPage {
		pp.p.Put(b)
	}
}

func intParam(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &service.Error{Code: 400, Msg: fmt.Sprintf("%q is not a count", v)}
	}
	return n, nil
}

func (h *dataHandlers) get(fixed string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		view, err := h.svc.Get(r.Context(), tableOf(fixed, r), r.PathValue("key"))
		if err != nil {
			writeError(w, err)
			return
		}
		redactView(r.Context(), view)
		w.Header().Set("ETag", strconv.Quote(view.Version))
		writeJSON(w, 200, view)
	}
}

func (h *dataHandlers) create(fixed string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var f pbx.Fields
		if err := readJSON(r, &f); err != nil {
			writeError(w, err)
			return
		}
		reply, err := h.svc.Put(r.Context(), tableOf(fixed, r), f, service.PutOptions{Must: store.MustNotExist})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 201, reply)
	}
}

func (h *dataHandlers) put(fixed string, merge bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := pbx.LookupTable(tableOf(fixed, r))
		if err != nil {
			writeError(w, &service.Error{Code: 404, Msg: err.Error()})
			return
		}
		var f pbx.Fields
		if err := readJSON(r, &f); err != nil {
			writeError(w, err)
			return
		}
		key, err := t.ParseKey(r.PathValue("key"))
		if err != nil {
			writeError(w, &service.Error{Code: 400, Msg: err.Error()})
			return
		}
		for k, v := range key {
			if f[k] != "" && f[k] != v {
				writeError(w, &service.Error{Code: 400, Msg: fmt.Sprintf("the body's %s %q differs from the path's %q", k, f[k], v)})
				return
			}
			f[k] = v
		}
		opts := service.PutOptions{Merge: merge, IfMatch: strings.Trim(r.Header.Get("If-Match"), `"`), Take: r.URL.Query().Get("take")}
		if !merge {
			opts.Must = store.MustExist
		}
		reply, err := h.svc.Put(r.Context(), t.Name, f, opts)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, reply)
	}
}

func (h *dataHandlers) delete(fixed string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply, err := h.svc.Delete(r.Context(), tableOf(fixed, r), r.PathValue("key"), strings.Trim(r.Header.Get("If-Match"), `"`))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, reply)
	}
}

func (h *dataHandlers) batch(w http.ResponseWriter, r *http.Request) {
	var req service.BatchRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	reply, err := h.svc.Batch(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	redactRows(r.Context(), "extensions", reply.Records)
	status := 200
	if !reply.Valid {
		status = 422
	}
	writeJSON(w, status, reply)
}

func (h *dataHandlers) importFile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := service.ImportRequest{Table: q.Get("table"), Source: q.Get("source"), DryRun: q.Get("dry_run") == "true"}
	if req.Source == "" {
		req.Source = "upload.csv"
		if strings.Contains(r.Header.Get("Content-Type"), "json") {
			req.Source = "upload.json"
		}
	}
	reply, err := h.svc.Import(r.Context(), req, http.MaxBytesReader(w, r.Body, maxImportBody))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, reply)
}

func (h *dataHandlers) export(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("table")
	if name == "" {
		name = "extensions"
	}
	t, err := pbx.LookupTable(name)
	if err != nil {
		writeError(w, &service.Error{Code: 400, Msg: err.Error()})
		return
	}
	rows, err := h.svc.Export(r.Context(), t.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		pbx.WriteJSON(w, rows)
		return
	}
	w.Header().Set("Content-Type", "text/csv")
	pbx.WriteCSV(w, t.ConfigColumns(), rows)
}

func (h *dataHandlers) history(w http.ResponseWriter, r *http.Request) {
	items, err := h.svc.History(r.Context(), r.PathValue("table"), r.PathValue("key"))
	if err != nil {
		writeError(w, err)
		return
	}
	if t, err := pbx.LookupTable(r.PathValue("table")); err == nil && !service.RoleFrom(r.Context()).Allows(service.RoleAdmin) {
		for i := range items {
			items[i].Fields = t.Redact(items[i].Fields)
		}
	}
	writeJSON(w, 200, items)
}

func (h *dataHandlers) revert(w http.ResponseWriter, r *http.Request) {
	reply, err := h.svc.Revert(r.Context(), r.PathValue("change"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, reply)
}

// redactRows hides secrets from callers below the admin role.
func redactRows(ctx context.Context, tableName string, rows []pbx.Fields) {
	t, err := pbx.LookupTable(tableName)
	if err != nil || service.RoleFrom(ctx).Allows(service.RoleAdmin) {
		return
	}
	for i := range rows {
		rows[i] = t.Redact(rows[i])
	}
}

func redactView(ctx context.Context, v *service.RecordView) {
	t, err := pbx.LookupTable(v.Table)
	if err != nil || service.RoleFrom(ctx).Allows(service.RoleAdmin) {
		return
	}
	v.Fields = t.Redact(v.Fields)
	for i := range v.Versions {
		v.Versions[i].Fields = t.Redact(v.Versions[i].Fields)
	}
}

// readAllLimited reads a body up to n bytes.
func readAllLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err == nil && int64(len(b)) > n {
		err = fmt.Errorf("response larger than %d bytes", n)
	}
	return b, err
}

// reply writes v as JSON, or the error.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, v)
}
