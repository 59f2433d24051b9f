package intake

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/go-kit/kit/endpoint"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/httpserver"
)

// HTTPOptions tune the public side of the API.
type HTTPOptions struct {
	// QueryPerMinute and QueryBurst limit progress queries per client address.
	QueryPerMinute, QueryBurst int
	// SubmitPerMinute limits anonymous (web) registrations per client address.
	SubmitPerMinute int
	// TrustProxy takes the client address from X-Forwarded-For (behind an
	// ingress); otherwise the connection's address is used.
	TrustProxy bool
	// MaxImportBytes bounds an import body.
	MaxImportBytes int64
}

// RegisterHTTP adds intake's routes to srv. Staff routes need a token;
// registration takes an optional one: without it only the web channel is
// open to citizens.
func RegisterHTTP(srv *httpserver.Server, e Endpoints, v *auth.Verifier, opts HTTPOptions, log *slog.Logger) {
	queries := newLimiter(opts.QueryPerMinute, opts.QueryBurst)
	submits := newLimiter(opts.SubmitPerMinute, opts.SubmitPerMinute)
	h := &handlers{e: e, log: log, trustProxy: opts.TrustProxy, queries: queries, submits: submits, maxImport: opts.MaxImportBytes}
	srv.Handle("POST /v1/petitions", optionalAuth(v, http.HandlerFunc(h.register)))
	srv.Handle("GET /v1/query/{code}", http.HandlerFunc(h.query))
	srv.Handle("GET /v1/petitions/{caseId}", v.Middleware(http.HandlerFunc(h.petition)))
	srv.Handle("POST /v1/import", v.Middleware(http.HandlerFunc(h.importNDJSON)))
	registerPage(srv)
}

type handlers struct {
	e                Endpoints
	log              *slog.Logger
	trustProxy       bool
	queries, submits *limiter
	maxImport        int64
}

func (h *handlers) serve(w http.ResponseWriter, r *http.Request, e endpoint.Endpoint, req any, code int) {
	resp, err := e(r.Context(), req)
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	apierror.WriteJSON(w, code, resp)
}

func (h *handlers) register(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	if err := apierror.DecodeJSON(r, MaxBodyBytes, &req); err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	if _, ok := auth.FromContext(r.Context()); ok {
		if _, err := auth.Require(r.Context(), auth.RoleClerk, auth.RoleSupervisor, auth.RoleAdmin); err != nil {
			apierror.Write(w, r, h.log, err)
			return
		}
	} else {
		// A citizen online (网上信访): the web channel, now, and a limit
		// per address against floods.
		if !h.submits.allow(h.clientAddr(r)) {
			apierror.Write(w, r, h.log, apierror.New(apierror.RateLimited, "too many submissions from this address; try again later"))
			return
		}
		f := apierror.Fields{}
		if strings.ToLower(strings.TrimSpace(req.Channel)) != "web" {
			f.Add("channel", "without a staff token only the web channel is open; letters, visits and calls are registered by a clerk")
		}
		if req.ReceivedAt != "" {
			f.Add("receivedAt", "only a clerk may set the date received")
		}
		if err := f.Err(); err != nil {
			apierror.Write(w, r, h.log, err)
			return
		}
	}
	h.serve(w, r, h.e.Register, req, http.StatusCreated)
}

func (h *handlers) query(w http.ResponseWriter, r *http.Request) {
	if !h.queries.allow(h.clientAddr(r)) {
		apierror.Write(w, r, h.log, apierror.New(apierror.RateLimited, "too many queries from this address; try again in a minute"))
		return
	}
	h.serve(w, r, h.e.Query, queryRequest{Code: r.PathValue("code")}, http.StatusOK)
}

func (h *handlers) petition(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, h.e.Petition, petitionRequest{CaseID: r.PathValue("caseId")}, http.StatusOK)
}

func (h *handlers) importNDJSON(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, h.maxImport)
	resp, err := h.e.Import(r.Context(), importRequest{Body: body})
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = apierror.New(apierror.TooLarge, "import body larger than %d bytes; split the file", h.maxImport)
	}
	if err != nil {
		apierror.Write(w, r, h.log, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, resp)
}

func (h *handlers) clientAddr(r *http.Request) string {
	if h.trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// optionalAuth verifies a token when one is sent (a bad one is 401) and lets
// requests without one through unauthenticated.
func optionalAuth(v *auth.Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			next.ServeHTTP(w, r)
			return
		}
		v.Middleware(next).ServeHTTP(w, r)
	})
}
