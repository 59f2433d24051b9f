package intake

import (
	"embed"
	"io/fs"
	"net/http"
	"path"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/httpserver"
)

// The public query page (进度查询): static HTML, CSS and JS embedded in the
// binary, no external resources, so it works on an isolated network. The
// script calls GET /v1/query/{code} and shows the answer; it never sees
// personal data because the API has none.
//
//go:embed web
var webFiles embed.FS

// pageCSP allows the page's own script, style and API calls only (the icon
// is an empty data: URL so no /favicon.ico request is made).
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var pageTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// registerPage adds the citizen-facing query page: GET / and GET /query
// (?code= fills and submits the form), its assets under /query/.
func registerPage(srv *httpserver.Server) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { servePage(w, "index.html") })
	srv.Handle("GET /{$}", page)
	srv.Handle("GET /query", page)
	srv.Handle("GET /query/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		servePage(w, path.Base(r.PathValue("file")))
	}))
}

func servePage(w http.ResponseWriter, name string) {
	ctype, ok := pageTypes[path.Ext(name)]
	data, err := fs.ReadFile(webFiles, "web/"+name)
	if !ok || err != nil {
		apierror.WriteJSON(w, http.StatusNotFound, apierror.New(apierror.NotFound, "no such page"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(data)
}
