// Command devtoken mints staff tokens for dev mode (make run): HS256 JWTs
// signed with the dev secret file, for a county, a role and a department.
// Clusters use tokens from the province's identity provider instead (JWKS).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"xinfang.io/services/kit/auth"
)

func main() {
	secretFile := flag.String("secret-file", ".dev/keys/auth-hs256.secret", "HS256 secret file the services verify with")
	county := flag.String("county", "anji", "county id")
	role := flag.String("role", "clerk", "clerk, department, supervisor, leader or admin")
	dept := flag.String("department", "", "department id (role department)")
	subject := flag.String("subject", "", "staff id (default: the role and department)")
	ttl := flag.Duration("ttl", 30*24*time.Hour, "validity")
	flag.Parse()
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
	sub := *subject
	if sub == "" {
		sub = strings.Trim("dev-"+*role+"-"+*dept, "-")
	}
	tok, err := auth.Sign([]byte(strings.TrimSpace(string(secret))), auth.Claims{
		County: *county, Role: auth.Role(*role), Department: *dept,
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub},
	}, *ttl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
	fmt.Println(tok)
}
