package statistics

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"

	"github.com/go-kit/kit/endpoint"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/httpserver"
)

//go:embed web
var webFiles embed.FS

// RegisterHTTP adds the statistics routes to srv: the staff API behind a
// token, and the dashboard page (static; it calls the API with the token
// the user gives it).
func RegisterHTTP(srv *httpserver.Server, e Endpoints, v *auth.Verifier, log *slog.Logger) {
	h := &handlers{e: e, log: log}
	srv.Handle("GET /v1/stats/summary", v.Middleware(http.HandlerFunc(h.summary)))
	srv.Handle("GET /v1/stats/breakdown", v.Middleware(http.HandlerFunc(h.breakdown)))
	srv.Handle("GET /v1/stats/report", v.Middleware(http.HandlerFunc(h.report)))
	srv.Handle("GET /v1/alerts", v.Middleware(http.HandlerFunc(h.alerts)))
	srv.Handle("GET /{$}", http.HandlerFunc(dashboard))
	srv.Handle("GET /dashboard", http.HandlerFunc(dashboard))
	srv.Handle("GET /dashboard/{file}", http.HandlerFunc(asset))
}

type handlers struct {
	e   Endpoints
	log *slog.Logger
}

// params reads the query parameters a route accepts; any other parameter,
// or one given twice, is a field error.
func params(r *http.Request, allowed ...string) (map[string]string, error) {
	f := apierror.Fields{}
	out := map[string]string{}
	for k, vs := range r.URL.Query() {
		switch {
		case !slices.Contains(allowed, k):
			f.Add(k, "unknown parameter (accepted: %v)", allowed)
		case len(vs) > 1:
			f.Add(k, "given more than once")
		default:
			out[k] = vs[0]
		}
	}
	return out, f.Err()
}

func (h *handlers) serve(w http.ResponseWriter, r *http.Request, e endpoint.Endpoint, req any) (any, bool) {
	resp, err := e(r.Context(), req)
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return nil, false
	}
	return resp, true
}

func (h *handlers) summary(w http.ResponseWriter, r *http.Request) {
	p, err := params(r, "from", "to", "asOf", "department")
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	q := SummaryQuery{PeriodQuery: PeriodQuery{From: p["from"], To: p["to"]}, AsOf: p["asOf"], Department: p["department"]}
	if resp, ok := h.serve(w, r, h.e.Summary, q); ok {
		apierror.WriteJSON(w, http.StatusOK, resp)
	}
}

func (h *handlers) breakdown(w http.ResponseWriter, r *http.Request) {
	p, err := params(r, "by", "from", "to")
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	if resp, ok := h.serve(w, r, h.e.Breakdown, BreakdownQuery{By: p["by"], PeriodQuery: PeriodQuery{From: p["from"], To: p["to"]}}); ok {
		apierror.WriteJSON(w, http.StatusOK, resp)
	}
}

func (h *handlers) alerts(w http.ResponseWriter, r *http.Request) {
	p, err := params(r, "since")
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	if resp, ok := h.serve(w, r, h.e.Alerts, AlertsQuery{Since: p["since"]}); ok {
		apierror.WriteJSON(w, http.StatusOK, resp)
	}
}

func (h *handlers) report(w http.ResponseWriter, r *http.Request) {
	p, err := params(r, "year", "format")
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	resp, ok := h.serve(w, r, h.e.Report, ReportQuery{Year: p["year"], Format: p["format"]})
	if !ok {
		return
	}
	rep := resp.(*Report)
	var body []byte
	var ctype string
	switch p["format"] {
	case "markdown":
		body, err = RenderMarkdown(rep)
		ctype = "text/markdown; charset=utf-8"
	case "html":
		body, err = RenderHTML(rep)
		ctype = "text/html; charset=utf-8"
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	default:
		apierror.WriteJSON(w, http.StatusOK, rep)
		return
	}
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(body)
}

// dashboardCSP allows the page's own script, style and API calls only.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func dashboard(w http.ResponseWriter, r *http.Request) {
	serveWeb(w, "index.html")
}

func asset(w http.ResponseWriter, r *http.Request) {
	serveWeb(w, path.Base(r.PathValue("file")))
}

var webTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

func serveWeb(w http.ResponseWriter, name string) {
	ctype, ok := webTypes[path.Ext(name)]
	data, err := fs.ReadFile(webFiles, "web/"+name)
	if !ok || err != nil {
		apierror.WriteJSON(w, http.StatusNotFound, apierror.New(apierror.NotFound, "no such page"))
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Security-Policy", dashboardCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(data)
}
