package routing

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-kit/kit/endpoint"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
)

// Body limits: a preview may carry a whole County manifest.
const (
	maxPreviewBody = 1 << 20
	maxRerouteBody = 16 << 10
)

// Router is where routes are registered (*httpserver.Server, or a mux in
// tests).
type Router interface {
	Handle(pattern string, h http.Handler)
}

// RegisterHTTP adds the routing API (docs/api/routing.md). Every route
// needs a staff token (v); the roles are checked by the service: preview
// and reroute need supervisor or admin, the case state any bureau role
// (not a department), the rules any staff role.
func RegisterHTTP(r Router, e Endpoints, v *auth.Verifier, log *slog.Logger) {
	r.Handle("POST /v1/routing/preview", v.Middleware(serve(e.Preview, decodePreview, log)))
	r.Handle("GET /v1/routing/rules", v.Middleware(serve(e.Rules, func(*http.Request) (any, error) { return RulesRequest{}, nil }, log)))
	r.Handle("POST /v1/cases/{caseId}/reroute", v.Middleware(serve(e.Reroute, decodeReroute, log)))
	r.Handle("GET /v1/routing/cases", v.Middleware(serve(e.Cases, decodeCases, log)))
	r.Handle("GET /v1/routing/cases/{caseId}", v.Middleware(serve(e.Case, decodeCase, log)))
}

func decodeCases(r *http.Request) (any, error) {
	q := r.URL.Query()
	return parseCasesQuery(q.Get("state"), q.Get("after"), q.Get("limit"))
}

func decodeCase(r *http.Request) (any, error) {
	id := strings.TrimSpace(r.PathValue("caseId"))
	if id == "" {
		return nil, apierror.New(apierror.Validation, "case id missing in the path")
	}
	return CaseRequest{CaseID: id}, nil
}

func serve(e endpoint.Endpoint, dec func(*http.Request) (any, error), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := dec(r)
		if err != nil {
			apierror.Write(w, r, log, err)
			return
		}
		resp, err := e(r.Context(), req)
		if err != nil {
			apierror.Write(w, r, log, err)
			return
		}
		apierror.WriteJSON(w, http.StatusOK, resp)
	})
}

func decodePreview(r *http.Request) (any, error) {
	var req PreviewRequest
	if err := apierror.DecodeJSON(r, maxPreviewBody, &req); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeReroute(r *http.Request) (any, error) {
	var req RerouteRequest
	if err := apierror.DecodeJSON(r, maxRerouteBody, &req); err != nil {
		return nil, err
	}
	req.CaseID = strings.TrimSpace(r.PathValue("caseId"))
	if req.CaseID == "" {
		return nil, apierror.New(apierror.Validation, "case id missing in the path")
	}
	return req, nil
}
